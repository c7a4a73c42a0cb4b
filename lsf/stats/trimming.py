"""Outlier trimming by the fitted Gaussians: a point survives `fact` when
`mu_j - fact*FWHM_j < z_j < mu_j + fact*FWHM_j` for every component j.

One pass serves every `fact`: `trim_radius` is each row's largest `|z_j - mu_j| / FWHM_j`,
and a row survives `fact` exactly when that radius is below `fact`. The survivor sets of
increasing facts are nested, so `chunk_shell_moments` sums the moments of each shell of trim
radius between consecutive facts and `fact_moment_sums` adds the shells cumulatively: every
fact's survivor mean and covariance for the price of one covariance.
"""

from __future__ import annotations

import numba
import numpy as np

from lsf.stats.moments import chunk_moments, combine_moments


@numba.njit(cache=True, nogil=True)
def _trim_radius(x, mu, fwhm, usable, out):
    # One pass over the rows, float64 arithmetic in numpy's order: no [n, D] temporaries.
    n, d = x.shape
    for r in range(n):
        radius = 0.0
        for j in range(d):
            v = np.float64(x[r, j])
            if not np.isfinite(v):
                radius = np.inf
                break
            if usable[j]:
                scaled = abs(v - mu[j]) / fwhm[j]
                if scaled > radius:
                    radius = scaled
        out[r] = radius


def trim_radius(x: np.ndarray, mu: np.ndarray, fwhm: np.ndarray) -> np.ndarray:
    """Per row: max over components of `|x_j - mu_j| / FWHM_j` (inf for non-finite rows).
    Components without a fit (NaN mu/FWHM) do not trim."""
    mu, fwhm = np.asarray(mu, dtype=np.float64), np.asarray(fwhm, dtype=np.float64)
    usable = np.isfinite(mu) & np.isfinite(fwhm) & (fwhm > 0)
    out = np.empty(len(x), dtype=np.float64)
    _trim_radius(np.ascontiguousarray(x), mu, fwhm, usable, out)
    return out


def shell_of(radius: np.ndarray, facts: np.ndarray) -> np.ndarray:
    """Shell index per row: 0 below `facts[0]`, k for `facts[k-1] <= r < facts[k]`,
    `len(facts)` beyond the last fact (sorted `facts`)."""
    return np.searchsorted(facts, radius, side="right")


def chunk_shell_moments(x: np.ndarray, radius: np.ndarray, facts: np.ndarray, shift) -> list:
    """`chunk_moments` sums (count, mean, covariance; no higher moments) of each shell of
    trim radius below the largest fact."""
    shell = shell_of(radius, facts)
    return [chunk_moments(x, shift, shell == k, higher=False) for k in range(len(facts))]


def combine_shell_moments(a: list, b: list) -> list:
    return [combine_moments(p, q) for p, q in zip(a, b, strict=True)]


def fact_moment_sums(shells: list) -> list:
    """Moment sums of the survivors of each fact: shells 0..k added up."""
    sums, total = [], None
    for shell in shells:
        total = shell if total is None else combine_moments(total, shell)
        sums.append(total)
    return sums
