"""The study's dominant rule (|mu| away from 0 AND half width above a bound) on constructed
fits and on fits of generated normal samples; the relative rule is unchanged."""

import numpy as np
import pytest

from lsf.stats.fits import (
    FWHM_PER_SIGMA,
    GaussianFits,
    dominant_components,
    fit_histograms,
    select_dominant,
    study_dominant,
)
from tests.helpers import assert_close_to_scale


def _fits(mu, sigma, ok=None) -> GaussianFits:
    mu, sigma = np.asarray(mu, float), np.asarray(sigma, float)
    ok = np.ones(len(mu), bool) if ok is None else np.asarray(ok)
    return GaussianFits(np.ones(len(mu)), mu, sigma, FWHM_PER_SIGMA * sigma, np.zeros(len(mu)), ok)


def test_study_rule_needs_a_distant_centre_and_a_wide_half_width():
    half_width = np.array([1.5, 1.5, 0.9, 1.5, 1.5, 1.0, 1.5])  # FWHM / 2
    mu = np.array([0.8, 0.2, 0.8, -0.6, 0.5, 0.9, np.nan])
    fits = _fits(mu, 2 * half_width / FWHM_PER_SIGMA, ok=[True] * 6 + [False])
    chosen = study_dominant(fits, min_abs_mu=0.5, min_half_width=1.0)
    # far+wide, near, narrow, far (negative)+wide, |mu| on the bound, half width on the bound
    # (strict), not fitted
    assert chosen.tolist() == [True, False, False, True, True, False, False]


def test_study_and_relative_rules_differ_where_the_study_needs_both():
    # wide but centred (relative: yes, it is 3x the median width; study: no, mu = 0)
    # and far but narrow (relative: yes; study: no)
    fits = _fits([0.0, 3.0, 0.0, 0.0, 1.0], [3.0, 0.3, 0.5, 0.5, 1.0])
    relative = select_dominant(fits, "relative", mu_sigmas=2.0, fwhm_factor=2.0)
    study = select_dominant(fits, "study", min_abs_mu=0.5, min_half_width=1.0)
    assert relative.tolist() == dominant_components(fits, 2.0, 2.0).tolist()
    assert relative.tolist() == [True, True, False, False, False]
    assert study.tolist() == [False, False, False, False, True]
    with pytest.raises(ValueError, match="dominant rule"):
        select_dominant(fits, "both")


def test_study_rule_on_fits_of_generated_samples():
    rng = np.random.default_rng(0)
    mu = np.array([1.2, 0.0, 1.2, -2.0])
    sigma = np.array([1.5, 1.5, 0.5, 1.0])  # half widths 1.77, 1.77, 0.59, 1.18
    x = rng.normal(mu, sigma, size=(40000, 4))
    edges = np.stack([np.arange(-8.0, 8.0001, 0.25)] * 4)  # the study's bin width
    counts = np.stack([np.histogram(x[:, j], edges[j])[0] for j in range(4)])
    fits = fit_histograms(edges, counts)
    np.testing.assert_allclose(fits.mu, mu, atol=0.05)
    assert_close_to_scale(fits.sigma, sigma, rtol=0.05)
    assert study_dominant(fits, 0.5, 1.0).tolist() == [True, False, False, True]
