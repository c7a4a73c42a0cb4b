"""The fact sweep (lsf.stats.fact_sweep) against numpy oracles on generated data: moments and
PCA of every fact's survivors, axis angles, the streamed core alignment (a planted rotated
core with a known angle) and the per-fact pair histograms (np.histogram2d)."""

import json
from functools import reduce

import numpy as np
import pytest

from lsf.stats.core_alignment import principal_axis_angle
from lsf.stats.fact_sweep import (
    axis_angles,
    chunk_core_moments,
    chunk_fact_pair_counts,
    combine_core_moments,
    core_alignment_angles,
    core_ellipses,
    fact_moments_of,
    fact_pcas,
    sweep_pair_edges,
    sweep_pairs,
    sweep_summary,
)
from lsf.stats.moments import finish_moments
from lsf.stats.pca import pca_from_covariance
from lsf.stats.trimming import (
    chunk_shell_moments,
    combine_shell_moments,
    fact_moment_sums,
    trim_radius,
)
from tests.helpers import assert_close_to_scale

FACTS = [0.6, 0.9, 1.2, 1.8]


def _correlated(n: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d)) / np.sqrt(d) + np.diag(np.linspace(2.0, 0.5, d))
    return (rng.standard_t(6, size=(n, d)) @ mix + rng.normal(size=d)).astype(np.float32)


def _radius(x):
    return trim_radius(x, np.nanmedian(x, axis=0), 2.0 * np.nanstd(x, axis=0))


def _chunks(n: int, size: int):
    return [slice(s, min(s + size, n)) for s in range(0, n, size)]


def _streamed_fact_moments(x, radius, facts, size):
    """The analysis's path: shell sums per chunk, combined, added cumulatively, finished."""
    shift = np.nanmean(x[:size].astype(np.float64), axis=0)
    facts = np.asarray(facts, dtype=np.float64)
    parts = [chunk_shell_moments(x[c], radius[c], facts, shift) for c in _chunks(len(x), size)]
    sums = fact_moment_sums(reduce(combine_shell_moments, parts))
    moments = [finish_moments(s, shift) if s["count"] >= 2 else None for s in sums]
    return fact_moments_of(moments, np.array([s["count"] for s in sums]))


@pytest.mark.parametrize("size", [97, 1000, 5000])
def test_fact_moments_equal_numpy_mean_and_cov_of_each_facts_survivors(size):
    x = _correlated(5000, 12, seed=1)
    x[[3, 777]] = np.nan  # non-finite rows are dropped
    radius = _radius(x)
    fm = _streamed_fact_moments(x, radius, FACTS, size)
    for f, fact in enumerate(FACTS):
        rows = x[radius < fact].astype(np.float64)
        assert fm.count[f] == len(rows)
        np.testing.assert_allclose(fm.mean[f], rows.mean(axis=0), rtol=1e-9, atol=1e-9)
        expected = np.cov(rows, rowvar=False)
        scale = np.sqrt(np.outer(np.diag(expected), np.diag(expected)))
        # shifted float64 sums: 1e-9 relative to each entry's scale
        assert np.abs(fm.cov[f] - expected).max() <= 1e-9 * scale.max()
        assert_close_to_scale(np.diag(fm.cov[f]), np.diag(expected), rtol=1e-9)
    assert fm.count[-1] < 4998 and fm.count[0] > 2  # the facts really trim


def test_a_fact_without_survivors_has_nan_moments_and_nan_pca():
    x = _correlated(300, 4, seed=2)
    radius = _radius(x)
    facts = [1e-6, 2e-6, 1.0]
    fm = _streamed_fact_moments(x, radius, facts, 128)
    assert fm.count[:2].tolist() == [0, 0]
    assert np.isnan(fm.cov[0]).all() and np.isfinite(fm.cov[2]).all()
    pcas = fact_pcas(fm)
    assert np.isnan(pcas[0].explained_variance).all() and pcas[2].rank == 4


def test_fact_pcas_and_axis_angles_match_a_direct_eigendecomposition():
    x = _correlated(4000, 6, seed=3)
    radius = _radius(x)
    fm = _streamed_fact_moments(x, radius, FACTS, 1000)
    pcas = fact_pcas(fm)
    basis = pca_from_covariance(x.mean(axis=0), np.cov(x.astype(np.float64), rowvar=False))
    angles = axis_angles(pcas, basis.components, 3)
    assert angles.shape == (len(FACTS), 3)
    for f, fact in enumerate(FACTS):
        values, vectors = np.linalg.eigh(np.cov(x[radius < fact].astype(np.float64), rowvar=False))
        assert_close_to_scale(pcas[f].explained_variance, values[::-1], rtol=1e-5)
        for k in range(3):
            cosine = abs(vectors[:, -1 - k] @ basis.components[k])
            expected = np.degrees(np.arccos(min(cosine, 1.0)))
            assert angles[f, k] == pytest.approx(expected, abs=1e-6)
    assert (angles >= 0).all() and (angles <= 90).all()
    np.testing.assert_allclose(axis_angles([basis], basis.components, 6), 0.0, atol=1e-5)


def test_sweep_pairs_are_row_major_upper_triangle():
    assert sweep_pairs(4).tolist() == [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]]
    assert len(sweep_pairs(10)) == 45


def _brute_force_core(scores, radius, facts, pairs):
    """Loops: each fact's own pair mean/cov from numpy, the points inside its 1-sigma
    ellipse, their count and principal-axis angle."""
    counts = np.zeros((len(facts), len(pairs)), dtype=np.int64)
    angles = np.full((len(facts), len(pairs)), np.nan)
    for f, fact in enumerate(facts):
        rows = scores[radius < fact]
        for p, (i, j) in enumerate(pairs):
            xy = rows[:, [i, j]]
            centre, cov = xy.mean(axis=0), np.cov(xy, rowvar=False)
            delta = xy - centre
            d2 = np.einsum("ni,ij,nj->n", delta, np.linalg.inv(cov), delta)
            core = xy[d2 <= 1.0]
            counts[f, p] = len(core)
            if len(core) >= 3:
                angles[f, p] = principal_axis_angle(np.cov(core, rowvar=False, ddof=0))
    return counts, angles


def test_streamed_core_alignment_equals_a_brute_force_loop():
    x = _correlated(3000, 7, seed=4).astype(np.float64)
    radius = _radius(x)
    fm = _streamed_fact_moments(x, radius, FACTS, 700)
    basis = pca_from_covariance(x.mean(axis=0), np.cov(x, rowvar=False))
    pairs = sweep_pairs(4)
    ellipses = core_ellipses(fm, basis.mean, basis.components, pairs)
    scores = (x - basis.mean) @ basis.components[:4].T
    parts = [
        chunk_core_moments(scores[c], radius[c], FACTS, ellipses) for c in _chunks(len(x), 700)
    ]
    sums = reduce(combine_core_moments, parts)
    counts, expected = _brute_force_core(scores, radius, FACTS, pairs)
    assert np.array_equal(sums["count"], counts)
    np.testing.assert_allclose(core_alignment_angles(sums), expected, atol=1e-8)


def _planted_core(theta_degrees: float, m: int = 20000, seed: int = 5) -> tuple:
    """A 2D core N(0, diag(1, 0.25)) rotated by theta, made reflection-symmetric about its
    own axes (so any centred circle cuts it without turning it), plus an outer shell of 10 %
    of the points on the core's axes chosen so that the whole set has covariance s^2 I.
    Returns (points [n, 2], trim radius [n]: 0.5 in the core, 1.5 in the shell)."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(m, 2)) * [1.0, 0.5]
    core = np.concatenate([base * s for s in ([1, 1], [-1, 1], [1, -1], [-1, -1])])
    n_core, n_shell = len(core), len(core) // 10
    s2 = 1.5
    var = (core**2).mean(axis=0)  # exact second moments in the core frame (cross term 0)
    lam = ((n_core + n_shell) * s2 - n_core * var) / n_shell
    q = n_shell // 4
    a, b = np.sqrt(2 * lam)  # points at +-a, +-b on the axes: second moments lam
    shell = np.concatenate([np.tile(v, (q, 1)) for v in ([a, 0], [-a, 0], [0, b], [0, -b])])
    t = np.radians(theta_degrees)
    rotation = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    points = np.concatenate([core, shell]) @ rotation.T
    radius = np.concatenate([np.full(n_core, 0.5), np.full(len(shell), 1.5)])
    return points, radius


@pytest.mark.parametrize("theta", [0.0, 12.0, 35.0, 70.0])
def test_core_alignment_of_a_rotated_core_is_its_rotation_angle(theta):
    points, radius = _planted_core(theta)
    facts = [1.0, 2.0]  # fact 0: the core only; fact 1: core + shell
    fm = _streamed_fact_moments(points, radius, facts, 4096)
    # with the shell the whole set is isotropic: its PCA axes are the coordinate axes
    np.testing.assert_allclose(fm.cov[1], 1.5 * np.eye(2), atol=1e-3)
    ellipses = core_ellipses(fm, np.zeros(2), np.eye(2), sweep_pairs(2))
    parts = [
        chunk_core_moments(points[c], radius[c], facts, ellipses)
        for c in _chunks(len(points), 4096)
    ]
    angles = core_alignment_angles(reduce(combine_core_moments, parts))
    np.testing.assert_allclose(angles[:, 0], theta, atol=1e-6)


def test_core_alignment_of_a_random_axis_aligned_normal_is_near_zero():
    rng = np.random.default_rng(8)
    points = rng.normal(size=(80000, 3)) * [2.0, 1.0, 0.7]
    radius = rng.uniform(0, 2, size=len(points))  # trimming independent of the shape
    facts = [0.5, 1.0, 2.0]
    fm = _streamed_fact_moments(points, radius, facts, 4096)
    ellipses = core_ellipses(fm, np.zeros(3), np.eye(3), sweep_pairs(3))
    parts = [
        chunk_core_moments(points[c], radius[c], facts, ellipses)
        for c in _chunks(len(points), 4096)
    ]
    angles = core_alignment_angles(reduce(combine_core_moments, parts))
    # sampling noise only: ~0.3 degrees at 20,000 points for these variance ratios
    assert np.nanmax(angles) < 1.5 and np.isfinite(angles).all()


def test_core_alignment_is_nan_without_an_ellipse():
    points, radius = _planted_core(20.0, m=100)
    facts = [0.1, 2.0]  # no survivors at 0.1
    fm = _streamed_fact_moments(points, radius, facts, 4096)
    ellipses = core_ellipses(fm, np.zeros(2), np.eye(2), sweep_pairs(2))
    sums = chunk_core_moments(points, radius, facts, ellipses)
    angles = core_alignment_angles(sums)
    assert sums["count"][0, 0] == 0 and np.isnan(angles[0, 0]) and np.isfinite(angles[1, 0])


def test_sweep_pair_edges_pick_each_pairs_component_edges():
    component_edges = np.arange(3 * 5, dtype=float).reshape(3, 5)
    edges = sweep_pair_edges(component_edges, sweep_pairs(3))
    assert edges.shape == (3, 2, 5)
    assert edges[2, 0].tolist() == component_edges[1].tolist()  # pair (1, 2): x is 1
    assert edges[2, 1].tolist() == component_edges[2].tolist()


def test_fact_pair_counts_equal_histogram2d_of_each_facts_survivors():
    rng = np.random.default_rng(6)
    scores = rng.normal(size=(2500, 4)) * [1.0, 2.0, 0.5, 1.5]
    scores[10] = np.nan
    radius = rng.uniform(0, 2, size=len(scores))
    pairs = sweep_pairs(4)
    bins = 9
    edges = np.stack(
        [[np.linspace(-2.0 * (i + 1) / 2, 2.5, bins + 1) for i in pair] for pair in pairs]
    )
    edges[0, 0, -1] = scores[20, 0] = 2.5  # a value on the last edge is counted, as numpy
    counts = sum(
        chunk_fact_pair_counts(scores[c], radius[c], FACTS, pairs, edges)
        for c in _chunks(len(scores), 600)
    )
    assert counts.dtype == np.uint32 and counts.shape == (len(FACTS), len(pairs), bins, bins)
    finite = np.isfinite(scores).all(axis=1)
    for f, fact in enumerate(FACTS):
        rows = scores[finite & (radius < fact)]
        for p, (i, j) in enumerate(pairs):
            expected, _, _ = np.histogram2d(rows[:, i], rows[:, j], bins=[edges[p, 0], edges[p, 1]])
            assert np.array_equal(counts[f, p], expected.astype(np.uint32)), (f, p)


def test_sweep_summary_reduces_per_fact_and_finds_the_worst_pair_at_trim_fact():
    pairs = sweep_pairs(3)  # (0,1), (0,2), (1,2)
    core = np.array([[1.0, 5.0, np.nan], [2.0, 3.0, 30.0], [np.nan, np.nan, np.nan]])
    axes = np.array([[0.5, 4.0], [1.0, 2.0], [np.nan, np.nan]])
    summary = sweep_summary([1.0, 1.5, 2.0], np.array([50, 80, 100]), 100, axes, core, pairs, 1.5)
    assert summary["survivor_fraction"] == [0.5, 0.8, 1.0]
    assert summary["axis_angle_max_first_k"] == [4.0, 2.0, None]
    assert summary["core_alignment_median"] == [3.0, 3.0, None]
    assert summary["core_alignment_max"] == [5.0, 30.0, None]
    assert summary["worst_pair"] == [1, 2]
    json.dumps(summary, allow_nan=False)
    assert (
        sweep_summary([1.0, 1.5, 2.0], [1, 2, 3], 3, axes, core, pairs, None)["worst_pair"] is None
    )
