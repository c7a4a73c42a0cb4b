"""Row selections of the analysis that do not depend on how the store is chunked.

- `row_keys(rows, seed)`: a seeded uniform 64-bit key per store row (splitmix64 of
  `row ^ seed`), so "the `k` rows of smallest key" is the same random subset whatever the
  chunking; the PCA sample is the `pca_sample` smallest keys among the trimmed rows.
- `KeyBand` / `key_band`: where that `k`-th smallest key lies, estimated from the row
  sample, so that one streaming read keeps only the rows in a narrow band of keys.
- `smallest_keys` / `merge_smallest`: the exact `k` smallest keys, as a bounded per-chunk
  partial (the fallback when the band misses).
- `top_k` / `merge_top_k`: the `k` largest values of a chunk with their store rows, merged
  across chunks (outliers; ties go to the smaller row, as a stable argsort would).
- `choose_pairs`: the pairs `auto` gives 2D grids, adapted to the dimension and a budget.
Pure NumPy; `lsf.stats.analysis` maps these over the chunks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

KEY_SPAN = 2.0**64
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def row_keys(rows: np.ndarray, seed: int) -> np.ndarray:
    """splitmix64(`row ^ seed`) for every store row index: uint64, uniform, seeded."""
    z = (np.asarray(rows).astype(np.uint64) ^ np.uint64(seed)) + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@dataclass
class KeyBand:
    """Keys below `low` are certainly (with ~6 sigma) in the k smallest; the k-th smallest
    lies in `[low, high)`. `high` of None: no upper bound (the band reaches the top)."""

    low: int
    high: int | None


def key_band(k: int, expected: float, sampled: int, fraction: float) -> KeyBand:
    """The band holding the `k`-th smallest key of `expected` rows (estimated as `fraction`
    of the selected rows from `sampled` sample rows): +- 6 sigma of the binomial count of
    keys below a threshold and of the estimate of `expected`."""
    if expected <= k:
        return KeyBand(0, None)
    spread = expected * math.sqrt(max(fraction * (1 - fraction), 1e-4) / max(sampled, 1))
    share = k / expected
    sigma = math.sqrt(k + (share * spread) ** 2) + 1.0
    low = max(0.0, (k - 6 * sigma) / expected)
    high = (k + 6 * sigma) / expected
    return KeyBand(int(low * KEY_SPAN), None if high >= 1 else int(high * KEY_SPAN))


def in_band(keys: np.ndarray, band: KeyBand) -> tuple[np.ndarray, np.ndarray]:
    """`(below, inside)` masks: keys below the band, keys inside it."""
    below = keys < np.uint64(band.low)
    inside = ~below if band.high is None else ~below & (keys < np.uint64(band.high))
    return below, inside


def smallest_keys(keys: np.ndarray, k: int) -> np.ndarray:
    """The `k` smallest keys, sorted (all of them if fewer)."""
    if len(keys) > k:
        keys = np.partition(keys, k - 1)[:k]
    return np.sort(keys)


def merge_smallest(a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
    return smallest_keys(np.concatenate([a, b]), k)


def top_k(values: np.ndarray, rows: np.ndarray, k: int, payload=None) -> dict:
    """The `k` largest `values` with their store `rows` (and `payload`, default the values),
    largest first; ties go to the smaller row."""
    payload = values if payload is None else payload
    order = np.lexsort((rows, -values))[:k]
    return {
        "values": values[order].astype(np.float64),
        "rows": rows[order].astype(np.int64),
        "payload": np.asarray(payload)[order].astype(np.float64),
    }


def merge_top_k(a: dict, b: dict, k: int) -> dict:
    joined = {key: np.concatenate([a[key], b[key]]) for key in a}
    return top_k(joined["values"], joined["rows"], k, joined["payload"])


def split_mask(split: np.ndarray | None, code: int | None, n: int) -> np.ndarray:
    """Rows of a chunk in the selected split (`code` None: every row; `split` None: a store
    without a split array, all train)."""
    if code is None:
        return np.ones(n, dtype=bool)
    if split is None:
        return np.full(n, code == 0)
    return np.asarray(split) == code


BYTES_PER_GRID_CELL = 4  # uint32 pair counts, as stored in analysis.zarr


@dataclass
class PairChoice:
    """Which pairs of one coordinate system get 2D grids, and why (summary.json
    `pair_selection`, shown in the report)."""

    system: str  # "original" or "pca"
    requested: str  # the `pairs` / `pca_pairs` setting
    chosen: str  # the pair spec used: all, top:K, first:K or i,j;...
    reason: str

    def __str__(self) -> str:
        return f"{self.chosen} ({self.reason})"


def choose_pairs(spec: str, d: int, system: str, budget_mb: int, bins: int) -> PairChoice:
    """`auto`: every pair while their grids (`bins`^2 uint32 each) fit `budget_mb`; beyond,
    as many pairs as fit: the most correlated ones in original coordinates (`top:K`), every
    pair among the first K components in PCA coordinates (`first:K`). Other specs pass."""
    spec = spec.strip()
    if spec != "auto":
        return PairChoice(system, spec, spec, "as set")
    every = d * (d - 1) // 2
    grid = bins * bins * BYTES_PER_GRID_CELL
    fit = max(1, budget_mb * 2**20 // grid)
    budget = f"{every} pairs x {bins}^2 grids = {every * grid / 2**20:.0f} MiB"
    if every <= fit:
        return PairChoice(system, spec, "all", f"{budget} fit pair_budget_mb {budget_mb}")
    over = f"{budget} exceed pair_budget_mb {budget_mb}"
    if system == "original":
        return PairChoice(system, spec, f"top:{fit}", f"{over}: the {fit} most correlated pairs")
    k = int((1 + math.isqrt(1 + 8 * fit)) // 2)  # largest k with k (k - 1) / 2 <= fit
    while k * (k - 1) // 2 > fit:
        k -= 1
    return PairChoice(
        system, spec, f"first:{k}", f"{over}: every pair of the first {k} PCA components"
    )
