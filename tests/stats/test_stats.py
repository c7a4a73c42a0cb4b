"""Oracle tests of the streaming statistics on generated data with known truth."""

import dask.array as da
import numpy as np
import pytest
from scipy import stats
from sklearn.decomposition import PCA as SkPCA

from lsf.core.config import AnalyzeConfig
from lsf.core.progress import QUIET
from lsf.stats.analysis import analyze_latents
from lsf.stats.fits import FWHM_PER_SIGMA, GaussianFits, dominant_components, fit_histograms
from lsf.stats.histograms import chunk_histograms, column_quantiles, robust_edges
from lsf.stats.normality import coverage, mardia
from lsf.stats.pca import pca_from_covariance
from lsf.stats.summary import max_off_diagonal
from lsf.stats.trimming import trim_radius
from tests.helpers import assert_close_to_scale, latent_like

D = 12


@pytest.fixture(scope="module")
def data():
    return latent_like()


@pytest.fixture(scope="module", params=[6000, 1000, 777])
def analysed(request, data):
    z = da.from_array(data, chunks=(request.param, D))
    return analyze_latents(z, AnalyzeConfig(bins=48, trim_fact=1.5), progress=QUIET)


def test_moments_match_numpy(analysed, data):
    x = data.astype(np.float64)
    m = analysed.moments
    assert m.count == len(x) and m.non_finite_rows == 0
    assert_close_to_scale(m.mean, x.mean(axis=0), rtol=1e-9)
    assert_close_to_scale(m.cov, np.cov(x, rowvar=False), rtol=1e-9)
    np.testing.assert_allclose(m.corr, np.corrcoef(x, rowvar=False), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(m.min, x.min(axis=0))
    np.testing.assert_array_equal(m.max, x.max(axis=0))
    assert_close_to_scale(m.skewness, stats.skew(x), rtol=1e-7)
    assert_close_to_scale(m.excess_kurtosis, stats.kurtosis(x), rtol=1e-7)


def test_histograms_equal_np_histogram_with_the_same_edges(analysed, data):
    for j in range(D):
        expected, _ = np.histogram(data[:, j], analysed.fits.edges[j])
        np.testing.assert_array_equal(analysed.fits.hist["counts"][j], expected)
        inside = expected.sum() + analysed.fits.hist["under"][j] + analysed.fits.hist["over"][j]
        assert inside == len(data)


def test_values_on_bin_edges_land_in_the_bins_np_histogram_chooses():
    rng = np.random.default_rng(1)
    x = (np.round(rng.standard_normal((5000, 3)) * 8) / 8).astype(np.float32)  # on 1/8 edges
    edges = robust_edges(x, 0, bin_width=0.125)
    h = chunk_histograms(x, edges)
    for j in range(3):
        np.testing.assert_array_equal(h["counts"][j], np.histogram(x[:, j], edges[j])[0])
    assert h["under"].sum() == (x < edges[:, :1].T).sum()


def test_robust_edges_cover_the_quantile_range_widened_by_ten_percent():
    x = np.random.default_rng(2).standard_cauchy((20000, 2))
    edges = robust_edges(x, 32)
    lo, hi = np.quantile(x, [0.001, 0.999], axis=0)
    assert_close_to_scale(edges[:, 0], lo - 0.1 * (hi - lo), rtol=1e-7)
    assert_close_to_scale(edges[:, -1], hi + 0.1 * (hi - lo), rtol=1e-7)
    assert edges.shape == (2, 33)


def test_gaussian_fit_recovers_the_known_sigma():
    x = np.random.default_rng(3).normal(1.3, 0.7, size=(200000, 1))
    edges = robust_edges(x, 60)
    fits = fit_histograms(edges, chunk_histograms(x, edges)["counts"])
    assert fits.ok[0]
    assert fits.mu[0] == pytest.approx(1.3, abs=0.01)
    assert fits.sigma[0] == pytest.approx(0.7, rel=0.02)
    assert fits.fwhm[0] == pytest.approx(FWHM_PER_SIGMA * fits.sigma[0])
    assert FWHM_PER_SIGMA == pytest.approx(2.354820045)
    assert fits.residual[0] < 0.02


def test_zero_variance_component_is_flagged_not_fitted(data):
    x = data.copy()
    x[:, 4] = 2.5
    result = analyze_latents(da.from_array(x, chunks=(1000, D)), AnalyzeConfig(), progress=QUIET)
    assert not result.fits.gaussians.ok[4] and np.isnan(result.fits.gaussians.fwhm[4])
    assert np.isnan(result.moments.corr[4, 0]) and result.fits.gaussians.ok.sum() == D - 1
    assert result.pca.model.rank == D - 1 and result.normality.dof == D - 1


def test_trimming_removes_points_beyond_fact_fwhm(analysed, data):
    mu, fwhm = analysed.fits.gaussians.mu, analysed.fits.gaussians.fwhm
    x = data.astype(np.float64)
    for fact, survivors in zip(analysed.trimming.facts, analysed.trimming.survivors, strict=True):
        inside = ((x > mu - fact * fwhm) & (x < mu + fact * fwhm)).all(axis=1)
        assert survivors == inside.sum()
    assert analysed.pca.rows == (trim_radius(data, mu, fwhm) < 1.5).sum()


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (5001, 7), (20000, 33), (3001, 600)])
def test_column_quantiles_equal_np_quantile(shape):
    sample = np.random.default_rng(3).standard_t(3, size=shape).astype(np.float32)
    probabilities = (0.0, 0.001, 0.25, 0.5, 0.999, 1.0)
    np.testing.assert_array_equal(
        column_quantiles(sample, probabilities),
        np.quantile(sample.astype(np.float64), probabilities, axis=0),
    )
    assert np.array_equal(
        sample, np.random.default_rng(3).standard_t(3, size=shape).astype(np.float32)
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_trim_radius_equals_numpy_with_unfitted_components_and_non_finite_rows(dtype):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3000, 17)).astype(dtype)
    x[5, 3], x[7, 0], x[9, 4] = np.nan, np.inf, np.nan  # row 9: NaN in an unfitted component
    mu, fwhm = rng.standard_normal(17), rng.random(17) + 0.5
    mu[4], fwhm[9] = np.nan, 0.0  # components 4 and 9 have no usable fit
    usable = np.isfinite(mu) & (fwhm > 0)
    expected = (np.abs(x[:, usable].astype(np.float64) - mu[usable]) / fwhm[usable]).max(axis=1)
    expected[~np.isfinite(x).all(axis=1)] = np.inf
    np.testing.assert_array_equal(trim_radius(x, mu, fwhm), expected)
    assert np.isinf(trim_radius(x, mu, fwhm)[[5, 7, 9]]).all()
    np.testing.assert_array_equal(trim_radius(x[:4], np.full(17, np.nan), fwhm), np.zeros(4))


def test_pca_matches_sklearn_full_svd_on_the_trimmed_set(analysed, data):
    keep = trim_radius(data, analysed.fits.gaussians.mu, analysed.fits.gaussians.fwhm) < 1.5
    reference = SkPCA(svd_solver="full").fit(data[keep].astype(np.float64))
    pca = analysed.pca.model
    assert_close_to_scale(pca.explained_variance, reference.explained_variance_, rtol=1e-6)
    assert_close_to_scale(
        pca.explained_variance_ratio, reference.explained_variance_ratio_, rtol=1e-6
    )
    dots = np.abs(np.sum(pca.components * reference.components_, axis=1))
    np.testing.assert_allclose(dots, 1, atol=1e-6)
    biggest = np.abs(pca.components).argmax(axis=1)
    assert (pca.components[np.arange(D), biggest] > 0).all()  # sign convention
    assert max_off_diagonal(analysed.pca.moments.corr) < 1e-6
    assert np.nanmax(np.abs(np.diag(analysed.pca.moments.corr) - 1)) < 1e-12
    assert (
        pca.components_for(0.9)
        == np.searchsorted(np.cumsum(reference.explained_variance_ratio_), 0.9) + 1
    )


def test_mahalanobis_coverage_of_a_true_normal_matches_chi2():
    rng = np.random.default_rng(4)
    x = rng.multivariate_normal(np.arange(D), np.diag(np.arange(1, D + 1)), size=20000)
    z = da.from_array(x.astype(np.float32), chunks=(3000, D))
    result = analyze_latents(z, AnalyzeConfig(trim_fact=None), progress=QUIET)
    error = 4 * np.sqrt(
        result.normality.coverage.levels * (1 - result.normality.coverage.levels) / len(x)
    )
    assert (
        np.abs(result.normality.coverage.observed - result.normality.coverage.levels) < error
    ).all()
    chi2_q, observed_q = result.normality.qq
    assert_close_to_scale(chi2_q, stats.chi2.ppf((np.arange(200) + 0.5) / 200, D), rtol=1e-7)
    assert np.abs(observed_q[10:190] / chi2_q[10:190] - 1).max() < 0.05
    assert result.normality.mardia.skewness_p > 0.01 and result.normality.mardia.kurtosis_p > 0.01


def test_coverage_uses_chi2_quantile_radii():
    d2 = stats.chi2.rvs(5, size=100000, random_state=5)
    cover = coverage(d2, 5)
    assert_close_to_scale(cover.radii_squared, stats.chi2.ppf([0.5, 0.9, 0.99], 5), rtol=1e-7)
    np.testing.assert_allclose(cover.observed, [0.5, 0.9, 0.99], atol=0.005)


def test_mardia_rejects_a_skewed_sample_and_accepts_a_normal_one():
    rng = np.random.default_rng(6)
    normal = mardia(rng.standard_normal((1500, 6)))
    skewed = mardia(rng.exponential(size=(1500, 6)))
    assert normal.skewness_p > 0.01 and normal.kurtosis_p > 0.01
    assert skewed.skewness_p < 1e-6 and skewed.kurtosis_p < 1e-6
    assert normal.skewness_df == 6 * 7 * 8 / 6


def test_pca_sign_convention_and_order_from_a_known_covariance():
    cov = np.diag([1.0, 9.0, 4.0])
    pca = pca_from_covariance(np.zeros(3), cov)
    assert_close_to_scale(pca.explained_variance, [9, 4, 1], rtol=1e-7)
    assert_close_to_scale(np.abs(pca.components), np.eye(3)[[1, 2, 0]], rtol=1e-7)
    assert (pca.components.max(axis=1) == 1).all()


def test_non_finite_rows_are_counted_and_excluded(data):
    x = data.copy()
    x[[5, 900, 4000], 3] = np.nan
    x[77, 0] = np.inf
    result = analyze_latents(da.from_array(x, chunks=(1000, D)), AnalyzeConfig(), progress=QUIET)
    clean = np.delete(data, [5, 77, 900, 4000], axis=0).astype(np.float64)
    assert result.moments.non_finite_rows == 4 and result.moments.count == len(clean)
    assert_close_to_scale(result.moments.mean, clean.mean(axis=0), rtol=1e-9)
    assert result.fits.hist["counts"][0].sum() + result.fits.hist["under"][0] + result.fits.hist[
        "over"
    ][0] == len(clean)


def test_pca_sample_uses_a_seeded_random_subset(data):
    config = AnalyzeConfig(trim_fact=None, pca_sample=2500, seed=3)
    a = analyze_latents(da.from_array(data, chunks=(1000, D)), config, progress=QUIET)
    b = analyze_latents(da.from_array(data, chunks=(777, D)), config, progress=QUIET)
    assert a.pca.rows == 2500 and "random 2500 of 6000" in a.pca.basis
    assert_close_to_scale(a.pca.model.explained_variance, b.pca.model.explained_variance, rtol=1e-9)


def test_facts_that_remove_every_point_fall_back_to_all_rows_with_a_warning(data):
    z = da.from_array(data, chunks=(1000, D))
    config = AnalyzeConfig(facts=[0.01, 0.02], trim_fact=0.01, regions=False)
    result = analyze_latents(z, config, progress=QUIET)
    assert any("every trimming fact (0.01, 0.02) removes every row" in w for w in result.warnings)
    assert any("trim_fact 0.01 keeps 0 of 6000 rows" in w for w in result.warnings)
    every = analyze_latents(z, AnalyzeConfig(trim_fact=None, regions=False), progress=QUIET)
    assert result.pca.rows == 6000 and result.pca.basis.startswith("all rows (fact 0.01 kept 0)")
    np.testing.assert_allclose(
        result.pca.model.explained_variance, every.pca.model.explained_variance, rtol=1e-12
    )


def test_dominant_components_follow_the_documented_rule():
    sigma = np.array([1.0, 1.0, 1.0, 1.0, 3.0])
    mu = np.array([0.0, 0.5, 2.5, -0.1, 0.0])
    fits = GaussianFits(
        np.ones(5), mu, sigma, FWHM_PER_SIGMA * sigma, np.zeros(5), np.ones(5, bool)
    )
    assert dominant_components(fits, mu_sigmas=2.0, fwhm_factor=2.0).tolist() == [
        False,
        False,
        True,
        False,
        True,
    ]


def test_dask_on_ray_gives_the_same_results_as_threads(data, ray_local):
    from lsf.stats.graph import scheduler_for

    z = da.from_array(data, chunks=(1000, D))
    config = AnalyzeConfig(bins=32)
    local = analyze_latents(z, config, progress=QUIET)
    on_ray = analyze_latents(z, config, scheduler=scheduler_for("auto"), progress=QUIET)
    np.testing.assert_array_equal(local.moments.cov, on_ray.moments.cov)
    np.testing.assert_array_equal(local.fits.hist["counts"], on_ray.fits.hist["counts"])
    np.testing.assert_array_equal(local.trimming.survivors, on_ray.trimming.survivors)
    np.testing.assert_array_equal(
        local.pca.model.explained_variance, on_ray.pca.model.explained_variance
    )
    np.testing.assert_array_equal(
        local.normality.coverage.observed, on_ray.normality.coverage.observed
    )


@pytest.mark.parametrize("parts", [1, 2, 7, 49])
def test_chain_reduce_sums_every_part_once_with_fewer_partials_waiting_than_a_tree(parts):
    """Every part once, in its chain's order (a non-commutative combine shows the order);
    dask.order's own diagnostics count the partial results alive when each task runs: at
    most chains + 1 for the chains, below the tree's one per level at 49 parts."""
    import dask
    from dask.order import diagnostics

    from lsf.stats.graph import REDUCTION_CHAINS, chain_reduce, tree_reduce

    def leaf(i):
        return (i,)

    def join(a, b):
        return a + b

    def graph(reduce):
        return reduce([dask.delayed(leaf, pure=True)(i) for i in range(parts)], join)

    chains = min(REDUCTION_CHAINS, parts)
    expected = tuple(i for c in range(chains) for i in range(c, parts, REDUCTION_CHAINS))
    assert graph(chain_reduce).compute(scheduler="sync") == expected
    assert sorted(graph(tree_reduce).compute(scheduler="sync")) == list(range(parts))

    def waiting(reduce):
        info, _ = diagnostics(dict(graph(reduce).__dask_graph__()))
        return max(v.num_data_when_run for v in info.values())

    assert waiting(chain_reduce) <= REDUCTION_CHAINS + 1
    if parts == 49:
        assert waiting(tree_reduce) >= 6 > waiting(chain_reduce)


def test_the_preflight_counts_the_partials_read_2_keeps_waiting():
    from lsf.core.preflight import READ2_WAITING
    from lsf.stats.graph import REDUCTION_CHAINS

    assert READ2_WAITING == REDUCTION_CHAINS + 1
