"""Latent paths: straight lines through latent space whose decoded images form a strip.

origin_to_centre   from the zero vector to the latent mean
plane_line         through the mean in the plane of components (i, j) at an angle, +-3 sigma
pca_sweep          along PCA axis k from -3 to +3 sigma
interpolation      between two latent vectors (e.g. two encoded images)
Each returns float32 points `[steps, D]`. `study_planes` picks the study's planes (pairs of
the widest dominant components) and `pair_squared_mahalanobis` measures how far a path's
points lie from a plane's centre (beyond 9: outside the pair's 3-sigma ellipse, the core).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from lsf.stats.quadratic import covariance_whitening, pair_covariance, squared_mahalanobis


def origin_to_centre(mean: np.ndarray, steps: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, steps)[:, None]
    return (t * mean).astype(np.float32)


def plane_line(
    mean: np.ndarray,
    cov: np.ndarray,
    i: int,
    j: int,
    angle_deg: float,
    steps: int,
    sigmas: float = 3.0,
) -> np.ndarray:
    """Points `mean + t (cos a sigma_i e_i + sin a sigma_j e_j)`, t in [-sigmas, sigmas]."""
    direction = np.zeros_like(mean, dtype=np.float64)
    angle = math.radians(angle_deg)
    direction[i] = math.cos(angle) * math.sqrt(cov[i, i])
    direction[j] = math.sin(angle) * math.sqrt(cov[j, j])
    t = np.linspace(-sigmas, sigmas, steps)[:, None]
    return (mean + t * direction).astype(np.float32)


def pca_sweep(
    mean: np.ndarray,
    components: np.ndarray,
    variance: np.ndarray,
    k: int,
    steps: int,
    sigmas: float = 3.0,
) -> np.ndarray:
    t = np.linspace(-sigmas, sigmas, steps)[:, None]
    return (mean + t * math.sqrt(max(variance[k], 0.0)) * components[k]).astype(np.float32)


def interpolation(start: np.ndarray, end: np.ndarray, steps: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, steps)[:, None]
    return ((1 - t) * start + t * end).astype(np.float32)


def study_planes(dominant: np.ndarray, fwhm: np.ndarray, count: int) -> list[tuple[int, int]]:
    """`count` planes `(i, j)` of the dominant components ranked by fitted FWHM (widest
    first): consecutive pairs (d0, d1), (d2, d3), ..., then further pairs of the ranking
    when there are too few; all components are ranked when fewer than two are dominant."""
    width = np.nan_to_num(np.asarray(fwhm, dtype=np.float64), nan=-np.inf)
    ranked = [int(k) for k in np.argsort(-width, kind="stable")]
    chosen = [k for k in ranked if dominant[k]]
    if len(chosen) < 2:
        chosen = ranked
    planes = [(chosen[k], chosen[k + 1]) for k in range(0, len(chosen) - 1, 2)]
    extra = [p for p in itertools.combinations(chosen, 2) if p not in planes]
    return (planes + extra)[:count]


def pair_squared_mahalanobis(
    points: np.ndarray, mean: np.ndarray, cov: np.ndarray, i: int, j: int
) -> np.ndarray:
    """Squared Mahalanobis distance `[S]` of the points' (i, j) coordinates to the pair's
    centre under its 2x2 covariance."""
    white = covariance_whitening(pair_covariance(cov, i, j))
    return squared_mahalanobis(np.asarray(points)[:, [i, j]], np.asarray(mean)[[i, j]], white)
