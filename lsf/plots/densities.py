"""The pair densities the report draws, and their highest-density-region contour levels.

`analysis_density` smooths a pair's stored 2D counts (a `StoredPairs` of the analysis
contract, `lsf.stats.analysis_store`) with `binned_kde_batch`, the function, rows and
covariance `lsf analyze` scored the pair with (recorded by the analysis, not re-derived
here). A pair outside the analysis's pair set
falls back to `sample_density`: the same function on the counts of sampled rows on a robust
grid of those rows. `hdr_levels` are the contour levels whose super-level sets hold the mass
that the 1/2/3-sigma ellipses hold under a bivariate normal. Pure numpy; `lsf.report` calls it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lsf.stats.analysis_store import StoredPairs
from lsf.stats.histograms import robust_edges
from lsf.stats.pairs import (
    SIGMAS,
    binned_kde_batch,
    density_levels,
    expected_coverage,
    scott_factor,
)
from lsf.stats.quadratic import pair_covariance

ANALYSIS, SAMPLE = "analysis", "sampled rows"


@dataclass
class PairDensity:
    x: np.ndarray  # [B] bin centres of the first component
    y: np.ndarray  # [B] bin centres of the second component
    values: np.ndarray  # [B, B] density, first component along axis 0
    levels: np.ndarray  # ascending HDR levels for SIGMAS[::-1]
    factor: float  # Scott bandwidth factor: kernel covariance = factor^2 * pair covariance
    rows: int  # rows behind the counts
    source: str  # ANALYSIS or SAMPLE

    def contour(self) -> tuple:
        """`(x, y, values, levels)` as `lsf.plots.pairs.pair_panel` draws it."""
        return self.x, self.y, self.values, self.levels


def hdr_levels(density: np.ndarray) -> np.ndarray:
    """Ascending density thresholds whose super-level sets hold the bivariate-normal mass of
    the 3, 2 and 1 sigma ellipses (0.989, 0.865, 0.393 of the total)."""
    return np.sort(density_levels(density, [expected_coverage(n) for n in SIGMAS]))


def kde_on_grid(counts, edges_x, edges_y, cov2, rows: int, source: str) -> PairDensity:
    """`binned_kde_batch` of one pair's counts `[B, B]` on the grid `edges_x` x `edges_y`."""
    widths = np.array([[edges_x[1] - edges_x[0], edges_y[1] - edges_y[0]]], dtype=np.float64)
    values = binned_kde_batch(
        np.asarray(counts, dtype=np.float64)[None], widths, np.asarray(cov2)[None], rows
    )[0]
    return PairDensity(
        0.5 * (edges_x[1:] + edges_x[:-1]),
        0.5 * (edges_y[1:] + edges_y[:-1]),
        values,
        hdr_levels(values),
        scott_factor(rows),
        rows,
        source,
    )


def analysis_density(pairs: StoredPairs | None, i: int, j: int) -> PairDensity | None:
    """The analysis's binned KDE of pair (i, j) with the rows and covariance it scored the
    pair with (`StoredPairs.rows`, `.kde_covariance`), or None when it was not counted."""
    grid = None if pairs is None else pairs.grid(i, j)
    if grid is None:
        return None
    return kde_on_grid(*grid, pairs.kde_covariance(i, j), pairs.rows, ANALYSIS)


def sample_density(points: np.ndarray, cov2: np.ndarray, bins: int) -> PairDensity:
    """The same KDE of sampled rows `[n, 2]` on their robust grid (bandwidth from `cov2`)."""
    edges = robust_edges(points, bins)
    counts, _, _ = np.histogram2d(points[:, 0], points[:, 1], bins=[edges[0], edges[1]])
    return kde_on_grid(counts, edges[0], edges[1], cov2, len(points), SAMPLE)


def pair_density(
    pairs: StoredPairs | None, i: int, j: int, rows: np.ndarray, cov: np.ndarray
) -> PairDensity:
    """The analysis's density of (i, j) when it counted the pair, else the KDE of
    `rows[:, [i, j]]` (sampled rows in the same coordinates) with the 2x2 blocks of `cov`
    (their coordinate system's covariance of every analysed row) on the same number of bins."""
    stored = analysis_density(pairs, i, j)
    if stored is not None:
        return stored
    bins = pairs.edges.shape[1] - 1 if pairs is not None else 32
    return sample_density(rows[:, [i, j]].astype(np.float64), pair_covariance(cov, i, j), bins)
