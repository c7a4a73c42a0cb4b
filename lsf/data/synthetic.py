"""Procedural face images: the built-in default dataset and the test data.

Each face is drawn from a known, correlated multivariate normal over `PARAMETER_NAMES`
(`face_parameters`) and rendered with anti-aliased shapes by a numba kernel
(`render_faces`). Image `k` of seed `s` is the same whatever range it is generated in, so
shards can be rendered in parallel. `python -m lsf.data.synthetic grid.png` saves a sample.
"""

from __future__ import annotations

import math

import numba
import numpy as np

PARAMETER_NAMES = (
    "face_width",
    "face_length",
    "face_y",
    "skin_tone",
    "hair_darkness",
    "hair_volume",
    "hair_length",
    "eye_y",
    "eye_spacing",
    "eye_size",
    "iris_color",
    "brow_tilt",
    "brow_thickness",
    "nose_length",
    "mouth_width",
    "smile",
    "background_hue",
    "light_angle",
    "yaw",
)
N_PARAMETERS = len(PARAMETER_NAMES)

# Configured correlations between the standard-normal face parameters (the rest are 0).
PARAMETER_CORRELATIONS = {
    ("face_width", "face_length"): 0.5,
    ("skin_tone", "hair_darkness"): 0.6,
    ("skin_tone", "iris_color"): 0.5,
    ("hair_darkness", "iris_color"): 0.4,
    ("face_width", "eye_spacing"): 0.4,
    ("eye_spacing", "eye_size"): -0.3,
    ("mouth_width", "smile"): 0.5,
    ("brow_tilt", "smile"): -0.3,
    ("hair_volume", "hair_length"): 0.5,
    ("face_length", "nose_length"): 0.4,
}
# Rows per independent random block: image k comes from block k // BLOCK_ROWS.
BLOCK_ROWS = 1024


def parameter_correlation() -> np.ndarray:
    """The configured (positive definite) correlation matrix of the face parameters."""
    index = {name: i for i, name in enumerate(PARAMETER_NAMES)}
    corr = np.eye(N_PARAMETERS)
    for (a, b), r in PARAMETER_CORRELATIONS.items():
        corr[index[a], index[b]] = corr[index[b], index[a]] = r
    return corr


def face_parameters(start: int, stop: int, seed: int) -> np.ndarray:
    """Standard-normal, correlated parameters of images `start..stop-1`: `(stop-start, P)`."""
    if stop < start or start < 0:
        raise ValueError(f"bad image range {start}..{stop}")
    chol = np.linalg.cholesky(parameter_correlation())
    first, last = start // BLOCK_ROWS, max(start, stop - 1) // BLOCK_ROWS
    blocks = [
        np.random.default_rng([seed, b]).standard_normal((BLOCK_ROWS, N_PARAMETERS)) @ chol.T
        for b in range(first, last + 1)
    ]
    offset = start - first * BLOCK_ROWS
    return np.concatenate(blocks)[offset : offset + stop - start]


@numba.njit(cache=True, inline="always")
def _ellipse_alpha(x, y, cx, cy, rx, ry, cos_t, sin_t, bend, px):
    """Anti-aliased coverage of a rotated, bent ellipse at pixel centre (x, y)."""
    reach = max(rx, ry) * (1.0 + abs(bend)) + 2.0 * px
    if abs(x - cx) > reach or abs(y - cy) > reach:
        return 0.0
    u = (x - cx) * cos_t + (y - cy) * sin_t
    v = -(x - cx) * sin_t + (y - cy) * cos_t - bend * u * u
    qu = u / rx
    qv = v / ry
    f = math.sqrt(qu * qu + qv * qv)
    if f < 1e-9:
        return 1.0
    grad = math.sqrt((qu / rx) ** 2 + (qv / ry) ** 2) / f
    distance = (f - 1.0) / grad  # approximate signed distance to the outline
    return min(1.0, max(0.0, 0.5 - distance / px))


@numba.njit(cache=True, inline="always")
def _lerp3(c0, c1, t):
    t = min(1.0, max(0.0, t))
    return (c0[0] + (c1[0] - c0[0]) * t, c0[1] + (c1[1] - c0[1]) * t, c0[2] + (c1[2] - c0[2]) * t)


@numba.njit(cache=True, inline="always")
def _over(rgb, color, alpha):
    a = alpha
    return (
        rgb[0] + (color[0] - rgb[0]) * a,
        rgb[1] + (color[1] - rgb[1]) * a,
        rgb[2] + (color[2] - rgb[2]) * a,
    )


@numba.njit(cache=True, fastmath=True)
def _render(params, size, out):
    px = 2.0 / size
    for n in range(params.shape[0]):
        p = params[n]
        # Geometry in [-1, 1] coordinates (y points down).
        head_rx = 0.50 + 0.05 * p[0]
        head_ry = 0.66 + 0.05 * p[1]
        head_cy = 0.02 + 0.05 * p[2]
        yaw = 0.06 * p[18]
        eye_y = head_cy - 0.10 + 0.04 * p[7]
        eye_dx = 0.21 + 0.025 * p[8]
        eye_s = 1.0 + 0.12 * p[9]
        brow_tilt = 0.18 * p[11]
        brow_ry = 0.022 * (1.0 + 0.25 * p[12])
        nose_len = 0.11 * (1.0 + 0.15 * p[13])
        mouth_y = head_cy + 0.36 + 0.02 * p[13]
        mouth_rx = 0.16 * (1.0 + 0.12 * p[14])
        smile = -1.2 * (0.5 + 0.35 * p[15])
        hair_vol = 0.06 + 0.03 * p[5]
        hair_len = 0.2 + 0.22 * p[6]
        light_a = 0.8 * p[17] - 2.2
        light_x, light_y = math.cos(light_a), math.sin(light_a)
        # Colours.
        skin = _lerp3((0.98, 0.84, 0.72), (0.42, 0.28, 0.19), 0.5 + 0.22 * p[3])
        shade = (skin[0] * 0.78, skin[1] * 0.72, skin[2] * 0.7)
        lips = (skin[0] * 0.85, skin[1] * 0.5, skin[2] * 0.5)
        t_hair = 0.5 + 0.25 * p[4]
        if t_hair < 0.5:
            hair = _lerp3((0.86, 0.7, 0.42), (0.42, 0.26, 0.13), 2.0 * t_hair)
        else:
            hair = _lerp3((0.42, 0.26, 0.13), (0.07, 0.05, 0.05), 2.0 * t_hair - 1.0)
        iris = _lerp3((0.28, 0.5, 0.78), (0.33, 0.2, 0.1), 0.5 + 0.3 * p[10])
        hue = (0.55 + 0.12 * p[16]) % 1.0
        bg = (
            0.62 + 0.25 * math.cos(2 * math.pi * hue),
            0.62 + 0.25 * math.cos(2 * math.pi * (hue - 1.0 / 3.0)),
            0.62 + 0.25 * math.cos(2 * math.pi * (hue - 2.0 / 3.0)),
        )
        shirt = (bg[2] * 0.55, bg[0] * 0.5, bg[1] * 0.6)
        white = (0.95, 0.95, 0.93)
        dark = (0.05, 0.04, 0.04)
        for i in range(size):
            y = (i + 0.5) * px - 1.0
            for j in range(size):
                x = (j + 0.5) * px - 1.0
                rgb = (
                    bg[0] * (1.05 - 0.15 * y),
                    bg[1] * (1.05 - 0.15 * y),
                    bg[2] * (1.05 - 0.15 * y),
                )
                a = _ellipse_alpha(x, y, 0.0, 1.25, 0.95, 0.5, 1.0, 0.0, 0.0, px)
                rgb = _over(rgb, shirt, a)
                a = _ellipse_alpha(x, y, 0.0, head_cy + 0.75, 0.2, 0.35, 1.0, 0.0, 0.0, px)
                rgb = _over(rgb, shade, a)
                a = _ellipse_alpha(
                    x,
                    y,
                    0.0,
                    head_cy + 0.5 * hair_len - 0.05,
                    head_rx + 0.05 + hair_vol,
                    head_ry * 0.8 + hair_len,
                    1.0,
                    0.0,
                    0.0,
                    px,
                )
                rgb = _over(rgb, hair, a)
                a = _ellipse_alpha(x, y, 0.0, head_cy, head_rx, head_ry, 1.0, 0.0, 0.0, px)
                rgb = _over(rgb, skin, a)
                # Hair cap: an ellipse over the head, cut below a curved hairline.
                a = _ellipse_alpha(
                    x,
                    y,
                    0.0,
                    head_cy - 0.12,
                    head_rx + hair_vol,
                    head_ry * 0.72 + hair_vol,
                    1.0,
                    0.0,
                    0.0,
                    px,
                )
                hairline = head_cy - 0.42 * head_ry + 0.6 * x * x
                rgb = _over(rgb, hair, a * min(1.0, max(0.0, 0.5 + (hairline - y) / px)))
                for side in (-1.0, 1.0):
                    ex = side * eye_dx + yaw
                    a = _ellipse_alpha(
                        x, y, ex, eye_y, 0.1 * eye_s, 0.06 * eye_s, 1.0, 0.0, 0.0, px
                    )
                    rgb = _over(rgb, white, a)
                    ix = ex + 0.3 * yaw
                    r_iris = 0.05 * eye_s
                    b = _ellipse_alpha(x, y, ix, eye_y, r_iris, r_iris, 1.0, 0.0, 0.0, px)
                    rgb = _over(rgb, iris, a * b)
                    b = _ellipse_alpha(
                        x, y, ix, eye_y, 0.45 * r_iris, 0.45 * r_iris, 1.0, 0.0, 0.0, px
                    )
                    rgb = _over(rgb, dark, a * b)
                    angle = side * brow_tilt
                    a = _ellipse_alpha(
                        x,
                        y,
                        ex,
                        eye_y - 0.12 * eye_s - 0.03,
                        0.12,
                        brow_ry,
                        math.cos(angle),
                        math.sin(angle),
                        0.0,
                        px,
                    )
                    rgb = _over(rgb, hair, a)
                a = _ellipse_alpha(
                    x,
                    y,
                    1.3 * yaw,
                    eye_y + 0.1 + nose_len * 0.5,
                    0.045,
                    nose_len,
                    1.0,
                    0.0,
                    0.0,
                    px,
                )
                rgb = _over(rgb, shade, 0.6 * a)
                a = _ellipse_alpha(
                    x, y, 1.1 * yaw, mouth_y, mouth_rx, 0.04, 1.0, 0.0, smile / mouth_rx * 0.1, px
                )
                rgb = _over(rgb, lips, a)
                light = 0.82 + 0.3 * (0.5 + 0.5 * (light_x * x + light_y * y))
                for c in range(3):
                    out[n, i, j, c] = np.uint8(min(255.0, max(0.0, rgb[c] * light * 255.0 + 0.5)))


def render_faces(params: np.ndarray, size: int = 64) -> np.ndarray:
    """Render faces from parameters `(n, P)`: uint8 images `(n, size, size, 3)`."""
    params = np.ascontiguousarray(params, dtype=np.float64)
    if params.ndim != 2 or params.shape[1] != N_PARAMETERS:
        raise ValueError(f"params must be (n, {N_PARAMETERS}), got {params.shape}")
    out = np.empty((params.shape[0], size, size, 3), dtype=np.uint8)
    _render(params, size, out)
    return out


def synthetic_faces(start: int, stop: int, seed: int = 0, size: int = 64) -> np.ndarray:
    """Images `start..stop-1` of the synthetic face dataset for `seed`."""
    return render_faces(face_parameters(start, stop, seed), size)


if __name__ == "__main__":
    import sys

    from PIL import Image

    from lsf.data.images import image_grid

    target = sys.argv[1] if len(sys.argv) > 1 else "synthetic_faces.png"
    Image.fromarray(image_grid(synthetic_faces(0, 64, seed=0, size=64))).save(target)
    print(f"wrote {target}")
