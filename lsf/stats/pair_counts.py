"""All-pairs 2D histograms and 2D coverage counts in one streaming kernel.

`digitize` (shared with the 1D histograms) maps each value to its exact bin on the
per-component grid, as `np.histogram2d` with the same edges would; `chunk_pair_counts`
counts, for every pair (i, j) of a pair block, the joint bins and the points inside the
1/2/3-sigma ellipses of the pair's (trimmed) covariance. Counting point-pairs directly,
pair by pair over contiguous columns, is what makes all 32,640 pairs of D = 256
affordable. Counts are uint16 per chunk where they fit, uint32 once combined.
"""

from __future__ import annotations

import numba
import numpy as np

from lsf.core.pair_spec import parse_pairs
from lsf.stats.histograms import digitize
from lsf.stats.quadratic import pair_covariance


@numba.njit(cache=True, nogil=True)
def _pair_kernel(columns, bins, pairs, means, inverses, grid, counts, inside):
    # Two loops per pair: the 2D bin increments (values off the grid, bins -1 and B, are
    # skipped by one unsigned compare) and the ellipse tests, which LLVM vectorises once they
    # are apart; together 2x faster than one fused loop. Counts are uint16 per chunk
    # (<= 65,535 rows) where they fit, so a task touches half the memory.
    n = columns.shape[1]
    for p in range(pairs.shape[0]):
        i, j = pairs[p, 0], pairs[p, 1]
        bi, bj = bins[i], bins[j]
        target = counts[p]
        for r in range(n):
            u = np.uint32(np.int32(bi[r]))
            v = np.uint32(np.int32(bj[r]))
            if u < grid and v < grid:
                target[u * grid + v] += 1
        a, b2, c = inverses[p, 0], 2.0 * inverses[p, 1], inverses[p, 2]
        mi, mj = means[p, 0], means[p, 1]
        xi, xj = columns[i], columns[j]
        one, two, three = 0, 0, 0
        for r in range(n):
            dx = np.float64(xi[r]) - mi
            dy = np.float64(xj[r]) - mj
            d2 = a * dx * dx + b2 * dx * dy + c * dy * dy
            one += np.int64(d2 <= 1.0)
            two += np.int64(d2 <= 4.0)
            three += np.int64(d2 <= 9.0)
        inside[p, 0] += one
        inside[p, 1] += two
        inside[p, 2] += three


def pair_inverses(pairs: np.ndarray, mean: np.ndarray, cov: np.ndarray):
    """Per pair: its 2D mean `[P, 2]` and inverse covariance as (a, b, c) `[P, 3]`."""
    i, j = pairs[:, 0], pairs[:, 1]
    cov2 = pair_covariance(cov, i, j)  # [P, 2, 2]
    vi, vj, cij = cov2[:, 0, 0], cov2[:, 1, 1], cov2[:, 0, 1]
    det = vi * vj - cij * cij
    with np.errstate(divide="ignore", invalid="ignore"):
        inverses = np.stack([vj / det, -cij / det, vi / det], axis=1)
    inverses[det <= 0] = (np.inf, 0.0, np.inf)  # a degenerate pair: no point is inside
    return np.stack([mean[i], mean[j]], axis=1), inverses


def chunk_pair_counts(
    x: np.ndarray, edges: np.ndarray, pairs: np.ndarray, mean: np.ndarray, cov: np.ndarray
) -> dict:
    """2D counts `[P, B, B]` and ellipse coverage counts `[P, 3]` of one chunk's finite rows;
    `n` is the number of rows counted. Counts are uint16 when the chunk has at most 65,535
    rows (else uint32); `combine_pair_counts` sums them as uint32."""
    rows = x[np.isfinite(x).all(axis=1)]
    bins = edges.shape[1] - 1
    dtype = np.uint16 if len(rows) <= np.iinfo(np.uint16).max else np.uint32
    counts = np.zeros((len(pairs), bins * bins), dtype=dtype)
    inside = np.zeros((len(pairs), 3), dtype=np.int64)
    means, inverses = pair_inverses(pairs, mean, cov)
    columns = np.ascontiguousarray(rows.T)  # float32 store values stay float32 in memory
    _pair_kernel(
        columns,
        digitize(rows, edges),
        np.ascontiguousarray(pairs, dtype=np.int64),
        means,
        inverses,
        bins,
        counts,
        inside,
    )
    return {"counts": counts.reshape(len(pairs), bins, bins), "inside": inside, "n": len(rows)}


def combine_pair_counts(a: dict, b: dict) -> dict:
    return {
        "counts": np.add(a["counts"], b["counts"], dtype=np.uint32),
        "inside": a["inside"] + b["inside"],
        "n": a["n"] + b["n"],
    }


def select_pairs(spec: str, corr: np.ndarray) -> np.ndarray:
    """Pairs `[P, 2]` (i < j) from `all`, `top:K` (largest |correlation|), `first:K` (all
    pairs among the first K components) or `i,j;k,l` (`lsf.core.pair_spec`, whose
    `PairSpec.count` is `P` without `corr`)."""
    d = len(corr)
    parsed = parse_pairs(spec).check(d)
    if parsed.form == "all":
        i, j = np.triu_indices(d, 1)
        return np.stack([i, j], axis=1)
    if parsed.form == "first":
        i, j = np.triu_indices(min(parsed.k, d), 1)
        return np.stack([i, j], axis=1)
    if parsed.form == "top":
        i, j = np.triu_indices(d, 1)
        order = np.argsort(-np.abs(np.nan_to_num(corr[i, j])), kind="stable")[: parsed.k]
        return np.stack([i[order], j[order]], axis=1)
    if parsed.form == "list":
        return np.array(parsed.pairs, dtype=np.int64)
    raise ValueError("auto is resolved by lsf.stats.selection.choose_pairs before selecting")
