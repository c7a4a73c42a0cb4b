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

from lsf.stats.quadratic import covariance_whitening, quadratic_form_2d, squared_mahalanobis

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
    d2 = squared_mahalanobis(points, mean2, covariance_whitening(cov2))
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


def binned_kde_batch(counts: np.ndarray, widths: np.ndarray, cov2: np.ndarray, n_total: int):
    """Densities `[P, B, B]` of many pairs: each 2D histogram convolved with the Gaussian
    kernel of bandwidth matrix `scott_factor(n)^2 * cov2[p]` (correlated, like
    gaussian_kde; cut at 4 kernel sigmas), divided by `n_total * bin area`. One batched
    FFT over histograms zero-padded by the kernel reach, so the circular convolution is
    exact on the B x B grid. `widths`: `[P, 2]` bin widths; `cov2`: `[P, 2, 2]`."""
    from scipy import fft

    p, bins, _ = counts.shape
    h = scott_factor(n_total) ** 2 * np.asarray(cov2, dtype=np.float64)
    sigma_bins = np.sqrt(np.stack([h[:, 0, 0], h[:, 1, 1]], axis=1)) / widths
    reach = int(min(bins, np.ceil(4 * sigma_bins.max())))
    size = fft.next_fast_len(bins + reach, real=True)
    shift = np.fft.fftfreq(size, 1.0 / size)  # circular offsets in bins
    within = np.abs(shift) <= size - bins  # offsets that cannot wrap into the grid
    ox = shift[None, :, None] * widths[:, 0, None, None]
    oy = shift[None, None, :] * widths[:, 1, None, None]
    quadratic = quadratic_form_2d(np.linalg.inv(h)[:, None, None], ox, oy)  # [P, size, size]
    kernel = np.where(
        within[:, None] & within[None, :] & (quadratic <= 16.0), np.exp(-0.5 * quadratic), 0.0
    )
    kernel /= kernel.sum(axis=(1, 2), keepdims=True)
    padded = np.zeros((p, size, size))
    padded[:, :bins, :bins] = counts
    spectrum = fft.rfft2(padded, workers=1) * fft.rfft2(kernel, workers=1)
    smooth = fft.irfft2(spectrum, s=(size, size), workers=1)
    area = widths[:, 0] * widths[:, 1]
    return np.clip(smooth[:, :bins, :bins], 0, None) / (n_total * area[:, None, None])


def binned_kde(counts: np.ndarray, widths, cov2, n_total: int) -> np.ndarray:
    """`binned_kde_batch` for one pair: `counts [B, B]`, `widths (dx, dy)`, `cov2 [2, 2]`."""
    return binned_kde_batch(
        counts[None], np.asarray([widths], dtype=np.float64), np.asarray(cov2)[None], n_total
    )[0]


@dataclass
class PairShapes:
    total_variation: np.ndarray  # [P] between the smoothed density and the fitted normal
    peak_offset: np.ndarray  # [P] Mahalanobis distance from the ellipse centre to the peak
    coverage_gap: np.ndarray  # [P] mean |observed - expected| over the 1, 2, 3 sigma ellipses
    score: np.ndarray  # [P] total_variation + coverage_gap: higher = further from normal


def pair_shapes(density, centres_x, centres_y, mean2, cov2, inside_fractions) -> PairShapes:
    """How far each pair is from the bivariate normal of its (trimmed) mean and covariance.
    `density [P, B, B]`, `centres_* [P, B]`, `mean2 [P, 2]`, `cov2 [P, 2, 2]`,
    `inside_fractions [P, 3]`."""
    dx = (centres_x - mean2[:, :1])[:, :, None]
    dy = (centres_y - mean2[:, 1:])[:, None, :]
    d2 = quadratic_form_2d(np.linalg.inv(cov2)[:, None, None], dx, dy)  # [P, B, B]
    normal = np.exp(-0.5 * d2)
    q = normal / normal.sum(axis=(1, 2), keepdims=True)
    total = density.sum(axis=(1, 2), keepdims=True)
    p = np.divide(density, total, out=np.zeros_like(density), where=total > 0)
    tv = 0.5 * np.abs(p - q).sum(axis=(1, 2))
    peak = density.reshape(len(density), -1).argmax(axis=1)
    offset = np.sqrt(d2.reshape(len(d2), -1)[np.arange(len(d2)), peak])
    expected = np.array([expected_coverage(n) for n in SIGMAS])
    gap = np.abs(np.asarray(inside_fractions) - expected).mean(axis=1)
    return PairShapes(tv, offset, gap, tv + gap)
