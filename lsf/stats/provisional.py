"""Per-component histograms counted before their edges are known, so the first read of the
store gives moments, the row sample and the histograms at once.

The first read counts every component on a fine provisional grid (`provisional_grid`:
`FINE_BINS` uniform bins over the first chunk's range widened by its span on both sides, or
bins of the fixed `bin_width` over it). Once the row sample gives the robust range,
`snap_edges` picks the final edges among the fine edges (the range's low end rounded down
to a fine edge, each final bin a whole number of fine bins, the range's high end rounded
up), and `rebin` adds the fine counts up: every value of a fine bin lies in the same final
bin, so the counts are those `np.histogram` gives on the final edges (a value exactly on
the last final edge is counted as overflow, where `np.histogram` puts it in the last bin).
When the robust range does not fit inside the provisional grid, `snap_edges` returns None
and the analysis counts the histograms in a read of their own. Pure NumPy.
"""

from __future__ import annotations

import numpy as np

FINE_BINS = 4096
MAX_FINE_BINS = 16384  # fixed-width grids wider than this get a histogram read of their own


def provisional_grid(first: np.ndarray, bin_width: float | None) -> np.ndarray | None:
    """Fine edges `[D, G+1]` over the first chunk's finite rows' range widened by its span
    on both sides (multiples of `bin_width` when given); None without 2 rows to go by."""
    if len(first) < 2:
        return None
    lo, hi = first.min(axis=0).astype(np.float64), first.max(axis=0).astype(np.float64)
    span = np.where(hi > lo, hi - lo, 1.0)
    lo, hi = lo - span, hi + span
    if bin_width is None:
        return np.stack([np.linspace(a, b, FINE_BINS + 1) for a, b in zip(lo, hi, strict=True)])
    lo = np.floor(lo / bin_width) * bin_width
    bins = int(np.max(np.ceil((hi - lo) / bin_width)))
    if bins > MAX_FINE_BINS:
        return None
    return lo[:, None] + bin_width * np.arange(bins + 1)


def snap_edges(fine: np.ndarray, span: tuple, bins: int, bin_width: float | None):
    """`(edges [D, B+1], index [D, B+1])`: final edges taken from the fine edges (`index`
    into each row of `fine`) covering the robust `span`; None if they do not fit."""
    lo, hi = span
    g = fine.shape[1] - 1
    width = fine[:, 1] - fine[:, 0]
    start = np.floor((lo - fine[:, 0]) / width).astype(np.int64)
    if bin_width is None:
        step = np.ceil((hi - (fine[:, 0] + start * width)) / (bins * width)).astype(np.int64)
        step = np.maximum(step, 1)
    else:
        start = np.floor(np.round((lo - fine[:, 0]) / width, 6)).astype(np.int64)
        stop = np.ceil(np.round((hi - fine[:, 0]) / width, 6)).astype(np.int64)
        bins = int(np.max(stop - start))
        step = np.ones(len(lo), dtype=np.int64)
    index = start[:, None] + step[:, None] * np.arange(bins + 1)
    if (start < 0).any() or (index[:, -1] > g).any():
        return None
    return np.take_along_axis(fine, index, axis=1), index


def rebin(fine_hist: dict, index: np.ndarray) -> dict:
    """Final `counts [D, B]`, `under`, `over` from the fine grid's counts (`chunk_histograms`
    on the fine edges) and the final edges' `index` into the fine edges."""
    full = np.concatenate(
        [fine_hist["under"][:, None], fine_hist["counts"], fine_hist["over"][:, None]], axis=1
    )
    cumulative = np.concatenate([np.zeros((len(full), 1), np.int64), np.cumsum(full, axis=1)], 1)
    at = np.take_along_axis(cumulative, index + 1, axis=1)  # rows below each final edge
    total = cumulative[:, -1]
    return {
        "counts": np.diff(at, axis=1),
        "under": at[:, 0].copy(),
        "over": total - at[:, -1],
    }
