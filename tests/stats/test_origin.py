"""Origin measures and PCA flank excess (lsf.stats.origin) against closed forms, numpy over
all rows and scipy.stats.norm on generated data."""

import math
from functools import reduce

import numpy as np
import pytest
from scipy import stats

from lsf.stats.fits import FWHM_PER_SIGMA, GaussianFits, fit_histograms
from lsf.stats.normality import (
    chunk_d2_histogram,
    combine_d2_histograms,
    coverage_radii,
    d2_grid_top,
    whitening,
)
from lsf.stats.origin import (
    fraction_below,
    origin_d2,
    origin_measures,
    origin_trim_radius,
    pca_flank_excess,
)
from lsf.stats.pca import pca_from_covariance
from lsf.stats.quadratic import squared_mahalanobis

D = 6


@pytest.fixture(scope="module")
def latents():
    rng = np.random.default_rng(0)
    mix = rng.normal(size=(D, D)) / 2 + np.eye(D)
    mean = np.array([0.9, -0.4, 0.3, 0.0, 1.1, -0.7]) * 0.5
    x = rng.normal(size=(30000, D)) @ mix + mean
    pca = pca_from_covariance(x.mean(axis=0), np.cov(x, rowvar=False))
    return x, pca


def _chi2_cdf_even_dof(x: float, dof: int) -> float:
    """Closed form for even dof: 1 - exp(-x/2) sum_{k < dof/2} (x/2)^k / k!."""
    return 1 - math.exp(-x / 2) * sum((x / 2) ** k / math.factorial(k) for k in range(dof // 2))


def _streamed_d2(x, pca, top):
    white = whitening(pca)
    radii = coverage_radii(pca.rank)
    parts = [
        chunk_d2_histogram(x[s : s + 4000], pca.mean, white, top, radii)
        for s in range(0, len(x), 4000)
    ]
    return reduce(combine_d2_histograms, parts)


def test_origin_d2_and_chi2_quantile_equal_the_closed_forms(latents):
    x, pca = latents
    mean, cov = x.mean(axis=0), np.cov(x, rowvar=False)
    expected = float(mean @ np.linalg.inv(cov) @ mean)
    assert origin_d2(pca) == pytest.approx(expected, rel=1e-9)
    measures = origin_measures(pca, np.zeros(D), np.ones(D), _streamed_d2(x, pca, 60.0), 60.0)
    assert measures["dof"] == D
    assert measures["chi2_quantile"] == pytest.approx(_chi2_cdf_even_dof(expected, D), rel=1e-9)


def test_origin_trim_radius_is_the_largest_mu_over_fwhm():
    mu = np.array([0.5, -2.0, 0.1, np.nan])
    fwhm = np.array([1.0, 2.5, 0.05, 1.0])  # component 3 has no fit and does not trim
    assert origin_trim_radius(mu, fwhm) == pytest.approx(max(0.5 / 1.0, 2.0 / 2.5, 0.1 / 0.05))


def test_fraction_closer_is_within_its_bound_of_the_exact_fraction(latents):
    x, pca = latents
    d2_all = squared_mahalanobis(x, pca.mean, whitening(pca))
    top = d2_grid_top(d2_all[:1000], pca.rank)
    hist = _streamed_d2(x, pca, top)
    measures = origin_measures(pca, np.zeros(D), np.ones(D), hist, top)
    exact = float((d2_all < origin_d2(pca)).mean())
    assert 0.05 < exact < 0.95  # the origin sits inside the bulk here
    assert abs(measures["fraction_closer"] - exact) <= measures["fraction_closer_error"]
    assert measures["fraction_closer_error"] < 1e-3


def test_fraction_below_in_the_overflow_bin_is_bounded_by_the_overflow_mass(latents):
    x, pca = latents
    d2_all = squared_mahalanobis(x, pca.mean, whitening(pca))
    top = float(np.quantile(d2_all, 0.5))  # half of the rows overflow
    hist = _streamed_d2(x, pca, top)
    probe = float(np.quantile(d2_all, 0.8))
    fraction, error = fraction_below(hist["counts"], top, probe)
    assert error == pytest.approx((d2_all >= top).mean(), abs=1e-9)
    assert abs(fraction - (d2_all < probe).mean()) <= error
    assert abs(fraction_below(hist["counts"], top, np.inf)[0] - 1.0) <= error
    assert np.isnan(fraction_below(hist["counts"], top, np.nan)).all()


def _gaussian_counts(edges, amplitude, mu, sigma):
    """The fitted curve integrated over each bin with scipy.stats.norm (counts per bin)."""
    width = edges[1] - edges[0]
    cdf = stats.norm(mu, sigma).cdf
    return np.array(
        [
            amplitude * math.sqrt(2 * math.pi) * sigma / width * (cdf(b) - cdf(a))
            for a, b in zip(edges[:-1], edges[1:], strict=True)
        ]
    )


def test_flank_excess_is_the_relative_surplus_over_the_fitted_gaussian():
    edges = np.stack([np.arange(-6.0, 6.0001, 0.5)] * 2)
    centres = 0.5 * (edges[0, 1:] + edges[0, :-1])
    mu, sigma, amplitude = np.array([0.3, -0.2]), np.array([1.0, 1.3]), np.array([500.0, 800.0])
    counts = np.stack([_gaussian_counts(edges[j], amplitude[j], mu[j], sigma[j]) for j in (0, 1)])
    beyond0 = np.abs(centres - mu[0]) > 2 * sigma[0]
    expected0 = counts[0, beyond0].sum()
    counts[0, beyond0] += 0.25 * expected0 / beyond0.sum()  # 25 % more in the flanks
    fits = GaussianFits(amplitude, mu, sigma, FWHM_PER_SIGMA * sigma, np.zeros(2), np.ones(2, bool))
    excess = pca_flank_excess(edges, counts, fits, n_sigma=2)
    np.testing.assert_allclose(excess, [0.25, 0.0], atol=1e-9)
    failed = GaussianFits(amplitude, mu, sigma, sigma, np.zeros(2), np.array([True, False]))
    assert np.isnan(pca_flank_excess(edges, counts, failed)[1])


def test_flank_excess_flags_heavy_tails_on_fitted_samples():
    rng = np.random.default_rng(1)
    x = np.stack([rng.normal(size=200000), rng.standard_t(3, size=200000)], axis=1)
    edges = np.stack([np.arange(-12.0, 12.0001, 0.5)] * 2)
    counts = np.stack([np.histogram(x[:, j], edges[j])[0] for j in (0, 1)])
    excess = pca_flank_excess(edges, counts, fit_histograms(edges, counts))
    assert abs(excess[0]) < 0.1  # a normal: the fit predicts its flanks
    assert excess[1] > 0.5  # Student t(3): far more beyond 2 sigma than the fit says
