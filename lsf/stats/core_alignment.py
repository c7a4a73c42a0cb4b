"""The core alignment angle of a pair: is the dense core of a pair lined up with its axes?

The core is the set of points inside the pair's 1-sigma ellipse. Its principal axis (the
major eigenvector of the core's own covariance) is compared with the x axis of the pair: in
PCA coordinates the x axis of pair (i, j), i < j, is PCA axis i, so a bivariate normal gives
0 degrees and a banana or a tilted core gives more. Computed from a stored 2D histogram
(`analysis.zarr`'s `pca_pair_counts` on `pca_pair_edges`): bins whose centre lies inside the
ellipse are the core, weighted by their counts. Used by `lsf compare`. The fact sweep's
exact form (second moments of the core's points streamed over the store, no histogram) is
`lsf.stats.fact_sweep.chunk_core_moments`; both end in `principal_axis_angle`.
"""

from __future__ import annotations

import numpy as np

from lsf.stats.quadratic import quadratic_form_2d

# A core whose two variances differ by less than this (relative) has no principal axis.
ISOTROPY_TOLERANCE = 1e-9


def principal_axis_angle(cov2: np.ndarray) -> float:
    """Angle in degrees in [0, 90] between the major axis of a 2x2 covariance and the x axis
    (an axis is a line: 10 and 170 degrees are both 10 degrees away from it); NaN when the
    covariance is isotropic or not finite."""
    cov2 = np.asarray(cov2, dtype=np.float64)
    if not np.isfinite(cov2).all():
        return float("nan")
    values, vectors = np.linalg.eigh(cov2)
    if values[1] <= 0 or (values[1] - values[0]) <= ISOTROPY_TOLERANCE * values[1]:
        return float("nan")
    major = vectors[:, 1]
    angle = np.degrees(np.arctan2(major[1], major[0])) % 180.0
    return float(min(angle, 180.0 - angle))


def core_alignment_angle(
    counts: np.ndarray,
    x_edges: np.ndarray,
    y_edges: np.ndarray,
    centre,
    cov2,
    n_sigma: float = 1.0,
) -> float:
    """Principal-axis angle (degrees, [0, 90]) of the points of a 2D histogram `counts [Bx,
    By]` that lie inside the `n_sigma` ellipse of (`centre`, `cov2`), relative to the x axis.
    NaN when fewer than 3 occupied bins lie inside or the core has no principal axis."""
    counts = np.asarray(counts, dtype=np.float64)
    xc = 0.5 * (np.asarray(x_edges[1:]) + np.asarray(x_edges[:-1]))
    yc = 0.5 * (np.asarray(y_edges[1:]) + np.asarray(y_edges[:-1]))
    gx, gy = np.meshgrid(xc - centre[0], yc - centre[1], indexing="ij")  # (Bx, By)
    d2 = quadratic_form_2d(np.linalg.inv(np.asarray(cov2, dtype=np.float64)), gx, gy)
    weights = np.where(d2 <= n_sigma**2, counts, 0.0)
    if np.count_nonzero(weights) < 3:
        return float("nan")
    total = weights.sum()
    mx, my = (weights * gx).sum() / total, (weights * gy).sum() / total
    sxx = (weights * (gx - mx) ** 2).sum() / total
    syy = (weights * (gy - my) ** 2).sum() / total
    sxy = (weights * (gx - mx) * (gy - my)).sum() / total
    return principal_axis_angle(np.array([[sxx, sxy], [sxy, syy]]))


def pca_core_alignment_angles(
    pair_counts: np.ndarray,
    pairs: np.ndarray,
    edges: np.ndarray,
    explained_variance: np.ndarray,
    components: int = 10,
) -> dict[tuple[int, int], float]:
    """The angle of every stored PCA pair (i, j) with i, j < `components`: the core is the
    1-sigma ellipse of the PCA basis, centred at 0 with variances `explained_variance`."""
    angles = {}
    for k, (i, j) in enumerate(np.asarray(pairs, dtype=int)):
        if i >= components or j >= components:
            continue
        cov2 = np.diag(explained_variance[[i, j]])
        if not (cov2.diagonal() > 0).all():
            angles[(int(i), int(j))] = float("nan")
            continue
        angles[(int(i), int(j))] = core_alignment_angle(
            pair_counts[k], edges[i], edges[j], (0.0, 0.0), cov2
        )
    return angles
