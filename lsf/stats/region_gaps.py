"""Between regions: each region's density peak, the gap on the segment between two region
centres and their Mahalanobis separation. Pure NumPy on PCA coordinates.

`region_peaks` climbs the mixture density from every component mean with the fixed-point
iteration for Gaussian-mixture modes (Carreira-Perpinan 2000:
x <- [sum_m p_m(x) S_m^-1]^-1 sum_m p_m(x) S_m^-1 mu_m) and keeps each region's highest mode.
`segment_log_density` evaluates the mixture on the segment between two centres; `gaps` is
its minimum over the smaller of the two regions' peaks (1 on the diagonal).
"""

from __future__ import annotations

import numpy as np
from scipy.special import softmax

from lsf.stats.quadratic import covariance_whitening, squared_mahalanobis
from lsf.stats.regions import RIDGE_STEPS, Mixture, component_log_densities, log_density

MODE_ITERATIONS = 200


def climb(x: np.ndarray, mixture: Mixture, iterations: int = MODE_ITERATIONS) -> np.ndarray:
    """A mode of the mixture density reached from `x` [K] by the fixed-point iteration."""
    precisions = np.linalg.inv(mixture.covariances)
    weighted = np.einsum("mij,mj->mi", precisions, mixture.means)
    for _ in range(iterations):
        p = softmax(component_log_densities(x[None], mixture)[0])
        step = np.linalg.solve(np.einsum("m,mij->ij", p, precisions), p @ weighted)
        if np.allclose(step, x, rtol=0, atol=1e-10 * (1 + np.abs(x).max())):
            return step
        x = step
    return x


def region_peaks(mixture: Mixture, component_region: np.ndarray) -> np.ndarray:
    """[R] log of each region's highest density mode (climbed from its components' means)."""
    regions = int(component_region.max()) + 1
    peaks = np.full(regions, -np.inf)
    for m, r in enumerate(component_region):
        mode = climb(mixture.means[m].copy(), mixture)
        peaks[r] = max(peaks[r], float(log_density(mode[None], mixture)[0]))
    return peaks


def segment(a: np.ndarray, b: np.ndarray, steps: int = RIDGE_STEPS) -> np.ndarray:
    """[steps, K] evenly spaced points from `a` to `b`."""
    t = np.linspace(0.0, 1.0, steps)[:, None]
    return (1 - t) * a + t * b


def segment_log_density(a, b, mixture: Mixture, steps: int = RIDGE_STEPS) -> np.ndarray:
    return log_density(segment(a, b, steps), mixture)


def gaps(centres: np.ndarray, mixture: Mixture, peaks: np.ndarray) -> np.ndarray:
    """[R, R] lowest mixture density on the segment between two centres over the smaller
    of the two regions' peaks (capped at 1; 1 on the diagonal)."""
    r = len(centres)
    out = np.ones((r, r))
    for i in range(r):
        for j in range(i + 1, r):
            low = segment_log_density(centres[i], centres[j], mixture).min()
            out[i, j] = out[j, i] = min(1.0, float(np.exp(low - min(peaks[i], peaks[j]))))
    return out


def separations(normals: Mixture) -> np.ndarray:
    """[R, R] Mahalanobis distance between region centres under their average covariance:
    sqrt(d^T [(S_i + S_j) / 2]^-1 d)."""
    r = len(normals.weights)
    out = np.zeros((r, r))
    for i in range(r):
        for j in range(i + 1, r):
            pooled = 0.5 * (normals.covariances[i] + normals.covariances[j])
            white = covariance_whitening(pooled)
            d2 = squared_mahalanobis(normals.means[i][None], normals.means[j], white)
            out[i, j] = out[j, i] = float(np.sqrt(d2[0]))
    return out
