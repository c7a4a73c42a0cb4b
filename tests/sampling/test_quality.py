"""The sample-quality metrics (lsf.sampling.quality, memorisation, interpolation) against
independent oracles on generated features: the eigh route of the Frechet distance, KID's
sums written out, the `prdc` reference package, Naeem et al.'s closed-form coverage, scipy's
t-interval, brute-force nearest neighbours and the closed-form slerp."""

import numpy as np
import pytest
from scipy import spatial, stats

from lsf.sampling.interpolation import linear_midpoints, spherical_midpoints
from lsf.sampling.memorisation import (
    TrainingIndex,
    closest_pairs,
    memorisation_threshold,
    memorised_share,
)
from lsf.sampling.metrics import frechet_distance, frechet_distance_of
from lsf.sampling.quality import (
    draw_seeds,
    estimate,
    kernel_inception_distance,
    kth_neighbour_radii,
    neighbour_metrics,
    unbiased_mmd2,
)


def _eigh_frechet(mu1, c1, mu2, c2) -> float:
    """tr((C1 C2)^1/2) as the sum of square roots of the eigenvalues of C1^1/2 C2 C1^1/2."""
    w, v = np.linalg.eigh(c1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = np.linalg.eigvalsh(root1 @ c2 @ root1)
    trace_root = np.sqrt(np.clip(inner, 0, None)).sum()
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(c1) + np.trace(c2) - 2 * trace_root)


@pytest.mark.parametrize("dim", [3, 16, 64])
def test_frechet_distance_matches_the_eigh_formulation(dim):
    rng = np.random.default_rng(dim)
    a, b = rng.standard_normal((dim, dim)), rng.standard_normal((dim, dim))
    c1, c2 = a @ a.T / dim + 0.1 * np.eye(dim), b @ b.T / dim + 0.2 * np.eye(dim)
    mu1, mu2 = rng.standard_normal(dim), rng.standard_normal(dim)
    expected = _eigh_frechet(mu1, c1, mu2, c2)
    assert frechet_distance(mu1, c1, mu2, c2) == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_frechet_distance_of_rank_deficient_features_matches_the_eigh_formulation():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 3)) @ rng.standard_normal((3, 10))  # rank 3 in 10 dims
    y = rng.standard_normal((50, 10)) + 0.5
    c1, c2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    expected = _eigh_frechet(x.mean(0), c1, y.mean(0), c2)
    assert frechet_distance_of(x, y) == pytest.approx(expected, rel=1e-6, abs=1e-6)


def _mmd2_by_sums(x, y) -> float:
    """Binkowski et al.'s unbiased estimator written as explicit sums over index pairs."""
    m, n, d = len(x), len(y), x.shape[1]

    def k(a, b):
        return (a @ b / d + 1.0) ** 3

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j)
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n))
    return xx / (m * (m - 1)) + yy / (n * (n - 1)) - 2 * xy / (m * n)


@pytest.mark.parametrize("sizes", [(30, 30), (25, 40)])
def test_unbiased_mmd2_matches_the_sums_over_index_pairs(sizes):
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((sizes[0], 5)), rng.standard_normal((sizes[1], 5)) + 0.3
    assert unbiased_mmd2(x, y) == pytest.approx(_mmd2_by_sums(x, y), rel=1e-9, abs=1e-12)


def test_kid_of_identical_distributions_is_zero_within_its_interval():
    rng = np.random.default_rng(5)
    draws = [
        kernel_inception_distance(rng.standard_normal((400, 8)), rng.standard_normal((400, 8)))
        for _ in range(8)
    ]
    e = estimate(draws)
    assert e.low < 0.0 < e.high


def test_kid_on_subsets_agrees_with_the_whole_sets_and_is_seeded():
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((600, 6)), rng.standard_normal((600, 6)) + 0.4
    whole = kernel_inception_distance(x, y)
    subsets = kernel_inception_distance(x, y, subsets=50, subset_size=200, seed=1)
    assert subsets == pytest.approx(whole, rel=0.15)
    assert subsets == kernel_inception_distance(x, y, subsets=50, subset_size=200, seed=1)


def test_neighbour_metrics_equal_the_prdc_reference_implementation():
    import prdc  # a test dependency (pyproject test extra): missing, the test fails

    rng = np.random.default_rng(7)
    real = rng.standard_normal((700, 8))
    generated = 1.2 * rng.standard_normal((1300, 8)) + 0.2  # > one block of 1024 rows
    ours = neighbour_metrics(real, generated, k=5)
    reference = prdc.compute_prdc(real, generated, nearest_k=5)
    for name in ("precision", "recall", "density", "coverage"):
        assert getattr(ours, name) == pytest.approx(float(reference[name]), abs=1e-12)


def test_kth_neighbour_radii_match_brute_force_distances():
    x = np.random.default_rng(8).standard_normal((300, 4))
    d = spatial.distance.cdist(x, x)
    expected = np.sort(d, axis=1)[:, 3]
    np.testing.assert_allclose(kth_neighbour_radii(x, 3), expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("k", [3, 5])
def test_identical_distributions_have_density_one_and_the_closed_form_coverage(k):
    rng = np.random.default_rng(9 + k)
    n = 800
    runs = [
        neighbour_metrics(rng.standard_normal((n, 6)), rng.standard_normal((n, 6)), k)
        for _ in range(6)
    ]
    density = np.mean([r.density for r in runs])
    coverage = np.mean([r.coverage for r in runs])
    # Naeem et al. (2020), eq. for M = N: 1 - prod_{i=1..k} (N - i) / (2N - i) ~ 1 - 2^-k
    expected = 1 - np.prod([(n - i) / (2 * n - i) for i in range(1, k + 1)])
    assert density == pytest.approx(1.0, abs=0.05)
    assert coverage == pytest.approx(expected, abs=0.02)
    assert abs(expected - (1 - 2.0**-k)) < 1e-3


def test_every_metric_is_monotone_in_a_shift_of_the_generated_set():
    rng = np.random.default_rng(10)
    real = rng.standard_normal((600, 6))
    fresh = rng.standard_normal((600, 6))
    rows = []
    for shift in (0.0, 0.5, 1.0, 2.0):
        moved = fresh + shift
        m = neighbour_metrics(real, moved)
        rows.append(
            (
                frechet_distance_of(real, moved),
                kernel_inception_distance(real, moved),
                m.precision,
                m.recall,
                m.density,
                m.coverage,
            )
        )
    fd, kid, precision, recall, density, coverage = np.array(rows).T
    assert np.all(np.diff(fd) > 0) and np.all(np.diff(kid) > 0)
    for falling in (precision, recall, density, coverage):
        assert np.all(np.diff(falling) < 0)


def test_estimate_is_the_mean_with_scipys_t_interval():
    draws = [3.0, 3.4, 2.9, 3.8, 3.1]
    e = estimate(draws)
    low, high = stats.t.interval(0.95, 4, loc=np.mean(draws), scale=stats.sem(draws))
    assert e.value == pytest.approx(np.mean(draws), rel=1e-12)
    assert (e.low, e.high) == pytest.approx((low, high), rel=1e-9)
    single = estimate([2.0])
    assert single.low is None and not single.apart_from(e)
    assert estimate([10.0, 10.1, 9.9]).apart_from(e) and not e.apart_from(estimate(draws))


def test_draw_seeds_are_reproducible_distinct_and_start_at_the_seed():
    seeds = draw_seeds(7, 5)
    assert seeds == draw_seeds(7, 5) and seeds[0] == 7 and len(set(seeds)) == 5
    assert draw_seeds(7, 1) == [7] and draw_seeds(8, 5) != seeds


def test_memorisation_flags_planted_copies_of_training_images():
    rng = np.random.default_rng(11)
    train = rng.standard_normal((2000, 10))
    held_out = rng.standard_normal((500, 10))
    index = TrainingIndex(train, ids=np.arange(2000) + 100)
    fresh = rng.standard_normal((300, 10))
    planted = rng.choice(2000, 100, replace=False)
    generated = np.concatenate([fresh, train[planted] + 1e-6 * rng.standard_normal((100, 10))])
    threshold = memorisation_threshold(index, held_out)
    brute = spatial.distance.cdist(held_out, train).min(axis=1)
    assert threshold == pytest.approx(np.median(brute), rel=1e-9)
    nearest = index.nearest(generated)
    # sklearn's |x|^2 + |y|^2 - 2 x.y route: ~1e-15 * |x|^2 in d^2, ~1e-9 in d near a copy
    np.testing.assert_allclose(
        nearest.distances, spatial.distance.cdist(generated, train).min(axis=1), atol=1e-8
    )
    share = memorised_share(nearest, threshold)
    fresh_share = memorised_share(index.nearest(fresh), threshold)
    assert fresh_share == pytest.approx(0.5, abs=0.1)  # new images: like held-out ones
    assert share == pytest.approx((100 + fresh_share * 300) / 400, abs=1e-12)
    rows, train_rows = closest_pairs(nearest, 100)
    assert set(rows.tolist()) == set(range(300, 400))
    assert np.array_equal(np.sort(train_rows), np.sort(planted))
    assert index.ids[train_rows[0]] == planted[rows[0] - 300] + 100


def test_midpoints_match_the_closed_forms():
    a = np.array([[1.0, 0.0, 0.0], [2.0, 0.0, 5.0]])
    b = np.array([[0.0, 1.0, 0.0], [0.0, 2.0, 5.0]])
    centre = np.array([0.0, 0.0, 5.0])
    np.testing.assert_allclose(linear_midpoints(a, b), (a + b) / 2, rtol=1e-12)
    mid = spherical_midpoints(a, b, centre)
    # first pair: unit vectors about (0,0,5) -> (1,0,-5) and (0,1,-5); second: orthogonal
    # radius-2 vectors: the midpoint keeps the radius on the bisector
    u, v = a - centre, b - centre
    for row in range(2):
        cos = u[row] @ v[row] / np.linalg.norm(u[row]) / np.linalg.norm(v[row])
        omega = np.arccos(cos)
        expected = (np.sin(omega / 2) / np.sin(omega)) * (u[row] + v[row])
        np.testing.assert_allclose(mid[row], centre + expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mid[1], [np.sqrt(2), np.sqrt(2), 5.0], rtol=1e-12)
