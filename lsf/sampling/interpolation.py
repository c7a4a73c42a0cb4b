"""Midpoints of interpolations between pairs of latents: the table's interpolation rows.

Linear: `(a + b) / 2`. Spherical (slerp, Shoemake 1985; White 2016 for generative models):
about a centre `c` (the latent mean: AE latents are not centred on 0), the point halfway
along the great circle from `a - c` to `b - c`, its radius interpolated linearly so pairs
of unequal norm stay between them. Pure numpy; `lsf.sampling.evaluation` decodes them.
"""

from __future__ import annotations

import numpy as np


def linear_midpoints(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return 0.5 * (np.asarray(a, dtype=np.float64) + np.asarray(b, dtype=np.float64))


def spherical_midpoints(a: np.ndarray, b: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Rows `(n, D)`: the slerp midpoint of each pair of rows of `a` and `b` about `centre`."""
    u = np.asarray(a, dtype=np.float64) - centre
    v = np.asarray(b, dtype=np.float64) - centre
    ru, rv = np.linalg.norm(u, axis=1), np.linalg.norm(v, axis=1)
    cos = np.einsum("ij,ij->i", u, v) / np.maximum(ru * rv, 1e-300)
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    # the midpoint direction bisects the angle: (u/|u| + v/|v|) / (2 cos(omega/2))
    direction = (u / np.maximum(ru, 1e-300)[:, None] + v / np.maximum(rv, 1e-300)[:, None]) / (
        2.0 * np.maximum(np.cos(omega / 2.0), 1e-12)
    )[:, None]
    return centre + direction * (0.5 * (ru + rv))[:, None]
