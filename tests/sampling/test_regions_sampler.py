"""The `regions` samplers: draws split between the regions by their shares, each region's
moments those of its normal (numpy on the draws against the parameters), the ellipsoid
variant inside each region's chi2 radius, seeded; the sampler list without regions."""

import numpy as np
import pytest
from scipy import stats

from lsf.core.config import DEFAULT_SAMPLERS, SAMPLERS
from lsf.core.errors import LsfError
from lsf.sampling.regions import RegionMixture, resolve_samplers
from lsf.sampling.samplers import LatentStatistics, regularised_covariance, sample
from tests.regions_inputs import fragmentation_of, separated_normals

D = 5


@pytest.fixture(scope="module")
def fragmentation():
    z, labels = separated_normals(6000, D, 3, seed=1)
    result = fragmentation_of(z, labels, k=3)
    result.shares = result.shares * 0.96  # 4 % of the rows outside every region
    return result


@pytest.fixture(scope="module")
def mixture(fragmentation):
    return RegionMixture.from_fragmentation(fragmentation)


@pytest.fixture(scope="module")
def statistics():
    return LatentStatistics(
        mean=np.zeros(D),
        cov=np.eye(D),
        mu=np.zeros(D),
        sigma=np.ones(D),
        low=-np.ones(D),
        high=np.ones(D),
        jitter=0.0,
    )


def test_weights_are_the_region_shares_renormalised(fragmentation, mixture):
    shares = np.asarray(fragmentation.shares)
    np.testing.assert_allclose(mixture.weights, shares / shares.sum(), rtol=1e-12)
    np.testing.assert_allclose(mixture.means, fragmentation.means, rtol=1e-12)
    np.testing.assert_allclose(mixture.covariances, fragmentation.covariances, rtol=1e-12)


def test_drawn_shares_equal_the_region_shares_to_one_draw(mixture):
    for n in (1, 7, 100, 1001):
        _, labels, info = mixture.draw(n, np.random.default_rng(n))
        drawn = np.bincount(labels, minlength=mixture.regions)
        assert drawn.sum() == n and info["drawn_per_region"] == drawn.tolist()
        assert np.abs(drawn / n - mixture.weights).max() < 1 / n + 1e-12


def test_each_regions_draws_have_its_mean_and_covariance(mixture):
    n = 150_000
    x, labels, _ = mixture.draw(n, np.random.default_rng(3))
    for r in range(mixture.regions):
        rows = x[labels == r]
        cov = mixture.covariances[r]
        # standard errors: of the mean sqrt(var / m), of a covariance entry
        # sqrt((var_i var_j + cov_ij^2) / m); 5 of them
        var = np.diag(cov)
        mean_error = 5 * np.sqrt(var / len(rows))
        cov_error = 5 * np.sqrt((np.outer(var, var) + cov**2) / len(rows))
        assert (np.abs(rows.mean(axis=0) - mixture.means[r]) < mean_error).all()
        assert (np.abs(np.cov(rows, rowvar=False) - cov) < cov_error).all()


def test_draws_are_shuffled_across_regions(mixture):
    _, labels, _ = mixture.draw(3000, np.random.default_rng(4))
    switches = (np.diff(labels) != 0).mean()
    assert switches > 0.4  # sorted by region it would be 2 / 2999


def test_sample_dispatch_is_seeded_float32_and_reports_the_weights(statistics, mixture):
    a, info = sample("regions", statistics, 500, seed=9, regions=mixture)
    b, _ = sample("regions", statistics, 500, seed=9, regions=mixture)
    c, _ = sample("regions", statistics, 500, seed=10, regions=mixture)
    assert a.dtype == np.float32 and a.shape == (500, D)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert info["weights"] == pytest.approx(mixture.weights.tolist(), rel=1e-12)
    assert info["regions"] == 3 and sum(info["drawn_per_region"]) == 500


def test_regions_ellipsoid_keeps_each_draw_inside_its_regions_radius(statistics, mixture):
    level = 0.8
    x, labels, info = mixture.draw(20000, np.random.default_rng(5), level=level)
    radius = stats.chi2.ppf(level, D)
    for r in range(mixture.regions):
        rows = x[labels == r]
        diff = rows - mixture.means[r]
        d2 = np.einsum("ij,ij->i", diff @ np.linalg.inv(mixture.covariances[r]), diff)
        assert d2.max() <= radius * (1 + 1e-9) and d2.max() > 0.95 * radius
    assert info["accepted_fraction"] == pytest.approx(level, abs=0.02)
    y, more = sample("regions-ellipsoid", statistics, 300, seed=1, level=level, regions=mixture)
    assert more["level"] == level and y.shape == (300, D)


def test_a_singular_region_covariance_is_regularised_like_mvn(fragmentation):
    import copy

    singular = copy.deepcopy(fragmentation)
    singular.covariances = singular.covariances.copy()
    singular.covariances[1] = np.outer(np.arange(1.0, D + 1), np.arange(1.0, D + 1))
    mixture = RegionMixture.from_fragmentation(singular)
    expected, jitter = regularised_covariance(singular.covariances[1])
    assert jitter > 0 and mixture.jitters[1] == jitter and mixture.jitters[0] == 0
    np.testing.assert_array_equal(mixture.covariances[1], expected)
    _, info = mixture.sample(50, np.random.default_rng(0))
    assert info["covariance_jitter"][1] == jitter


def test_the_regions_sampler_without_regions_is_refused(statistics):
    with pytest.raises(LsfError, match="no regions"):
        sample("regions", statistics, 5, seed=0)


def test_default_samplers_run_regions_only_where_the_analysis_has_regions():
    default = list(DEFAULT_SAMPLERS)
    assert "regions" in default and "regions-ellipsoid" not in default
    assert "regions-ellipsoid" in SAMPLERS
    assert resolve_samplers(default, default, True, "a") == (default, [])
    kept, dropped = resolve_samplers(default, default, False, "a")
    assert "regions" not in kept and dropped == ["regions"]
    assert kept == [name for name in default if name != "regions"]
    assert resolve_samplers(["mvn"], default, False, "a") == (["mvn"], [])
    with pytest.raises(LsfError, match="rerun `lsf analyze` with analyze.regions: true"):
        resolve_samplers(["mvn", "regions-ellipsoid"], default, False, "work/analysis")


def test_a_region_with_nan_moments_is_never_drawn(fragmentation):
    import copy

    tiny = copy.deepcopy(fragmentation)
    tiny.means, tiny.covariances = tiny.means.copy(), tiny.covariances.copy()
    tiny.means[2], tiny.covariances[2] = np.nan, np.nan  # a region of fewer than 2 rows
    mixture = RegionMixture.from_fragmentation(tiny)
    shares = np.asarray(tiny.shares)[:2]
    np.testing.assert_allclose(mixture.weights, [*(shares / shares.sum()), 0.0], rtol=1e-12)
    x, labels, _ = mixture.draw(1001, np.random.default_rng(0))
    assert 2 not in labels and np.isfinite(x).all()
