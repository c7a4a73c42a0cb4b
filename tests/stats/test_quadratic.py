"""The shared covariance algebra (lsf.stats.quadratic) against independent oracles on
generated data: scipy.spatial.distance.mahalanobis, numpy.linalg and explicit loops."""

import dataclasses
import math

import numpy as np
import pytest
from scipy.spatial.distance import mahalanobis

from lsf.stats.normality import whitening
from lsf.stats.pca import pca_from_covariance
from lsf.stats.quadratic import (
    basis_covariance,
    covariance_whitening,
    pair_covariance,
    projected_covariance,
    quadratic_form_2d,
    squared_mahalanobis,
)
from tests.helpers import assert_close_to_scale

D = 6


def covariance(seed: int, d: int = D, scale: float = 1.0) -> np.ndarray:
    """A positive-definite covariance of condition number ~10 (float64 oracles hold at 1e-9)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((d, d))
    return scale * (a @ a.T / d + np.diag(np.linspace(0.3, 1.5, d)))


@pytest.fixture(scope="module")
def rows():
    rng = np.random.default_rng(0)
    cov = covariance(1, scale=40.0)  # values of tens, not ones: tolerances scale with them
    mean = 5 * rng.standard_normal(D)
    return rng.multivariate_normal(mean, cov, size=400), mean, cov


def test_pair_covariance_gathers_the_pair_entries():
    cov = covariance(2)
    for i, j in [(0, 1), (4, 2), (5, 5)]:
        expected = [[cov[i, i], cov[i, j]], [cov[j, i], cov[j, j]]]
        np.testing.assert_array_equal(pair_covariance(cov, i, j), expected)
        np.testing.assert_array_equal(pair_covariance(cov, i, j), cov[np.ix_([i, j], [i, j])])


def test_pair_covariance_of_index_arrays_and_stacks_is_every_pair_of_every_matrix():
    stack = np.stack([covariance(s) for s in range(3)])  # [F, D, D]
    pairs = np.array([[0, 1], [2, 5], [4, 3]])
    got = pair_covariance(stack, pairs[:, 0], pairs[:, 1])
    assert got.shape == (3, len(pairs), 2, 2)
    for f in range(3):
        for p, (i, j) in enumerate(pairs):
            np.testing.assert_array_equal(got[f, p], stack[f][np.ix_([i, j], [i, j])])


def _loop_projection(cov: np.ndarray, axes: np.ndarray) -> np.ndarray:
    k, d = axes.shape
    return np.array(
        [
            [
                math.fsum(axes[a, p] * cov[p, q] * axes[b, q] for p in range(d) for q in range(d))
                for b in range(k)
            ]
            for a in range(k)
        ]
    )


def test_projected_covariance_is_the_covariance_of_the_projected_rows(rows):
    x, _, _ = rows
    axes = np.random.default_rng(3).standard_normal((3, D))
    cov = np.cov(x, rowvar=False)
    got = projected_covariance(cov, axes)
    assert_close_to_scale(got, _loop_projection(cov, axes), rtol=1e-9)
    assert_close_to_scale(got, np.cov(x @ axes.T, rowvar=False), rtol=1e-9)


def test_projected_covariance_of_a_stack_projects_each_matrix():
    stack = np.stack([covariance(s, scale=1 + s) for s in range(4)])
    axes = np.random.default_rng(4).standard_normal((2, D))
    got = projected_covariance(stack, axes)
    assert got.shape == (4, 2, 2)
    for f in range(4):
        assert_close_to_scale(got[f], _loop_projection(stack[f], axes), rtol=1e-9)


def test_basis_covariance_rebuilds_the_covariance_a_full_pca_decomposed():
    cov = covariance(5, scale=30.0)
    pca = pca_from_covariance(np.zeros(D), cov)
    got = basis_covariance(pca.components, pca.explained_variance)
    assert_close_to_scale(got, cov, rtol=1e-9)
    c, v = pca.components[:2], pca.explained_variance[:2]  # the first two components only
    loop = [
        [math.fsum(v[k] * c[k, a] * c[k, b] for k in range(2)) for b in range(D)] for a in range(D)
    ]
    assert_close_to_scale(basis_covariance(c, v), loop, rtol=1e-9)


def test_covariance_whitening_is_the_inverse_cholesky_factor():
    cov = covariance(6, scale=25.0)
    white = covariance_whitening(cov)
    assert np.allclose(np.tril(white, -1), 0)  # upper triangular, as scikit-learn's factor
    inverse = np.linalg.inv(cov)
    assert_close_to_scale(white @ white.T, inverse, rtol=1e-9)
    assert_close_to_scale(white.T @ cov @ white, np.eye(D), rtol=1e-9)
    assert_close_to_scale(white, np.linalg.inv(np.linalg.cholesky(cov)).T, rtol=1e-9)


def test_covariance_whitening_of_a_stack_whitens_each_and_refuses_a_singular_one():
    stack = np.stack([covariance(s, scale=2 + s) for s in range(3)])
    got = covariance_whitening(stack)
    for f in range(3):
        assert_close_to_scale(got[f], covariance_whitening(stack[f]), rtol=1e-12)
    with pytest.raises(np.linalg.LinAlgError):
        covariance_whitening(np.array([[1.0, 1.0], [1.0, 1.0]]))


def test_squared_mahalanobis_equals_scipy_mahalanobis_squared(rows):
    x, mean, cov = rows
    precision = np.linalg.inv(cov)
    expected = np.array([mahalanobis(r, mean, precision) ** 2 for r in x])
    got = squared_mahalanobis(x, mean, covariance_whitening(cov))
    assert_close_to_scale(got, expected, rtol=1e-9)
    assert (got >= 0).all()


def test_squared_mahalanobis_of_float32_rows_is_float64(rows):
    x, mean, cov = rows
    got = squared_mahalanobis(x.astype(np.float32), mean, covariance_whitening(cov))
    x32 = x.astype(np.float32).astype(np.float64)
    precision = np.linalg.inv(cov)
    expected = np.array([mahalanobis(r, mean, precision) ** 2 for r in x32])
    assert got.dtype == np.float64
    assert_close_to_scale(got, expected, rtol=1e-9)


def test_squared_mahalanobis_through_a_pca_whitening_uses_the_pseudo_inverse_on_its_rank():
    rng = np.random.default_rng(7)
    mix = rng.standard_normal((4, D))  # rank 4 in 6 dimensions
    x = rng.standard_normal((300, 4)) @ mix + 3.0
    mean, cov = x.mean(axis=0), np.cov(x, rowvar=False)
    # the whitening of the 4 real components: the two null directions carry rounding noise
    pca = dataclasses.replace(pca_from_covariance(mean, cov), rank=4)
    pseudo = np.linalg.pinv(cov, rcond=1e-10, hermitian=True)
    expected = [float((r - mean) @ pseudo @ (r - mean)) for r in x]
    assert_close_to_scale(squared_mahalanobis(x, mean, whitening(pca)), expected, rtol=1e-8)


def test_squared_mahalanobis_of_a_pair_equals_a_2x2_loop(rows):
    x, mean, cov = rows
    cov2 = pair_covariance(cov, 1, 4)
    inverse = np.linalg.inv(cov2)
    expected = []
    for r in x:
        d = (r[1] - mean[1], r[4] - mean[4])
        expected.append(math.fsum(d[a] * inverse[a, b] * d[b] for a in range(2) for b in range(2)))
    got = squared_mahalanobis(x[:, [1, 4]], mean[[1, 4]], covariance_whitening(cov2))
    assert_close_to_scale(got, expected, rtol=1e-9)


def test_quadratic_form_2d_on_a_grid_equals_a_loop_over_its_points():
    precision = np.linalg.inv(covariance(8, d=2, scale=3.0))
    dx, dy = np.linspace(-4, 4, 9), np.linspace(-2, 5, 7)
    got = quadratic_form_2d(precision, dx[:, None], dy[None, :])
    assert got.shape == (9, 7)
    expected = [[np.array([a, b]) @ precision @ np.array([a, b]) for b in dy] for a in dx]
    assert_close_to_scale(got, expected, rtol=1e-9)
    points = np.stack(np.meshgrid(dx, dy, indexing="ij"), axis=-1).reshape(-1, 2)
    white = covariance_whitening(np.linalg.inv(precision))
    same = squared_mahalanobis(points, np.zeros(2), white).reshape(9, 7)
    assert_close_to_scale(got, same, rtol=1e-9)


def test_quadratic_form_2d_of_a_batch_of_grids_takes_each_grids_precision():
    precisions = np.linalg.inv(np.stack([covariance(s, d=2, scale=1 + s) for s in range(3)]))
    dx = np.linspace(-1, 1, 5)[None, :, None] * np.array([1.0, 2.0, 3.0])[:, None, None]
    dy = np.linspace(-2, 2, 4)[None, None, :] * np.ones(3)[:, None, None]
    got = quadratic_form_2d(precisions[:, None, None], dx, dy)
    assert got.shape == (3, 5, 4)
    for p in range(3):
        alone = quadratic_form_2d(precisions[p], dx[p], dy[p])
        np.testing.assert_array_equal(got[p], alone)
