"""Pair-panel data for `lsf explore`: what the page draws for two components.

For a pair (i, j) in original or PCA coordinates: the analysis's smoothed density on its
pair grid (`binned_kde` of the stored 2D histogram with the rows and covariance `lsf analyze`
scored it with, from its `StoredPairs`), the
density contours enclosing the mass of 1/2/3 sigma of a bivariate normal (`density_levels`,
traced with contourpy), the 1/2/3-sigma ellipses of the basis covariance
(`confidence_ellipse`), and the pair's row of pairs.parquet. A pair the analysis did not
histogram is counted on a row sample of the latent store when one is given.
The page maps a latent z to the panel as `((z - origin) . axis_x, (z - origin) . axis_y)`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lsf.stats.analysis_store import StoredPairs
from lsf.stats.pairs import (
    SIGMAS,
    binned_kde,
    confidence_ellipse,
    density_levels,
    expected_coverage,
)
from lsf.stats.quadratic import pair_covariance, projected_covariance
from lsf.web.position import LatentSpace

SYSTEMS = ("original", "pca")


@dataclass
class KdeInputs:
    """What a panel's density smooths (`binned_kde(counts, widths, cov2, rows)`)."""

    counts: np.ndarray | None  # [B, B], first component along axis 0 (None: no data)
    edges_x: np.ndarray  # [B+1]
    edges_y: np.ndarray  # [B+1]
    cov2: np.ndarray  # [2, 2] kernel covariance / Scott factor^2
    rows: int  # the KDE's n
    source: str  # "analysis", "latent sample" or "none"


def _round(values, digits: int = 5) -> list:
    """Floats to a few significant digits for compact JSON."""
    return np.vectorize(lambda v: float(f"{v:.{digits}g}"), otypes=[float])(values).tolist()


def contour_lines(xc: np.ndarray, yc: np.ndarray, density: np.ndarray, level: float) -> list:
    """Polylines `[[x, y], ...]` of `density [Bx, By]` (rows along x) at `level`."""
    import contourpy

    generator = contourpy.contour_generator(xc, yc, density.T)
    return [_round(line) for line in generator.lines(level) if len(line) > 1]


class PairPanels:
    """Builds the JSON of a pair panel; `panel(system, i, j)`."""

    def __init__(
        self,
        space: LatentSpace,
        full_cov: np.ndarray,
        grids: dict[str, StoredPairs | None],
        table: dict,
        sample: np.ndarray | None = None,
    ):
        self.space, self.full_cov, self.grids, self.table = space, full_cov, grids, table
        self.sample = sample  # [n, D] finite store rows, or None
        self.basis_cov = space.basis_covariance()

    def _frame(self, system: str, i: int, j: int):
        """`(origin [D], axes [2, D], mean2, basis cov2, every row's cov2)` of the pair."""
        d = self.space.dim
        if system == "original":
            axes = np.zeros((2, d))
            axes[0, i] = axes[1, j] = 1.0
            origin = np.zeros(d)
            mean2 = self.space.centre[[i, j]]
            cov2 = pair_covariance(self.basis_cov, i, j)
        else:
            axes = self.space.pca.components[[i, j]]
            origin = self.space.centre
            mean2 = np.zeros(2)
            cov2 = np.diag(self.space.pca.explained_variance[[i, j]])
        full2 = projected_covariance(self.full_cov, axes)
        return origin, axes, mean2, cov2, full2

    def kde_inputs(self, system: str, i: int, j: int) -> KdeInputs | None:
        """What the panel's density of (i, j) smooths: the analysis's counts with the rows
        and 2x2 covariance it scored the pair with, or (a pair it did not count) the counts
        of the latent sample on the same grid with the covariance of every analysed row;
        None without a grid, edges only without data."""
        grid = self.grids.get(system)
        if grid is None:
            return None
        ex, ey = grid.edges[i], grid.edges[j]
        stored = grid.grid(i, j)
        if stored is not None:
            counts = np.asarray(stored[0], dtype=np.float64)
            return KdeInputs(counts, ex, ey, grid.kde_covariance(i, j), grid.rows, "analysis")
        origin, axes, _, _, full2 = self._frame(system, i, j)
        if self.sample is not None and len(self.sample):
            xy = (self.sample - origin) @ axes.T
            counts, _, _ = np.histogram2d(xy[:, 0], xy[:, 1], bins=[ex, ey])
            return KdeInputs(counts, ex, ey, full2, len(self.sample), "latent sample")
        return KdeInputs(None, ex, ey, full2, 0, "none")

    def panel(self, system: str, i: int, j: int) -> dict:
        origin, axes, mean2, cov2, _ = self._frame(system, i, j)
        kde = self.kde_inputs(system, i, j)
        counts, rows = (None, 0) if kde is None else (kde.counts, kde.rows)
        source = "none" if kde is None else kde.source
        edges = None if kde is None else (kde.edges_x, kde.edges_y)
        ellipses = [
            {"sigma": n, "points": _round(confidence_ellipse(mean2, cov2, n).outline(120))}
            for n in SIGMAS
        ]
        outline3 = np.asarray(ellipses[-1]["points"])
        lo, hi = outline3.min(axis=0), outline3.max(axis=0)
        density = contours = None
        if edges is not None:
            ex, ey = edges
            lo = np.minimum(lo, [ex[0], ey[0]])
            hi = np.maximum(hi, [ex[-1], ey[-1]])
        if counts is not None and rows > 1 and counts.sum() > 0 and np.linalg.det(kde.cov2) > 0:
            widths = (ex[1] - ex[0], ey[1] - ey[0])
            smooth = binned_kde(counts, widths, kde.cov2, rows)
            peak = smooth.max()
            masses = [expected_coverage(n) for n in SIGMAS]
            levels = density_levels(smooth, masses)
            xc, yc = 0.5 * (ex[1:] + ex[:-1]), 0.5 * (ey[1:] + ey[:-1])
            density = {
                "x_edges": _round(ex),
                "y_edges": _round(ey),
                "values": _round(smooth / peak if peak > 0 else smooth, 3),  # [Bx][By]
            }
            contours = [
                {"sigma": n, "mass": mass, "lines": contour_lines(xc, yc, smooth, level)}
                for n, mass, level in zip(SIGMAS, masses, levels, strict=True)
            ]
        hi = np.where(hi - lo > 0, hi, lo + 1.0)  # a dead component: a unit-wide panel
        pad = 0.04 * (hi - lo)
        names = [f"z{i}", f"z{j}"] if system == "original" else [f"pc{i}", f"pc{j}"]
        return {
            "system": system,
            "i": i,
            "j": j,
            "names": names,
            "origin": _round(origin, 9) if system == "pca" else None,
            "axes": _round(axes, 9),
            "centre": _round(mean2),
            "extent": _round(np.concatenate([lo - pad, hi + pad])),  # x0, y0, x1, y1
            "ellipses": ellipses,
            "density": density,
            "contours": contours,
            "density_source": source,
            "density_rows": rows,
            "stats": self.table.get((system, min(i, j), max(i, j))),
        }


def pairs_table(rows: dict) -> dict:
    """pairs.parquet columns -> {(coordinates, i, j): {correlation, coverage, score}}."""
    table = {}
    keys = ("correlation", "coverage_1sigma", "coverage_2sigma", "coverage_3sigma", "score")
    for k in range(len(rows.get("i", []))):
        entry = {}
        for key in keys:
            value = rows[key][k]
            entry[key] = None if value is None or not np.isfinite(value) else float(value)
        table[(rows["coordinates"][k], int(rows["i"][k]), int(rows["j"][k]))] = entry
    return table
