"""Tests of multivariate normality: squared Mahalanobis distances against chi2(D), and
Mardia's multivariate skewness and kurtosis.

In D dimensions the mass of a normal sits near radius sqrt(D): coverage is judged at the
radii of chi2(D) quantiles, never at "1, 2, 3 sigma". Distances use the whitening of a
(trimmed) PCA; directions with zero variance are left out and D becomes the rank.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from lsf.stats.pca import PCA

COVERAGE_LEVELS = (0.5, 0.9, 0.99)


def whitening(pca: PCA) -> np.ndarray:
    """`[D, rank]` matrix W with `(x - mean) @ W` of identity covariance."""
    keep = slice(0, pca.rank)
    return pca.components[keep].T / np.sqrt(pca.explained_variance[keep])


def squared_mahalanobis(x: np.ndarray, mean: np.ndarray, white: np.ndarray) -> np.ndarray:
    """d^2 of each finite row (non-finite rows are dropped)."""
    rows = x[np.isfinite(x).all(axis=1)].astype(np.float64)
    scores = (rows - mean) @ white
    return np.einsum("ij,ij->i", scores, scores)


@dataclass
class Coverage:
    levels: np.ndarray  # chi2 probabilities
    radii_squared: np.ndarray  # chi2(dof) quantiles at those levels
    observed: np.ndarray  # fraction of points with d^2 <= radius^2


def coverage(d2: np.ndarray, dof: int, levels=COVERAGE_LEVELS) -> Coverage:
    levels = np.asarray(levels, dtype=np.float64)
    radii = stats.chi2.ppf(levels, dof)
    observed = np.array([(d2 <= r).mean() for r in radii])
    return Coverage(levels, radii, observed)


def qq_table(d2: np.ndarray, dof: int, points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """`(chi2 quantiles, observed d^2 quantiles)` at probabilities (k - 0.5) / points."""
    probabilities = (np.arange(points) + 0.5) / points
    return stats.chi2.ppf(probabilities, dof), np.quantile(d2, probabilities)


@dataclass
class Mardia:
    n: int
    skewness: float  # b1,p
    skewness_statistic: float  # small-sample corrected, ~ chi2(df)
    skewness_df: float
    skewness_p: float
    kurtosis: float  # b2,p
    kurtosis_z: float  # ~ N(0, 1) with the exact null mean
    kurtosis_p: float


def mardia(sample: np.ndarray) -> Mardia:
    """Mardia's tests on a sample `[n, p]` with its own mean and (ML) covariance."""
    x = np.asarray(sample, dtype=np.float64)
    n, p = x.shape
    centred = x - x.mean(axis=0)
    cov = centred.T @ centred / n
    g = centred @ np.linalg.pinv(cov, hermitian=True) @ centred.T  # (n, n)
    b1 = float((g**3).sum() / n**2)
    b2 = float((np.diag(g) ** 2).mean())
    df = p * (p + 1) * (p + 2) / 6
    correction = (p + 1) * (n + 1) * (n + 3) / (n * ((n + 1) * (p + 1) - 6))
    skew_stat = n * correction * b1 / 6
    null_mean = p * (p + 2) * (n - 1) / (n + 1)
    z = (b2 - null_mean) / np.sqrt(8 * p * (p + 2) / n)
    return Mardia(
        n=n,
        skewness=b1,
        skewness_statistic=float(skew_stat),
        skewness_df=float(df),
        skewness_p=float(stats.chi2.sf(skew_stat, df)),
        kurtosis=b2,
        kurtosis_z=float(z),
        kurtosis_p=float(2 * stats.norm.sf(abs(z))),
    )
