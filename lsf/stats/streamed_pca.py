"""The top K principal components of rows that arrive a block at a time (for latents too wide
for the exact D x D covariance of `lsf.stats.pca`), in memory O(K x D + one batch).

`column_variance` / `combine_variance` / `total_variance` stream the per-component variance
exactly (float64, centred per block and combined by Chan's formula), so the explained variance
ratio is against the true total variance, not the K components'. `rebatch` regroups row
blocks into batches of `batch_rows` (each at least `min_rows`, the last at most
`batch_rows + min_rows - 1`); `IncrementalComponents` feeds them to scikit-learn's
`IncrementalPCA.partial_fit` in float64; `from_svd` turns a thin SVD of the centred rows
(Dask's `svd_compressed` in `lsf pca --method randomized`) into the same result. Signs follow
`lsf.stats.pca.fix_signs` (each axis's largest-|loading| entry positive). Pure NumPy and
scikit-learn; `lsf/pca.py` reads the store and runs it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import IncrementalPCA  # at import: BLAS limits see its SciPy

from lsf.stats.pca import fix_signs


@dataclass
class PrincipalComponents:
    mean: np.ndarray  # (D,) float64
    components: np.ndarray  # (K, D): row k is the k-th principal axis, unit length
    explained_variance: np.ndarray  # (K,) variance along each axis (ddof=1), descending
    explained_variance_ratio: np.ndarray  # (K,) of the total variance (all D components)
    total_variance: float  # sum of the D per-component variances (ddof=1)
    rows: int


def column_variance(x: np.ndarray) -> dict:
    """Count, mean and centred sum of squares per component of one block `[m, D]`."""
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=0) if len(x64) else np.zeros(x.shape[1])
    x64 -= mean
    return {"count": len(x64), "mean": mean, "m2": np.einsum("ij,ij->j", x64, x64)}


def combine_variance(a: dict, b: dict) -> dict:
    """Two blocks' `column_variance` as one (Chan et al.'s pairwise update)."""
    n = a["count"] + b["count"]
    if a["count"] == 0 or b["count"] == 0:
        return a if b["count"] == 0 else b
    delta = b["mean"] - a["mean"]
    mean = a["mean"] + delta * (b["count"] / n)
    m2 = a["m2"] + b["m2"] + delta * delta * (a["count"] * b["count"] / n)
    return {"count": n, "mean": mean, "m2": m2}


def total_variance(moments: dict) -> float:
    """The sum of the per-component variances (ddof=1): the trace of the covariance."""
    return float(moments["m2"].sum() / (moments["count"] - 1))


def rebatch(blocks: Iterable[np.ndarray], batch_rows: int, min_rows: int) -> Iterator[np.ndarray]:
    """The rows of `blocks` in order, regrouped into batches of `batch_rows` rows; a batch is
    only cut while at least `min_rows` rows stay behind, so the last one holds `min_rows` to
    `batch_rows + min_rows - 1` rows (or all rows, when there are fewer)."""
    if batch_rows < 1 or min_rows < 1:
        raise ValueError("batch_rows and min_rows must be positive")
    pending: list[np.ndarray] = []
    count = 0
    for block in blocks:
        if not len(block):
            continue
        pending.append(block)
        count += len(block)
        if count < batch_rows + min_rows:
            continue
        rows = np.concatenate(pending) if len(pending) > 1 else pending[0]
        start = 0
        while len(rows) - start >= batch_rows + min_rows:
            yield rows[start : start + batch_rows]
            start += batch_rows
        pending, count = [rows[start:]], len(rows) - start
    if count:
        yield np.concatenate(pending) if len(pending) > 1 else pending[0]


class IncrementalComponents:
    """scikit-learn's `IncrementalPCA` fed one batch at a time, in float64, beside the exact
    streamed total variance. `update(batch)` needs `batch` of at least K rows (`rebatch`)."""

    def __init__(self, n_components: int):
        self.model = IncrementalPCA(n_components=n_components, copy=False)
        self.moments: dict | None = None

    def update(self, batch: np.ndarray) -> None:
        part = column_variance(batch)
        self.moments = part if self.moments is None else combine_variance(self.moments, part)
        self.model.partial_fit(batch.astype(np.float64))  # float32 input would fit in float32

    def result(self) -> PrincipalComponents:
        m = self.model
        n = int(m.n_samples_seen_)
        return from_svd(self.moments, m.singular_values_, m.components_, n)


def from_svd(
    moments: dict, singular_values: np.ndarray, components: np.ndarray, rows: int
) -> PrincipalComponents:
    """The result of a thin SVD `U S Vt` of the `rows` centred rows: variance `S^2/(n-1)`
    along each row of `Vt`, as a share of the streamed total variance (`moments`)."""
    order = np.argsort(-np.asarray(singular_values), kind="stable")
    s = np.asarray(singular_values, dtype=np.float64)[order]
    variance = s * s / (rows - 1)
    total = total_variance(moments)
    return PrincipalComponents(
        mean=np.asarray(moments["mean"], dtype=np.float64),
        components=fix_signs(np.asarray(components, dtype=np.float64)[order]),
        explained_variance=variance,
        explained_variance_ratio=variance / total if total > 0 else np.zeros_like(variance),
        total_variance=total,
        rows=rows,
    )
