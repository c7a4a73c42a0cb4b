"""Where the origin and the extreme rows sit in the latent distribution.

- `fraction_below(d2_counts, top, value)`: the fraction of rows with d^2 below `value`, read
  off the fixed d^2 grid of `lsf.stats.normality` with its error bound (half the count of the
  grid bin that holds `value`, over the rows; the whole overflow bin if `value` is beyond).
- `origin_position`: the origin's squared Mahalanobis distance w.r.t. the PCA basis, its
  chi2(dof) quantile, its trim radius and the fraction of rows closer to the centre.
- `nearest(candidates, target, k)`: the `k` rows whose d^2 is closest to `target` (typical
  rows), from the bounded candidate list the projection read keeps.
Pure NumPy/SciPy.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from lsf.stats.pca import PCA, project
from lsf.stats.trimming import trim_radius


def fraction_below(counts: np.ndarray, top: float, value: float) -> tuple[float, float]:
    """`(fraction, error)` of the grid's rows with d^2 below `value`: the rows of the bins
    below `value`'s bin plus half of that bin; the error is the other half."""
    counts = np.asarray(counts, dtype=np.int64)
    n = max(int(counts.sum()), 1)
    bins = len(counts) - 1
    b = min(int(value * bins / top), bins) if value < np.inf else bins
    below = int(counts[:b].sum())
    return (below + counts[b] / 2) / n, counts[b] / 2 / n


def origin_position(pca: PCA, mu: np.ndarray, fwhm: np.ndarray, d2_counts, top: float) -> dict:
    """The origin (all-zero latent) against the basis PCA, the fits and the d^2 grid."""
    zero = np.zeros((1, len(pca.mean)))
    kept = project(zero, pca.mean, pca.components)[0, : pca.rank]
    d2 = float(np.sum(kept**2 / pca.explained_variance[: pca.rank]))
    fraction, error = fraction_below(d2_counts, top, d2)
    return {
        "d2": d2,
        "dof": int(pca.rank),
        "chi2_quantile": float(stats.chi2.cdf(d2, max(pca.rank, 1))),
        "trim_radius": float(trim_radius(zero, mu, fwhm)[0]),
        "fraction_closer": float(fraction),
        "fraction_closer_error": float(error),
    }


def nearest(candidates: dict, target: float, k: int) -> dict:
    """The `k` candidates (`rows`, d^2 in `payload`) closest to `target`; ties: smaller row."""
    d2, rows = candidates["payload"], candidates["rows"]
    order = np.lexsort((rows, np.abs(d2 - target)))[:k]
    return {"rows": rows[order], "d2": d2[order]}
