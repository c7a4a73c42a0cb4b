"""Moments of a chunked `[n, D]` sample in one pass: count, mean, min, max, covariance,
Pearson correlation, per-component skewness and excess kurtosis.

`chunk_moments(x, shift, mask)` is the per-chunk step (`X.T @ X` of shifted rows in float64,
which is what meets a 1e-9 relative match with numpy; keep chunks <= 4096 rows);
`combine_moments` adds two partial results; `finish_moments` turns the sums into statistics.
Shifting by a provisional mean before the product is what keeps the covariance accurate
(see DESIGN.md, Numerical notes). Non-finite rows are counted, not used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Moments:
    count: int
    mean: np.ndarray  # (D,)
    cov: np.ndarray  # (D, D), ddof=1
    corr: np.ndarray  # (D, D)
    min: np.ndarray
    max: np.ndarray
    skewness: np.ndarray  # (D,) third standardised moment (population)
    excess_kurtosis: np.ndarray  # (D,) fourth standardised moment - 3 (population)
    non_finite_rows: int


def finite_rows(x: np.ndarray) -> np.ndarray:
    return np.isfinite(x).all(axis=1)


def chunk_moments(
    x: np.ndarray, shift: np.ndarray, mask: np.ndarray | None = None, higher: bool = True
) -> dict:
    """Sums over the finite (and `mask`ed) rows of one chunk, shifted by `shift`; without
    `higher`, the third and fourth power sums are NaN (skewness and kurtosis unknown)."""
    finite = finite_rows(x)
    keep = finite if mask is None else finite & mask
    rows = x[keep]
    d = x.shape[1]
    if len(rows) == 0:
        return {
            "count": 0,
            "sum": np.zeros(d),
            "cross": np.zeros((d, d)),
            "sum3": np.zeros(d),
            "sum4": np.zeros(d),
            "min": np.full(d, np.inf),
            "max": np.full(d, -np.inf),
            "non_finite": int((~finite).sum()),
        }
    centred64 = rows.astype(np.float64) - shift
    if higher:
        squared = centred64 * centred64
        sum3, sum4 = (squared * centred64).sum(axis=0), (squared * squared).sum(axis=0)
    else:
        sum3 = sum4 = np.full(d, np.nan)
    return {
        "count": len(rows),
        "sum": centred64.sum(axis=0),
        "cross": centred64.T @ centred64,
        "sum3": sum3,
        "sum4": sum4,
        "min": rows.min(axis=0).astype(np.float64),
        "max": rows.max(axis=0).astype(np.float64),
        "non_finite": int((~finite).sum()),
    }


def combine_moments(a: dict, b: dict) -> dict:
    return {
        "count": a["count"] + b["count"],
        "sum": a["sum"] + b["sum"],
        "cross": a["cross"] + b["cross"],
        "sum3": a["sum3"] + b["sum3"],
        "sum4": a["sum4"] + b["sum4"],
        "min": np.minimum(a["min"], b["min"]),
        "max": np.maximum(a["max"], b["max"]),
        "non_finite": a["non_finite"] + b["non_finite"],
    }


def finish_moments(sums: dict, shift: np.ndarray) -> Moments:
    """Statistics from combined sums (which were taken about `shift`)."""
    n = sums["count"]
    if n < 2:
        raise ValueError(f"need at least 2 finite rows, got {n}")
    m1 = sums["sum"] / n  # mean of the shifted data
    scatter = sums["cross"] - n * np.outer(m1, m1)
    cov = scatter / (n - 1)
    variance = np.diag(cov).copy()
    std = np.sqrt(np.maximum(variance, 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = cov / np.outer(std, std)
        m2 = np.diag(sums["cross"]) / n - m1**2  # population central moments
        m3 = sums["sum3"] / n - 3 * m1 * np.diag(sums["cross"]) / n + 2 * m1**3
        m4 = (
            sums["sum4"] / n
            - 4 * m1 * sums["sum3"] / n
            + 6 * m1**2 * np.diag(sums["cross"]) / n
            - 3 * m1**4
        )
        skewness = m3 / m2**1.5
        kurtosis = m4 / m2**2 - 3
    corr[std == 0, :] = np.nan
    corr[:, std == 0] = np.nan
    np.fill_diagonal(corr, np.where(std > 0, 1.0, np.nan))
    return Moments(
        count=int(n),
        mean=shift + m1,
        cov=cov,
        corr=corr,
        min=sums["min"],
        max=sums["max"],
        skewness=skewness,
        excess_kurtosis=kurtosis,
        non_finite_rows=int(sums["non_finite"]),
    )
