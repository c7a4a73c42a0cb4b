"""Two-component (pair) geometry: confidence ellipses, coverage, density contour levels.

`confidence_ellipse` gives the n-sigma ellipse of a 2x2 covariance as (centre, semi-axes,
angle): the same ellipse as the matplotlib gallery's `confidence_ellipse` construction.
`coverage_2d` is the fraction of points with 2D Mahalanobis distance <= n, to compare with
the bivariate-normal expectation `1 - exp(-n^2 / 2)`. `density_levels` finds the density
values whose super-level sets enclose given probability masses (the contour levels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SIGMAS = (1, 2, 3)


def expected_coverage(n_sigma: float) -> float:
    """Mass of a bivariate normal within Mahalanobis radius n."""
    return 1.0 - math.exp(-0.5 * n_sigma**2)


@dataclass
class Ellipse:
    centre: tuple[float, float]
    semi_major: float
    semi_minor: float
    angle_deg: float  # of the major axis, counter-clockwise from the x axis

    def outline(self, points: int = 100) -> np.ndarray:
        t = np.linspace(0, 2 * np.pi, points)
        a = math.radians(self.angle_deg)
        x, y = self.semi_major * np.cos(t), self.semi_minor * np.sin(t)
        return np.stack(
            [
                self.centre[0] + x * math.cos(a) - y * math.sin(a),
                self.centre[1] + x * math.sin(a) + y * math.cos(a),
            ],
            axis=1,
        )


def confidence_ellipse(mean2, cov2, n_sigma: float) -> Ellipse:
    values, vectors = np.linalg.eigh(np.asarray(cov2, dtype=np.float64))
    major = vectors[:, 1]
    angle = math.degrees(math.atan2(major[1], major[0])) % 180.0
    return Ellipse(
        centre=(float(mean2[0]), float(mean2[1])),
        semi_major=n_sigma * math.sqrt(max(values[1], 0.0)),
        semi_minor=n_sigma * math.sqrt(max(values[0], 0.0)),
        angle_deg=angle,
    )


def coverage_2d(points: np.ndarray, mean2, cov2, sigmas=SIGMAS) -> np.ndarray:
    """Observed fraction of `points [n, 2]` inside each n-sigma ellipse."""
    centred = np.asarray(points, dtype=np.float64) - mean2
    d2 = np.einsum("ij,jk,ik->i", centred, np.linalg.inv(cov2), centred)
    return np.array([(d2 <= n * n).mean() for n in sigmas])


def density_levels(density: np.ndarray, masses) -> np.ndarray:
    """Density thresholds whose super-level sets hold the given fractions of the total mass
    (for contour levels: mass 0.39 is the '1 sigma' contour of a bivariate normal)."""
    values = np.sort(density.ravel())[::-1]
    cumulative = np.cumsum(values) / values.sum()
    index = np.searchsorted(cumulative, np.asarray(masses))
    return values[np.clip(index, 0, len(values) - 1)]


def scott_factor(n: int, dims: int = 2) -> float:
    """Scott's rule bandwidth factor, as `scipy.stats.gaussian_kde` uses by default."""
    return float(n ** (-1.0 / (dims + 4)))


def binned_kde(counts: np.ndarray, widths, cov2, n_total: int) -> np.ndarray:
    """Density on the grid: the 2D histogram convolved (FFT) with the Gaussian kernel of
    bandwidth matrix `scott_factor(n)^2 * cov2` (correlated, like gaussian_kde), divided
    by `n_total * bin area`. `widths`: the bin widths (dx, dy)."""
    from scipy.signal import fftconvolve

    dx, dy = widths
    h = scott_factor(n_total) ** 2 * np.asarray(cov2, dtype=np.float64)
    rx = max(1, int(np.ceil(4 * np.sqrt(h[0, 0]) / dx)))
    ry = max(1, int(np.ceil(4 * np.sqrt(h[1, 1]) / dy)))
    ox, oy = np.meshgrid(np.arange(-rx, rx + 1) * dx, np.arange(-ry, ry + 1) * dy, indexing="ij")
    inverse = np.linalg.inv(h)
    quadratic = inverse[0, 0] * ox**2 + 2 * inverse[0, 1] * ox * oy + inverse[1, 1] * oy**2
    kernel = np.exp(-0.5 * quadratic)
    kernel /= kernel.sum()
    smooth = fftconvolve(counts.astype(np.float64), kernel, mode="same")
    return np.clip(smooth, 0, None) / (n_total * dx * dy)


@dataclass
class PairShape:
    total_variation: float  # between the smoothed density and the fitted normal, on the grid
    peak_offset: float  # Mahalanobis distance from the ellipse centre to the density peak
    coverage: np.ndarray  # observed fraction inside the 1, 2, 3 sigma ellipses
    coverage_gap: float  # mean |observed - expected| over the three ellipses
    score: float  # total_variation + coverage_gap: higher = further from bivariate normal


def pair_shape(density, centres_x, centres_y, mean2, cov2, inside_fractions) -> PairShape:
    """How far one pair is from the bivariate normal of its (trimmed) mean and covariance."""
    gx, gy = np.meshgrid(centres_x, centres_y, indexing="ij")
    offsets = np.stack([gx - mean2[0], gy - mean2[1]], axis=-1)
    inverse = np.linalg.inv(cov2)
    d2 = np.einsum("...i,ij,...j->...", offsets, inverse, offsets)
    normal = np.exp(-0.5 * d2)
    p = density / density.sum() if density.sum() > 0 else density
    q = normal / normal.sum()
    peak = np.unravel_index(np.argmax(density), density.shape)
    expected = np.array([expected_coverage(n) for n in SIGMAS])
    gap = float(np.mean(np.abs(np.asarray(inside_fractions) - expected)))
    tv = float(0.5 * np.abs(p - q).sum())
    return PairShape(tv, float(np.sqrt(d2[peak])), np.asarray(inside_fractions), gap, tv + gap)
