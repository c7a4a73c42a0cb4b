"""The fact sweep: moments, PCA, core alignment and pair counts of every fact's survivor set.

A row survives fact f when its trim radius (`trimming.trim_radius`) is below `facts[f]`, so
the survivor sets are nested: `lsf.stats.trimming` sums one covariance per trim-radius shell
and adds the shells cumulatively; this module takes those per-fact moments further (PCA and
axis angles per fact, the streamed core alignment, per-fact pair counts). Per-chunk /
combine / finish functions, pure numpy; the analysis passes map them over the store's chunks
(`lsf.stats.analysis`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lsf.stats.core_alignment import principal_axis_angle
from lsf.stats.histograms import digitize
from lsf.stats.pca import PCA, pca_from_covariance
from lsf.stats.quadratic import pair_covariance, projected_covariance, quadratic_form_2d
from lsf.stats.trimming import shell_of

# ---- moments of every fact's survivors ----------------------------------------------------


@dataclass
class FactMoments:
    count: np.ndarray  # (F,) survivors of each fact
    mean: np.ndarray  # (F, D)
    cov: np.ndarray  # (F, D, D), ddof=1; NaN for a fact with fewer than 2 survivors


def fact_moments_of(moments: list, survivors: np.ndarray, d: int | None = None) -> FactMoments:
    """Stack each fact's survivor `Moments` (None: fewer than 2 survivors, NaN here); the
    moments come from `lsf.stats.trimming`'s shell sums. `d`: the dimension when every fact
    may have fewer than 2 survivors."""
    d = next((m.mean.shape[0] for m in moments if m is not None), d)
    means = [np.full(d, np.nan) if m is None else m.mean for m in moments]
    covs = [np.full((d, d), np.nan) if m is None else m.cov for m in moments]
    return FactMoments(np.asarray(survivors).copy(), np.stack(means), np.stack(covs))


def _nan_pca(d: int) -> PCA:
    nan = np.full(d, np.nan)
    return PCA(nan, np.full((d, d), np.nan), nan, nan, nan, 0)


def fact_pcas(fm: FactMoments) -> list[PCA]:
    """The PCA of each fact's survivors (`pca_from_covariance`: its order and sign rule);
    all-NaN for a fact with fewer than 2 survivors."""
    d = fm.mean.shape[1]
    return [
        pca_from_covariance(mean, cov) if np.isfinite(cov).all() else _nan_pca(d)
        for mean, cov in zip(fm.mean, fm.cov, strict=True)
    ]


def axis_angles(pcas: list[PCA], basis_components: np.ndarray, k: int) -> np.ndarray:
    """`[F, k]` degrees in [0, 90]: the angle between PCA axis i of each fact and axis i of
    the basis (axes are lines: the sign of an eigenvector does not matter)."""
    basis = np.asarray(basis_components, dtype=np.float64)[:k]
    angles = np.full((len(pcas), k), np.nan)
    for f, pca in enumerate(pcas):
        cosine = np.abs(np.einsum("ij,ij->i", pca.components[:k], basis))
        angles[f] = np.degrees(np.arccos(np.clip(cosine, 0.0, 1.0)))
    return angles


# ---- core alignment, streamed exactly -----------------------------------------------------


def sweep_pairs(k: int) -> np.ndarray:
    """The `K(K-1)/2` pairs (i, j), i < j < k, row-major: (0,1), (0,2), ..., (k-2, k-1)."""
    i, j = np.triu_indices(k, 1)
    return np.stack([i, j], axis=1).astype(np.int64)


@dataclass
class CoreEllipses:
    pairs: np.ndarray  # (P, 2) the pairs (i, j) of basis PCA components
    centre: np.ndarray  # (F, P, 2): each fact's mean of pair (i, j) in basis coordinates
    cov: np.ndarray  # (F, P, 2, 2): each fact's covariance of pair (i, j) in basis coordinates


def core_ellipses(
    fm: FactMoments, basis_mean: np.ndarray, basis_components: np.ndarray, pairs: np.ndarray
) -> CoreEllipses:
    """Each fact's own 2D mean and 2x2 covariance of every pair in the chosen basis's PCA
    coordinates (`(x - basis_mean) @ components.T`), straight from the fact moments."""
    pairs = np.asarray(pairs, dtype=np.int64)
    k = int(pairs.max()) + 1
    c = np.asarray(basis_components, dtype=np.float64)[:k]  # (K, D)
    mean = (fm.mean - basis_mean) @ c.T  # (F, K)
    cov = projected_covariance(fm.cov, c)  # (F, K, K)
    i, j = pairs[:, 0], pairs[:, 1]
    centre = np.stack([mean[:, i], mean[:, j]], axis=-1)
    return CoreEllipses(pairs, centre, pair_covariance(cov, i, j))


def _inverse2(cov: np.ndarray) -> np.ndarray:
    """Closed-form inverse of `[..., 2, 2]` matrices; NaN where not positive definite."""
    a, b, d = cov[..., 0, 0], cov[..., 0, 1], cov[..., 1, 1]
    det = a * d - b * b
    with np.errstate(divide="ignore", invalid="ignore"):
        det = np.where(det > 0, det, np.nan)
        return np.stack([np.stack([d, -b], -1), np.stack([-b, a], -1)], -2) / det[..., None, None]


CORE_SUMS = ("count", "x", "y", "xx", "yy", "xy")


def chunk_core_moments(
    scores_k: np.ndarray,
    radius: np.ndarray,
    facts,
    ellipses: CoreEllipses,
    n_sigma: float = 1.0,
) -> dict:
    """Per fact f (rows with radius < facts[f]) and pair (i, j): the count and the sums of
    x, y, xx, yy, xy of the points inside that fact's `n_sigma` ellipse, with x, y the
    pair's coordinates relative to the ellipse centre. `scores_k [n, K]`: the rows in the
    chosen basis's PCA coordinates. Each sum is float64 `[F, P]`."""
    pairs = ellipses.pairs
    scores = np.asarray(scores_k, dtype=np.float64)
    finite = np.isfinite(scores).all(axis=1)
    radius = np.where(finite, np.asarray(radius, dtype=np.float64), np.inf)
    inverse = _inverse2(ellipses.cov)  # (F, P, 2, 2)
    x_all, y_all = scores[:, pairs[:, 0]], scores[:, pairs[:, 1]]  # (n, P)
    shape = (len(facts), len(pairs))
    sums = {key: np.zeros(shape) for key in CORE_SUMS}
    for f, fact in enumerate(facts):
        keep = radius < fact
        dx = x_all[keep] - ellipses.centre[f, :, 0]
        dy = y_all[keep] - ellipses.centre[f, :, 1]
        d2 = quadratic_form_2d(inverse[f], dx, dy)  # (n, P)
        inside = d2 <= n_sigma**2  # NaN (no ellipse) is outside
        dx, dy = np.where(inside, dx, 0.0), np.where(inside, dy, 0.0)
        sums["count"][f] = inside.sum(axis=0)
        sums["x"][f], sums["y"][f] = dx.sum(axis=0), dy.sum(axis=0)
        sums["xx"][f], sums["yy"][f] = (dx * dx).sum(axis=0), (dy * dy).sum(axis=0)
        sums["xy"][f] = (dx * dy).sum(axis=0)
    return sums


def combine_core_moments(a: dict, b: dict) -> dict:
    return {key: a[key] + b[key] for key in CORE_SUMS}


def core_alignment_angles(sums: dict) -> np.ndarray:
    """`[F, P]` degrees in [0, 90]: the major-axis angle of each core's covariance to the
    pair's first axis (`principal_axis_angle`); NaN for fewer than 3 points or no axis."""
    n = sums["count"]
    angles = np.full(n.shape, np.nan)
    for index in zip(*np.nonzero(n >= 3), strict=True):
        m = n[index]
        mx, my = sums["x"][index] / m, sums["y"][index] / m
        sxx = sums["xx"][index] / m - mx * mx
        syy = sums["yy"][index] / m - my * my
        sxy = sums["xy"][index] / m - mx * my
        angles[index] = principal_axis_angle(np.array([[sxx, sxy], [sxy, syy]]))
    return angles


# ---- 2D histograms of the sweep pairs per fact --------------------------------------------


def sweep_pair_edges(component_edges: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """`[P, 2, B+1]` edges of every sweep pair from per-component edges `[K, B+1]` (e.g.
    `histograms.robust_edges` of a sample of the rows in basis PCA coordinates)."""
    pairs = np.asarray(pairs, dtype=np.int64)
    component_edges = np.asarray(component_edges, dtype=np.float64)
    return np.stack([component_edges[pairs[:, 0]], component_edges[pairs[:, 1]]], axis=1)


def chunk_fact_pair_counts(
    scores_k: np.ndarray, radius: np.ndarray, facts, pairs: np.ndarray, edges: np.ndarray
) -> np.ndarray:
    """uint32 `[F, P, B, B]`: for each fact's survivors, the 2D histogram of every pair
    (i, j) of `scores_k [n, K]` on `edges [P, 2, B+1]` (x: component i), equal to
    `np.histogram2d`; points outside the edges are dropped. One bincount over shells, then
    cumulative sums over the nested facts."""
    pairs = np.asarray(pairs, dtype=np.int64)
    edges = np.asarray(edges, dtype=np.float64)
    f, p, bins = len(facts), len(pairs), edges.shape[-1] - 1
    scores = np.asarray(scores_k)
    finite = np.isfinite(scores).all(axis=1)
    shells = shell_of(np.asarray(radius, dtype=np.float64)[finite], np.asarray(facts, float))
    rows = scores[finite]
    bx = digitize(rows[:, pairs[:, 0]], edges[:, 0]).astype(np.int64)  # (P, n)
    by = digitize(rows[:, pairs[:, 1]], edges[:, 1]).astype(np.int64)
    keep = (bx >= 0) & (bx < bins) & (by >= 0) & (by < bins) & (shells < f)[None, :]
    pair_index = np.broadcast_to(np.arange(p)[:, None], bx.shape)
    shell = np.broadcast_to(shells[None, :], bx.shape)
    flat = ((shell * p + pair_index) * bins + bx) * bins + by
    counts = np.bincount(flat[keep], minlength=f * p * bins * bins).reshape(f, p, bins, bins)
    return np.cumsum(counts, axis=0).astype(np.uint32)


# ---- the summary block ---------------------------------------------------------------------


def _json_number(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _per_fact(angles: np.ndarray, reduce) -> list[float | None]:
    """`reduce` over each fact's finite angles; None for a fact without any."""
    return [
        _json_number(reduce(row[np.isfinite(row)])) if np.isfinite(row).any() else None
        for row in angles
    ]


def sweep_summary(
    facts,
    count: np.ndarray,
    rows: int,
    fact_axis_angles: np.ndarray,
    core_angles: np.ndarray,
    pairs: np.ndarray,
    trim_fact: float | None,
) -> dict:
    """summary.json's `fact_sweep` block (NaN written as None): survivor fraction of each
    fact (of `rows`), its largest axis angle over the first K axes, the median and largest
    core-alignment angle over the pairs, and the worst pair: the largest core-alignment
    angle at the fact nearest `trim_fact` (the largest fact when it is None)."""
    facts = np.asarray(facts, dtype=np.float64)
    at = len(facts) - 1 if trim_fact is None else int(np.argmin(np.abs(facts - trim_fact)))
    worst = None
    if np.isfinite(core_angles[at]).any():
        worst = [int(v) for v in pairs[int(np.nanargmax(core_angles[at]))]]
    return {
        "facts": facts.tolist(),
        "survivor_fraction": (np.asarray(count, dtype=np.float64) / max(rows, 1)).tolist(),
        "axis_angle_max_first_k": _per_fact(fact_axis_angles, np.max),
        "core_alignment_median": _per_fact(core_angles, np.median),
        "core_alignment_max": _per_fact(core_angles, np.max),
        "worst_pair": worst,
    }
