"""The regions math against known truth and independent oracles: separated normals give
their number of regions, one blob (normal, banana, skewed) gives one, the ridgeline and the
gap densities equal direct evaluations of the mixture (scipy), the merging is transitive."""

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

from lsf.stats.region_gaps import climb, gaps, region_peaks, segment, separations
from lsf.stats.regions import (
    Mixture,
    assign,
    closest_regions,
    dip_ratio,
    fit_mixtures,
    hdbscan_labels,
    log_density,
    merge_components,
    region_normals,
    ridgeline,
    ridgeline_ratios,
)


def regions_of(x, max_k=4, threshold=0.5):
    sweep = fit_mixtures(x, max_k, 0, 5 * x.shape[1])
    component_region, merges = merge_components(ridgeline_ratios(sweep.mixture), threshold)
    return sweep, component_region, merges


def scipy_log_density(points, mixture: Mixture) -> np.ndarray:
    parts = [
        np.log(w) + stats.multivariate_normal(m, c).logpdf(points)
        for w, m, c in zip(mixture.weights, mixture.means, mixture.covariances, strict=True)
    ]
    return logsumexp(np.stack(parts, axis=1), axis=1)


def random_mixture(rng, m=3, k=5) -> Mixture:
    a = rng.standard_normal((m, k, k))
    covs = a @ a.transpose(0, 2, 1) / k + 0.5 * np.eye(k)
    return Mixture(rng.dirichlet(np.ones(m)), 3 * rng.standard_normal((m, k)), covs)


def test_three_separated_normals_in_32_d_are_three_regions():
    rng = np.random.default_rng(0)
    centres = 4 * rng.standard_normal((3, 32))
    truth = np.repeat(np.arange(3), 1000)
    x = centres[truth] + rng.standard_normal((len(truth), 32))
    sweep, component_region, _ = regions_of(x)
    assert component_region.max() + 1 == 3
    found = closest_regions(x, sweep.mixture, component_region)
    assert adjusted_rand_score(truth, found) >= 0.95


def test_one_normal_is_one_region():
    x = np.random.default_rng(1).standard_normal((2000, 6)) @ np.diag([3, 2, 1, 1, 0.5, 0.2])
    _, component_region, _ = regions_of(x)
    assert component_region.max() == 0


@pytest.mark.parametrize("shape", ["banana", "exponential"])
def test_one_curved_or_skewed_blob_that_bic_splits_is_one_region(shape):
    rng = np.random.default_rng(2)
    n = 3000
    if shape == "banana":
        t = rng.uniform(-np.pi / 2, np.pi / 2, n)
        x = rng.standard_normal((n, 4))
        x[:, 0] += 5 * np.sin(t)
        x[:, 1] += 5 * np.cos(t)
    else:
        x = rng.standard_normal((n, 4))
        x[:, 0] = rng.exponential(1.0, n)
    sweep, component_region, merges = regions_of(x, max_k=6)
    assert sweep.chosen_k > 1  # BIC splits it ...
    assert component_region.max() == 0  # ... and the ridgeline merges it back
    assert len(merges) == sweep.chosen_k - 1


@pytest.mark.parametrize(("sigmas", "expected"), [(2.0, 1), (8.0, 2)])
def test_two_normals_apart_by_sigmas(sigmas, expected):
    x = np.random.default_rng(3).standard_normal((3000, 4))
    x[:1500, 0] += sigmas
    _, component_region, _ = regions_of(x)
    assert component_region.max() + 1 == expected


@pytest.mark.parametrize(
    "shape, clusters",
    [("two", 2), ("three", 3), ("one", 1), ("banana", 1)],
)
def test_hdbscan_cross_check_finds_the_true_number_of_blobs(shape, clusters):
    """Known truth in 5-D, 2,000 rows, blobs mixed in random order: separated normals are
    as many clusters (adjusted Rand >= 0.95 with the truth on the rows not called noise);
    one normal or one banana is one cluster (HDBSCAN with `allow_single_cluster` alone
    called two separated blobs one cluster)."""
    rng = np.random.default_rng(4)
    if shape in ("one", "banana"):
        x, truth = rng.standard_normal((2000, 5)), np.zeros(2000, dtype=int)
        if shape == "banana":
            x[:, 1] += 0.5 * x[:, 0] ** 2
    else:
        truth = rng.integers(0, clusters, 2000)
        x = rng.standard_normal((2000, 5)) + 8 * np.eye(5)[truth]
    found = hdbscan_labels(x, 100)
    kept = found >= 0
    assert found.max() + 1 == clusters and kept.mean() > 0.04
    assert adjusted_rand_score(truth[kept], found[kept]) >= 0.95


def test_log_density_equals_scipy_and_sklearn():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((500, 3)) + np.repeat([[0, 0, 0], [4, 0, 1]], 250, axis=0)
    model = GaussianMixture(2, covariance_type="full", random_state=0).fit(x)
    mixture = Mixture(model.weights_, model.means_, model.covariances_)
    np.testing.assert_allclose(log_density(x, mixture), model.score_samples(x), rtol=1e-9)
    np.testing.assert_allclose(log_density(x, mixture), scipy_log_density(x, mixture), rtol=1e-9)
    found = closest_regions(x, mixture, np.array([0, 1]))
    np.testing.assert_array_equal(found, model.predict(x))


def test_ridgeline_joins_the_means_and_is_straight_for_equal_covariances():
    rng = np.random.default_rng(5)
    mixture = random_mixture(rng)
    m1, m2 = mixture.means[:2]
    s1, s2 = mixture.covariances[:2]
    line = ridgeline(m1, s1, m2, s2, np.array([0.0, 0.3, 1.0]))
    np.testing.assert_allclose(line[0], m1, atol=1e-12)
    np.testing.assert_allclose(line[2], m2, atol=1e-12)
    equal = ridgeline(m1, s1, m2, s1, np.linspace(0, 1, 5))
    np.testing.assert_allclose(equal, segment(m1, m2, 5), atol=1e-12)
    # the closed form at a = 0.3: the stationary point of (1-a) log N1 + a log N2
    p1, p2 = np.linalg.inv(s1), np.linalg.inv(s2)
    gradient = 0.7 * p1 @ (m1 - line[1]) + 0.3 * p2 @ (m2 - line[1])
    np.testing.assert_allclose(gradient, 0, atol=1e-9)


def test_dip_ratio_of_a_profile():
    profile = np.log(np.array([1.0, 0.5, 0.2, 0.6, 0.8, 0.7]))
    assert dip_ratio(profile) == pytest.approx(0.2 / 0.8, rel=1e-12)
    assert dip_ratio(np.log(np.array([0.1, 0.5, 1.0, 0.4]))) == pytest.approx(1.0)


def test_merging_is_transitive_and_highest_ratio_first():
    ratios = np.eye(5)
    for i, j, r in [(0, 1, 0.9), (1, 2, 0.6), (3, 4, 0.55), (2, 3, 0.3), (0, 2, 0.1)]:
        ratios[i, j] = ratios[j, i] = r
    component_region, merges = merge_components(ratios, 0.5)
    assert component_region.tolist() == [0, 0, 0, 1, 1]
    assert merges == [(0, 1, 0.9), (1, 2, 0.6), (3, 4, 0.55)]
    assert merge_components(ratios, 0.95)[0].tolist() == [0, 1, 2, 3, 4]


def test_region_normals_are_the_moments_of_their_components():
    rng = np.random.default_rng(6)
    mixture = random_mixture(rng, m=3, k=2)
    normals = region_normals(mixture, np.array([0, 0, 1]))
    w = mixture.weights[:2] / mixture.weights[:2].sum()
    means, covs = mixture.means[:2], mixture.covariances[:2]
    draws = [rng.multivariate_normal(m, c, 200_000) for m, c in zip(means, covs, strict=True)]
    x = np.concatenate([d[: int(200_000 * wi)] for d, wi in zip(draws, w, strict=True)])
    np.testing.assert_allclose(normals.weights, [mixture.weights[:2].sum(), mixture.weights[2]])
    np.testing.assert_allclose(normals.means[0], x.mean(axis=0), atol=0.02)
    np.testing.assert_allclose(normals.covariances[0], np.cov(x.T), atol=0.05)
    outer = np.einsum("mi,mj->mij", means, means)
    second = np.einsum("m,mij->ij", w, covs + outer)
    np.testing.assert_allclose(
        normals.covariances[0], second - np.outer(normals.means[0], normals.means[0]), rtol=1e-9
    )
    np.testing.assert_allclose(normals.means[1], mixture.means[2], rtol=1e-12)


def test_gap_equals_the_mixture_density_on_the_segment_over_the_smaller_peak():
    rng = np.random.default_rng(7)
    mixture = random_mixture(rng, m=3, k=4)
    component_region = np.array([0, 1, 2])
    normals = region_normals(mixture, component_region)
    peaks = region_peaks(mixture, component_region)
    result = gaps(normals.means, mixture, peaks)
    t = np.linspace(0, 1, 201)[:, None]
    for i, j in [(0, 1), (0, 2), (1, 2)]:
        points = (1 - t) * normals.means[i] + t * normals.means[j]
        direct = np.exp(scipy_log_density(points, mixture).min() - min(peaks[i], peaks[j]))
        assert result[i, j] == pytest.approx(min(direct, 1.0), rel=1e-9)
    assert np.allclose(np.diag(result), 1.0)


def test_a_peak_is_a_mode_of_the_mixture():
    rng = np.random.default_rng(8)
    mixture = random_mixture(rng, m=2, k=3)
    mode = climb(mixture.means[0].copy(), mixture)
    step = 1e-4
    here = log_density(mode[None], mixture)[0]
    around = np.concatenate([mode + step * np.eye(3), mode - step * np.eye(3)])
    assert (log_density(around, mixture) <= here + 1e-12).all()
    single = Mixture(np.ones(1), mixture.means[:1], mixture.covariances[:1])
    np.testing.assert_allclose(climb(np.zeros(3), single), mixture.means[0], atol=1e-8)


def test_separation_is_the_mahalanobis_distance_under_the_average_covariance():
    rng = np.random.default_rng(9)
    normals = random_mixture(rng, m=2, k=4)
    pooled = 0.5 * (normals.covariances[0] + normals.covariances[1])
    from scipy.spatial.distance import mahalanobis

    expected = mahalanobis(normals.means[0], normals.means[1], np.linalg.inv(pooled))
    assert separations(normals)[0, 1] == pytest.approx(expected, rel=1e-9)


def test_assign_labels_rows_beyond_the_radius_minus_one():
    rng = np.random.default_rng(10)
    mixture = random_mixture(rng, m=2, k=3)
    normals = region_normals(mixture, np.array([0, 1]))
    x = 4 * rng.standard_normal((400, 3))
    radius2 = np.array([7.8, 11.3])
    labels, closest, d2 = assign(x, mixture, np.array([0, 1]), normals, radius2)
    for row, label in enumerate(labels):
        r = closest[row]
        diff = x[row] - normals.means[r]
        expected = diff @ np.linalg.solve(normals.covariances[r], diff)
        assert d2[row] == pytest.approx(expected, rel=1e-9)
        assert label == (r if expected <= radius2[r] else -1)
    assert (labels == -1).any() and (labels >= 0).any()
