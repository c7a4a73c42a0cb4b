"""The field's sample-quality metrics on feature vectors, and their intervals over draws.

KID (Binkowski et al. 2018: unbiased MMD^2 with the kernel `(x.y / d + 1)^3`, averaged over
subsets), k-NN precision/recall (Kynkaanniemi et al. 2019) and density/coverage (Naeem et
al. 2020, the `prdc` package's definitions, strict `<` against the k-th neighbour radius),
and `Estimate`: the mean of R seeded draws with its 95 % t-interval. Pure numpy/sklearn on
float64 `[n, F]` features; `lsf.sampling.evaluation` calls them once per draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

BLOCK = 1024  # generated rows per distance block: a [BLOCK, n_real] float64 matrix at a time


def _polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with the cubic polynomial kernel: the mean off-diagonal k(x, x') plus
    the mean off-diagonal k(y, y') minus twice the mean k(x, y) (Binkowski's estimator; for
    sets of m and n rows the within-set means are over m(m-1) and n(n-1) pairs)."""
    m, n = len(x), len(y)
    kxx, kyy, kxy = _polynomial_kernel(x, x), _polynomial_kernel(y, y), _polynomial_kernel(x, y)
    within_x = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    within_y = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(within_x + within_y - 2.0 * kxy.sum() / (m * n))


def kernel_inception_distance(
    real: np.ndarray, generated: np.ndarray, subsets: int = 100, subset_size: int = 1000, seed=0
) -> float:
    """KID: unbiased MMD^2 averaged over `subsets` seeded pairs of subsets of
    `min(subset_size, n_real, n_generated)` rows drawn without replacement. Subsets only bound
    the cost: when neither set exceeds `subset_size` it is the estimator on the whole sets."""
    m = min(subset_size, len(real), len(generated))
    if m < 2:
        raise ValueError("KID needs at least two rows in each set")
    if max(len(real), len(generated)) <= subset_size:
        return unbiased_mmd2(real, generated)
    rng = np.random.default_rng(seed)
    values = [
        unbiased_mmd2(
            real[rng.choice(len(real), m, replace=False)],
            generated[rng.choice(len(generated), m, replace=False)],
        )
        for _ in range(subsets)
    ]
    return float(np.mean(values))


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from sklearn.metrics import pairwise_distances

    return pairwise_distances(a, b, metric="euclidean")


def kth_neighbour_radii(points: np.ndarray, k: int) -> np.ndarray:
    """Distance of each row to its k-th nearest other row (the row itself is the 0-th)."""
    radii = np.empty(len(points))
    for start in range(0, len(points), BLOCK):
        d = _distances(points[start : start + BLOCK], points)
        radii[start : start + BLOCK] = np.partition(d, k, axis=1)[:, k]
    return radii


@dataclass
class NeighbourMetrics:
    """k-NN manifold metrics of a generated set against a real one."""

    precision: float  # generated rows inside some real row's k-NN ball
    recall: float  # real rows inside some generated row's k-NN ball
    density: float  # real k-NN balls holding a generated row, per generated row, over k
    coverage: float  # real rows whose k-NN ball holds some generated row


def neighbour_metrics(
    real: np.ndarray, generated: np.ndarray, k: int = 3, real_radii: np.ndarray | None = None
) -> NeighbourMetrics:
    """Precision, recall, density and coverage (`prdc.compute_prdc`'s definitions), in blocks
    of generated rows so memory stays `[BLOCK, n_real]`; `real_radii` (the real rows' k-th
    neighbour distances) is computed when not given."""
    if real_radii is None:
        real_radii = kth_neighbour_radii(real, k)
    generated_radii = kth_neighbour_radii(generated, k)
    inside_real_balls = 0
    ball_count = 0
    recalled = np.zeros(len(real), dtype=bool)
    nearest_generated = np.full(len(real), np.inf)
    for start in range(0, len(generated), BLOCK):
        d = _distances(generated[start : start + BLOCK], real)  # [block, n_real]
        inside = d < real_radii[None, :]
        inside_real_balls += int(inside.any(axis=1).sum())
        ball_count += int(inside.sum())
        recalled |= (d < generated_radii[start : start + BLOCK, None]).any(axis=0)
        nearest_generated = np.minimum(nearest_generated, d.min(axis=0))
    n = len(generated)
    return NeighbourMetrics(
        precision=inside_real_balls / n,
        recall=float(recalled.mean()),
        density=ball_count / (k * n),
        coverage=float((nearest_generated < real_radii).mean()),
    )


@dataclass
class Estimate:
    """A metric over R seeded draws: the mean and its two-sided t-interval (None for R = 1)."""

    value: float
    low: float | None
    high: float | None
    draws: list[float]

    def apart_from(self, other: Estimate) -> bool:
        """True when the two intervals do not overlap (a significant difference)."""
        if None in (self.low, self.high, other.low, other.high):
            return False
        return self.high < other.low or other.high < self.low


def estimate(draws, level: float = 0.95) -> Estimate:
    """`Estimate` of the mean of `draws` with the Student-t interval at `level`."""
    values = np.asarray(draws, dtype=np.float64)
    mean = float(values.mean())
    if len(values) < 2:
        return Estimate(mean, None, None, values.tolist())
    half = stats.t.ppf(0.5 + level / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return Estimate(mean, float(mean - half), float(mean + half), values.tolist())


def draw_seeds(seed: int, repeats: int) -> list[int]:
    """Seeds of R fresh draws: draw 0 is `seed` itself (the written draw), the others are
    independent streams spawned from it."""
    spawned = np.random.SeedSequence(seed).spawn(max(repeats - 1, 0))
    return [seed] + [int(s.generate_state(1, dtype=np.uint32)[0]) for s in spawned]
