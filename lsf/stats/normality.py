"""Tests of multivariate normality: squared Mahalanobis distances against chi2(D), and
Mardia's multivariate skewness and kurtosis.

In D dimensions the mass of a normal sits near radius sqrt(D): coverage is judged at the
radii of chi2(D) quantiles, never at "1, 2, 3 sigma". Distances use the whitening of a
(trimmed) PCA; directions with zero variance are left out and D becomes the rank.

Streaming form (no all-rows array): `chunk_d2_histogram` counts each chunk's d^2 on a fixed
grid of `D2_BINS` bins over [0, top) plus an overflow bin, counts the points inside the
coverage radii exactly, and keeps the largest d^2. `histogram_quantiles` reads quantiles off
the counts: every order statistic inside the grid is placed within its bin, so each quantile
is within one bin width (top / D2_BINS) of `np.quantile` of all rows; quantiles that fall in
the overflow bin are reported as the largest d^2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from lsf.stats.pca import PCA
from lsf.stats.quadratic import squared_mahalanobis

COVERAGE_LEVELS = (0.5, 0.9, 0.99)


def whitening(pca: PCA) -> np.ndarray:
    """`[D, rank]` matrix W with `(x - mean) @ W` of identity covariance (on the PCA's rank):
    what `lsf.stats.quadratic.squared_mahalanobis` measures d^2 with."""
    keep = slice(0, pca.rank)
    return pca.components[keep].T / np.sqrt(pca.explained_variance[keep])


@dataclass
class Coverage:
    levels: np.ndarray  # chi2 probabilities
    radii_squared: np.ndarray  # chi2(dof) quantiles at those levels
    observed: np.ndarray  # fraction of points with d^2 <= radius^2


def coverage_radii(dof: int, levels=COVERAGE_LEVELS) -> np.ndarray:
    """Squared radii of the chi2(dof) quantiles at `levels`."""
    return stats.chi2.ppf(np.asarray(levels, dtype=np.float64), dof)


def coverage(d2: np.ndarray, dof: int, levels=COVERAGE_LEVELS) -> Coverage:
    levels = np.asarray(levels, dtype=np.float64)
    radii = coverage_radii(dof, levels)
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


D2_BINS = 1 << 16


def d2_grid_top(sample_d2: np.ndarray, dof: int) -> float:
    """Upper end of the d^2 grid: 4x the largest d^2 of the row sample, and at least the
    chi2(dof) quantile at 1 - 1e-9."""
    top = float(stats.chi2.ppf(1 - 1e-9, max(dof, 1)))
    if len(sample_d2):
        top = max(top, 4.0 * float(np.max(sample_d2)))
    return top


def chunk_d2_histogram(x, mean, white, top: float, radii) -> dict:
    """One chunk's d^2 on the fixed grid: `counts [D2_BINS + 1]` (last: >= top), `inside`
    (points with d^2 <= each radius^2, exact), `max` and `n` (finite rows only: non-finite
    rows are dropped)."""
    rows = x[np.isfinite(x).all(axis=1)]
    return d2_histogram(squared_mahalanobis(rows, mean, white), top, radii)


def d2_histogram(d2: np.ndarray, top: float, radii) -> dict:
    """`chunk_d2_histogram` of given d^2 values."""
    index = np.minimum((d2 * (D2_BINS / top)).astype(np.int64), D2_BINS)
    return {
        "counts": np.bincount(index, minlength=D2_BINS + 1).astype(np.int64),
        "inside": np.array([(d2 <= r).sum() for r in radii], dtype=np.int64),
        "max": float(d2.max()) if len(d2) else 0.0,
        "n": len(d2),
    }


def combine_d2_histograms(a: dict, b: dict) -> dict:
    return {
        "counts": a["counts"] + b["counts"],
        "inside": a["inside"] + b["inside"],
        "max": max(a["max"], b["max"]),
        "n": a["n"] + b["n"],
    }


def histogram_quantiles(counts, top: float, largest: float, probabilities) -> np.ndarray:
    """`np.quantile` (linear interpolation between order statistics) from grid counts, each
    order statistic placed at its rank inside its bin: error <= top / (len(counts) - 1)."""
    bins = len(counts) - 1
    width = top / bins
    cumulative = np.cumsum(counts)
    n = int(cumulative[-1])

    def order_statistic(k):
        b = np.searchsorted(cumulative, k, side="right")
        before = cumulative[b] - counts[b]
        inside = b * width + (k - before + 0.5) / np.maximum(counts[b], 1) * width
        return np.where(b >= bins, largest, np.minimum(inside, largest))

    h = (n - 1) * np.asarray(probabilities, dtype=np.float64)
    low = np.floor(h).astype(np.int64)
    high = np.minimum(low + 1, n - 1)
    a, b = order_statistic(low), order_statistic(high)
    return a + (h - low) * (b - a)


def streamed_normality(d2: dict, top: float, dof: int, points: int = 200) -> tuple:
    """`(qq table, Coverage)` from the combined `chunk_d2_histogram` results."""
    levels = np.asarray(COVERAGE_LEVELS, dtype=np.float64)
    probabilities = (np.arange(points) + 0.5) / points
    observed_q = histogram_quantiles(d2["counts"], top, d2["max"], probabilities)
    qq = (stats.chi2.ppf(probabilities, dof), observed_q)
    cover = Coverage(levels, coverage_radii(dof, levels), d2["inside"] / max(d2["n"], 1))
    return qq, cover
