"""Outlier trimming by the fitted Gaussians: a point survives `fact` when
`mu_j - fact*FWHM_j < z_j < mu_j + fact*FWHM_j` for every component j.

One pass serves every `fact`: `trim_radius` is each row's largest `|z_j - mu_j| / FWHM_j`,
and a row survives `fact` exactly when that radius is below `fact`.
"""

from __future__ import annotations

import numpy as np


def trim_radius(x: np.ndarray, mu: np.ndarray, fwhm: np.ndarray) -> np.ndarray:
    """Per row: max over components of `|x_j - mu_j| / FWHM_j` (inf for non-finite rows).
    Components without a fit (NaN mu/FWHM) do not trim."""
    usable = np.isfinite(mu) & np.isfinite(fwhm) & (fwhm > 0)
    scaled = np.abs(x[:, usable].astype(np.float64) - mu[usable]) / fwhm[usable]
    radius = scaled.max(axis=1) if usable.any() else np.zeros(len(x))
    radius[~np.isfinite(x).all(axis=1)] = np.inf
    return radius


def chunk_survivors(x: np.ndarray, mu: np.ndarray, fwhm: np.ndarray, facts) -> np.ndarray:
    """Survivor count of one chunk for each fact: int64 `[len(facts)]`."""
    radius = trim_radius(x, mu, fwhm)
    return np.array([(radius < fact).sum() for fact in facts], dtype=np.int64)
