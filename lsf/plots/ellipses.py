"""Which confidence ellipses the report draws, and how many counted points each one holds.

`ellipse_moments` gives the centre `[D]` and covariance `[D, D]` the pair ellipses are cut
from, in original or PCA coordinates (of a `StoredAnalysis`), for one of three sources:
`fits` (the study's: centre at the fitted Gaussian mu, widths from the fitted sigmas,
correlation from the Pearson matrix), `trimmed` (moments of the PCA basis rows: the trimmed,
possibly subsampled set) or `moments` (moments of every analysed row). `counts_coverage` is
the fraction of a pair's stored 2D counts inside its 1/2/3-sigma ellipses, each bin split
into a sub-grid whose points carry equal shares of the bin's count. Pure numpy.
"""

from __future__ import annotations

import numpy as np

from lsf.stats.analysis_store import StoredAnalysis
from lsf.stats.pairs import SIGMAS
from lsf.stats.quadratic import quadratic_form_2d

FITS, TRIMMED, MOMENTS = "fits", "trimmed", "moments"
DESCRIPTIONS = {
    FITS: "Gaussian fits (centre = fitted mu, widths = fitted sigmas) and Pearson correlation",
    TRIMMED: "moments of the PCA basis rows (the trimmed set)",
    MOMENTS: "moments of all analysed rows",
}


def _fitted_moments(analysis: StoredAnalysis, system: str) -> tuple[np.ndarray, np.ndarray]:
    """Fitted mu and sigma with the Pearson correlation; a component whose fit failed takes
    the basis moments' centre and width instead."""
    mean, cov = analysis.basis_rows(system)
    fits = analysis.fits.gaussians if system == "original" else analysis.pca.fits
    corr = analysis.moments.corr if system == "original" else analysis.pca.corr
    mu = np.asarray(fits.mu, dtype=np.float64)
    sigma = np.asarray(fits.sigma, dtype=np.float64)
    good = np.isfinite(mu) & np.isfinite(sigma) & (sigma > 0)
    mu = np.where(good, mu, mean)
    sigma = np.where(good, sigma, np.sqrt(np.maximum(np.diag(cov), 0.0)))
    corr = np.nan_to_num(np.asarray(corr, dtype=np.float64))
    np.fill_diagonal(corr, 1.0)
    return mu, corr * np.outer(sigma, sigma)


def ellipse_moments(
    analysis: StoredAnalysis, system: str, source: str
) -> tuple[np.ndarray, np.ndarray]:
    """`(centre [D], covariance [D, D])` of the ellipses of `source` (FITS, TRIMMED or
    MOMENTS) in `system` ("original" or "pca") coordinates."""
    if source == FITS:
        return _fitted_moments(analysis, system)
    if source == TRIMMED:
        return analysis.basis_rows(system)
    if source == MOMENTS:
        return analysis.all_rows(system)
    raise ValueError(f"unknown ellipse source {source!r}")


def counts_coverage(
    counts: np.ndarray,
    edges_x: np.ndarray,
    edges_y: np.ndarray,
    mean2,
    cov2,
    sigmas=SIGMAS,
    subdivisions: int = 5,
) -> np.ndarray:
    """Fraction of the counted points `counts [B, B]` (first component along axis 0) inside
    each n-sigma ellipse of `(mean2, cov2)`: every bin is split into `subdivisions`^2 equal
    cells whose centres share the bin's count, so a bin cut by the ellipse counts in part.
    NaN when nothing was counted or the covariance is singular."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    cov2 = np.asarray(cov2, dtype=np.float64)
    if total <= 0 or not np.isfinite(cov2).all() or np.linalg.det(cov2) <= 0:
        return np.full(len(sigmas), np.nan)
    s = subdivisions
    offsets = (np.arange(s) + 0.5) / s
    x = (edges_x[:-1, None] + offsets[None, :] * np.diff(edges_x)[:, None]).ravel() - mean2[0]
    y = (edges_y[:-1, None] + offsets[None, :] * np.diff(edges_y)[:, None]).ravel() - mean2[1]
    d2 = quadratic_form_2d(np.linalg.inv(cov2), x[:, None], y[None, :])
    bins = len(edges_x) - 1, len(edges_y) - 1
    shares = [(d2 <= n * n).reshape(bins[0], s, bins[1], s).mean(axis=(1, 3)) for n in sigmas]
    return np.array([float((counts * share).sum() / total) for share in shares])
