"""Where the origin sits in the latent distribution, and how heavy the flanks of PCA components
are beyond their Gaussian fits.

The origin (the zero latent vector) is measured against the basis PCA: its squared
Mahalanobis distance d2 (`normality.whitening`), the chi2(rank) probability of a smaller d2,
its trim radius `max_j |0 - mu_j| / FWHM_j`, and the fraction of analysed rows closer to the
centre than the origin, read off the streamed d2 grid (`normality.chunk_d2_histogram`).
`pca_flank_excess` compares the counts beyond mu +- n sigma of each fit with the fit's own
prediction over the same bins. Pure functions on analysis arrays; `lsf analyze` calls them.
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

from lsf.stats.fits import GaussianFits
from lsf.stats.normality import whitening
from lsf.stats.pca import PCA
from lsf.stats.quadratic import squared_mahalanobis
from lsf.stats.trimming import trim_radius


def origin_d2(pca: PCA) -> float:
    """Squared Mahalanobis distance of the zero vector from the PCA's mean (in its rank)."""
    zero = np.zeros((1, len(pca.mean)))
    return float(squared_mahalanobis(zero, pca.mean, whitening(pca))[0])


def origin_trim_radius(mu: np.ndarray, fwhm: np.ndarray) -> float:
    """The origin's trim radius `max_j |mu_j| / FWHM_j`: it survives every fact above it."""
    return float(trim_radius(np.zeros((1, len(mu))), mu, fwhm)[0])


def fraction_below(counts: np.ndarray, top: float, d2: float) -> tuple[float, float]:
    """`(fraction, error bound)` of the rows whose d2 is below `d2`, from grid counts
    `[bins + 1]` over [0, top) plus the overflow bin (`chunk_d2_histogram`'s counts). Rows of
    lower bins are below, rows of higher bins are not; the bin holding `d2` is split by
    linear interpolation (half of it in the overflow bin), so the error is at most that
    bin's mass (its count / n), the returned bound."""
    counts = np.asarray(counts, dtype=np.int64)
    bins = len(counts) - 1
    n = int(counts.sum())
    if n == 0 or np.isnan(d2):
        return float("nan"), float("nan")
    # the same index rule as chunk_d2_histogram; an infinite d2 lies in the overflow bin
    index = min(int(d2 * (bins / top)), bins) if np.isfinite(d2) else bins
    below = int(counts[:index].sum())
    within = 0.5 if index == bins else min(max(d2 * (bins / top) - index, 0.0), 1.0)
    return (below + within * counts[index]) / n, float(counts[index]) / n


def origin_measures(pca: PCA, mu: np.ndarray, fwhm: np.ndarray, d2_hist: dict, top: float):
    """The summary's `origin` block: `d2`, `dof` (the PCA rank), `chi2_quantile` (chi2(dof)
    CDF at d2), `trim_radius`, `fraction_closer` (rows of the d2 grid `d2_hist`, a combined
    `chunk_d2_histogram`, with a smaller d2) and `fraction_closer_error` (its bound)."""
    d2 = origin_d2(pca)
    fraction, error = fraction_below(d2_hist["counts"], top, d2)
    return {
        "d2": d2,
        "dof": int(pca.rank),
        "chi2_quantile": float(stats.chi2.cdf(d2, pca.rank)),
        "trim_radius": origin_trim_radius(mu, fwhm),
        "fraction_closer": fraction,
        "fraction_closer_error": error,
    }


def pca_flank_excess(
    edges: np.ndarray, counts: np.ndarray, fits: GaussianFits, n_sigma: float = 2.0
) -> np.ndarray:
    """`[D]`: (observed - expected) / expected over the bins whose centre lies beyond
    mu +- n_sigma * sigma of each component's fit; expected is the fitted curve (counts
    per bin at the bin centre, amplitude A) integrated over those same bins:
    `A sqrt(2 pi) sigma / width * (Phi(b) - Phi(a))`. NaN where the fit failed or predicts
    nothing there. Positive: heavier flanks than the fit (e.g. component 3 of the study)."""
    edges = np.asarray(edges, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    excess = np.full(len(counts), np.nan)
    for j in np.flatnonzero(fits.ok):
        mu, sigma, amplitude = fits.mu[j], fits.sigma[j], fits.amplitude[j]
        lo, hi = edges[j, :-1], edges[j, 1:]
        beyond = np.abs(0.5 * (lo + hi) - mu) > n_sigma * sigma
        mass = special.ndtr((hi - mu) / sigma) - special.ndtr((lo - mu) / sigma)
        expected = (amplitude * np.sqrt(2 * np.pi) * sigma / (hi - lo) * mass)[beyond].sum()
        if expected > 0:
            excess[j] = (counts[j, beyond].sum() - expected) / expected
    return excess
