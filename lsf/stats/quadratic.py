"""Covariance algebra and squared Mahalanobis distances, written once for every module.

`pair_covariance` gathers the 2x2 covariance of a component pair, `projected_covariance` is a
covariance in other coordinates (`axes @ cov @ axes.T`), and `basis_covariance` is the
covariance a PCA describes (`C^T diag(variance) C`). `squared_mahalanobis` measures rows
through a whitening of their covariance (`covariance_whitening`, or a PCA's on its rank);
`quadratic_form_2d` evaluates the 2D form of a precision matrix on a grid of offsets.
Pure numpy; tests/stats/test_quadratic.py checks each against scipy, numpy.linalg or a loop.
"""

from __future__ import annotations

import numpy as np


def pair_covariance(cov, i, j) -> np.ndarray:
    """The 2x2 covariance of components (i, j), `cov[[i, j]][:, [i, j]]`: `cov [..., D, D]`
    with ints `i`, `j` gives `[..., 2, 2]`; with index arrays `[P]` it gives `[..., P, 2, 2]`
    (every pair at once)."""
    cov = np.asarray(cov)
    return np.stack(
        [
            np.stack([cov[..., i, i], cov[..., i, j]], axis=-1),
            np.stack([cov[..., j, i], cov[..., j, j]], axis=-1),
        ],
        axis=-2,
    )


def projected_covariance(cov, axes) -> np.ndarray:
    """The covariance of the coordinates `x @ axes.T` of rows of covariance `cov`:
    `axes @ cov @ axes.T`. `axes [K, D]` (one direction per row, e.g. PCA components),
    `cov [..., D, D]` -> `[..., K, K]`."""
    axes = np.asarray(axes)
    return axes @ cov @ axes.T


def basis_covariance(components, variance) -> np.ndarray:
    """The covariance a PCA describes, in the original coordinates:
    `components.T @ diag(variance) @ components` (`components [K, D]`, `variance [K]`) ->
    `[D, D]`; with every component (K = D) it is the covariance the PCA decomposed."""
    components = np.asarray(components)
    return components.T @ (np.asarray(variance)[:, None] * components)


def covariance_whitening(cov) -> np.ndarray:
    """`W = L^-T` for the Cholesky factor `L L^T = cov` of a positive-definite `cov [..., K,
    K]`: `(x - mean) @ W` has identity covariance and `W W^T = cov^-1` (scikit-learn's
    `precisions_cholesky_`). Raises `numpy.linalg.LinAlgError` when cov is not positive
    definite."""
    lower = np.linalg.cholesky(np.asarray(cov, dtype=np.float64))
    return np.swapaxes(np.linalg.solve(lower, np.eye(lower.shape[-1])), -1, -2)


def squared_mahalanobis(x, mean, white) -> np.ndarray:
    """`[n]` squared Mahalanobis distance `(x - mean) S^-1 (x - mean)^T` of each row of
    `x [n, D]` (float64), from a whitening `W [D, r]` of the covariance S (`W W^T = S^-1`:
    `covariance_whitening(S)`; or S's pseudo-inverse on its rank r, as
    `lsf.stats.normality.whitening(pca)`): the squared norm of `(x - mean) @ W`, so never
    negative."""
    scores = (np.asarray(x, dtype=np.float64) - mean) @ white
    return np.einsum("ij,ij->i", scores, scores)


def quadratic_form_2d(precision, dx, dy) -> np.ndarray:
    """`P00 dx^2 + 2 P01 dx dy + P11 dy^2` for a symmetric 2x2 precision matrix (inverse
    covariance) `P [..., 2, 2]`: the squared Mahalanobis distance of offsets (dx, dy) from a
    centre, on a grid when dx and dy broadcast against each other (a column and a row). P's
    leading dimensions broadcast with dx and dy: `precision[:, None, None]` for a batch of
    grids `[P, X, Y]`."""
    p = np.asarray(precision)
    return p[..., 0, 0] * dx**2 + 2 * p[..., 0, 1] * dx * dy + p[..., 1, 1] * dy**2
