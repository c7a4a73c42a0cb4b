"""Latent paths: straight lines through latent space whose decoded images form a strip.

origin_to_centre   from the zero vector to the latent mean
plane_line         through the mean in the plane of components (i, j) at an angle, +-3 sigma
pca_sweep          along PCA axis k from -3 to +3 sigma
interpolation      between two latent vectors (e.g. two encoded images)
Each returns float32 points `[steps, D]`.
"""

from __future__ import annotations

import math

import numpy as np


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
