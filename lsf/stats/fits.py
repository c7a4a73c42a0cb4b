"""Gaussian fits of histograms: amplitude, mu, sigma, FWHM and a fit residual per component.

`fit_gaussian(centres, counts)` fits `A exp(-(x-mu)^2 / (2 sigma^2))` with
`scipy.optimize.curve_fit`, started from the histogram's own moments. FWHM is
`2 sqrt(2 ln 2) sigma`. A component whose histogram has fewer than 3 non-empty bins (zero
variance) gets NaN parameters and `ok=False` instead of an exception.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


def gaussian(x, amplitude, mu, sigma):
    return amplitude * np.exp(-0.5 * ((x - mu) / sigma) ** 2)


@dataclass
class GaussianFits:
    amplitude: np.ndarray  # (D,)
    mu: np.ndarray
    sigma: np.ndarray
    fwhm: np.ndarray
    residual: np.ndarray  # RMS of (counts - fit) / peak count
    ok: np.ndarray  # bool: the fit converged on a non-degenerate histogram

    def first(self, k: int) -> GaussianFits:
        """The fits of the first `k` components."""
        return GaussianFits(*(getattr(self, f.name)[:k] for f in dataclasses.fields(self)))


def fit_gaussian(centres: np.ndarray, counts: np.ndarray) -> tuple[float, float, float, float]:
    """`(amplitude, mu, sigma, residual)` of one histogram; NaNs when it cannot be fitted."""
    counts = counts.astype(np.float64)
    if np.count_nonzero(counts) < 3:
        return math.nan, math.nan, math.nan, math.nan
    total = counts.sum()
    mean = float((centres * counts).sum() / total)
    std = float(np.sqrt((counts * (centres - mean) ** 2).sum() / total))
    width = float(centres[1] - centres[0])
    start = (counts.max(), mean, max(std, width / 2))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            params, _ = curve_fit(gaussian, centres, counts, p0=start, maxfev=5000)
    except RuntimeError:
        return math.nan, math.nan, math.nan, math.nan
    amplitude, mu, sigma = params[0], params[1], abs(params[2])
    residual = np.sqrt(np.mean((counts - gaussian(centres, amplitude, mu, sigma)) ** 2))
    return float(amplitude), float(mu), float(sigma), float(residual / counts.max())


def fit_histograms(edges: np.ndarray, counts: np.ndarray) -> GaussianFits:
    """Fit every row of `counts [D, B]` on its edges `[D, B+1]`."""
    centres = 0.5 * (edges[:, 1:] + edges[:, :-1])
    results = np.array([fit_gaussian(c, h) for c, h in zip(centres, counts, strict=True)])
    amplitude, mu, sigma, residual = results.T
    ok = np.isfinite(sigma) & (sigma > 0)
    return GaussianFits(amplitude, mu, sigma, FWHM_PER_SIGMA * sigma, residual, ok)


def dominant_components(
    fits: GaussianFits, mu_sigmas: float = 2.0, fwhm_factor: float = 2.0
) -> np.ndarray:
    """Components that dominate the latent space: |mu| more than `mu_sigmas` typical widths
    from 0, or a FWHM more than `fwhm_factor` times the median FWHM ("typical width" = the
    median fitted sigma over components)."""
    typical_sigma = np.nanmedian(fits.sigma)
    typical_fwhm = np.nanmedian(fits.fwhm)
    far = np.abs(fits.mu) > mu_sigmas * typical_sigma
    wide = fits.fwhm > fwhm_factor * typical_fwhm
    return fits.ok & (far | wide)


def study_dominant(fits: GaussianFits, min_abs_mu: float, min_half_width: float) -> np.ndarray:
    """The original study's rule: a component dominates when its fitted centre lies away
    from the origin (`|mu| >= min_abs_mu`) AND its half width is large (`FWHM / 2 >
    min_half_width`), in absolute latent units."""
    with np.errstate(invalid="ignore"):
        far = np.abs(fits.mu) >= min_abs_mu
        wide = fits.fwhm / 2.0 > min_half_width
    return fits.ok & far & wide


def select_dominant(
    fits: GaussianFits,
    rule: str,
    *,
    mu_sigmas: float = 2.0,
    fwhm_factor: float = 2.0,
    min_abs_mu: float = 0.5,
    min_half_width: float = 1.0,
) -> np.ndarray:
    """Bool `[D]` by the configured rule: "relative" (`dominant_components`) or "study"
    (`study_dominant`); the keywords are AnalyzeConfig's `dominant_*` values."""
    if rule == "relative":
        return dominant_components(fits, mu_sigmas, fwhm_factor)
    if rule == "study":
        return study_dominant(fits, min_abs_mu, min_half_width)
    raise ValueError(f"dominant rule must be 'relative' or 'study', got {rule!r}")
