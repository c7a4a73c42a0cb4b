"""The pair densities the report draws, and their highest-density-region contour levels.

`analysis_density` smooths a pair's stored 2D counts (`pair_counts` on the robust grid
`pair_edges` of `analysis.zarr`, or the `pca_` arrays) with `binned_kde_batch`, the function
and bandwidth `lsf analyze` scores pairs with (Scott factor of the counted rows times the
pair's covariance over those rows, `counted_set`). A pair outside the analysis's pair set
falls back to `sample_density`: the same function on the counts of sampled rows on a robust
grid of those rows. `hdr_levels` are the contour levels whose super-level sets hold the mass
that the 1/2/3-sigma ellipses hold under a bivariate normal. Pure numpy; `lsf.report` calls it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lsf.stats.histograms import robust_edges
from lsf.stats.pairs import (
    SIGMAS,
    binned_kde_batch,
    density_levels,
    expected_coverage,
    scott_factor,
)
from lsf.stats.quadratic import pair_covariance, projected_covariance

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


def stored_pair(pairs: np.ndarray | None, i: int, j: int) -> tuple[int, bool] | None:
    """`(index into pairs, swapped)` of the pair {i, j} in the stored `[P, 2]` list (i < j
    there), or None when it was not counted."""
    if pairs is None or len(pairs) == 0:
        return None
    a, b = min(i, j), max(i, j)
    hits = np.flatnonzero((pairs[:, 0] == a) & (pairs[:, 1] == b))
    return (int(hits[0]), i > j) if len(hits) else None


def full_covariance(arrays: dict, prefix: str) -> np.ndarray:
    """The full-set covariance the analysis's KDE bandwidth uses, in original (prefix "")
    or PCA ("pca_") coordinates."""
    if not prefix:
        return arrays["cov"]
    return projected_covariance(arrays["cov"], arrays["pca_components"])


def counted_set(arrays: dict, prefix: str, summary: dict | None = None) -> tuple[int, np.ndarray]:
    """`(rows, covariance)` of the rows behind the stored pair counts, as the analysis's KDE
    takes them: every selected row and its covariance, except PCA pairs of an analysis that
    projects only the PCA basis rows (`pca_rows: basis` with `row_sets` in its summary):
    those rows and their diagonal covariance in PCA coordinates."""
    summary = summary or {}
    basis_only = summary.get("config", {}).get("pca_rows") == "basis" and "row_sets" in summary
    if prefix and basis_only:
        return int(summary["pca"]["rows"]), np.diag(arrays["explained_variance"])
    return int(arrays["count"][0]), full_covariance(arrays, prefix)


def stored_counts(arrays: dict, prefix: str, i: int, j: int):
    """`(counts [B, B] with i along axis 0, edges of i, edges of j)` of a counted pair, or
    None when the analysis did not count it."""
    found = stored_pair(arrays.get(f"{prefix}pairs"), i, j)
    if found is None:
        return None
    k, swapped = found
    counts = arrays[f"{prefix}pair_counts"][k]
    edges = arrays[f"{prefix}pair_edges"]
    return (counts.T if swapped else counts), edges[i], edges[j]


def analysis_density(
    arrays: dict, prefix: str, i: int, j: int, summary: dict | None = None
) -> PairDensity | None:
    """The analysis's binned KDE of pair (i, j), or None when the pair was not counted."""
    stored = stored_counts(arrays, prefix, i, j)
    if stored is None:
        return None
    rows, cov = counted_set(arrays, prefix, summary)
    return kde_on_grid(*stored, pair_covariance(cov, i, j), rows, ANALYSIS)


def sample_density(points: np.ndarray, cov2: np.ndarray, bins: int) -> PairDensity:
    """The same KDE of sampled rows `[n, 2]` on their robust grid (bandwidth from `cov2`)."""
    edges = robust_edges(points, bins)
    counts, _, _ = np.histogram2d(points[:, 0], points[:, 1], bins=[edges[0], edges[1]])
    return kde_on_grid(counts, edges[0], edges[1], cov2, len(points), SAMPLE)


def pair_density(
    arrays: dict, prefix: str, i: int, j: int, rows: np.ndarray, summary: dict | None = None
) -> PairDensity:
    """The analysis's density of (i, j) when stored, else the KDE of `rows[:, [i, j]]`."""
    stored = analysis_density(arrays, prefix, i, j, summary)
    if stored is not None:
        return stored
    edges = arrays.get(f"{prefix}pair_edges")
    bins = edges.shape[1] - 1 if edges is not None else 32
    cov2 = pair_covariance(full_covariance(arrays, prefix), i, j)
    return sample_density(rows[:, [i, j]].astype(np.float64), cov2, bins)
