"""Dask task graphs for the analysis: map a pure per-chunk function over the store's row
chunks, tree-reduce the partial results, and pick the scheduler (threads or Dask-on-Ray).

The statistics never import this module and it never imports them: a pass hands in its
per-chunk function and its combine function (see `lsf.stats.analysis`).
"""

from __future__ import annotations

import dask
import numpy as np


def tree_reduce(parts: list, combine):
    """Pairwise reduction of delayed partial results (a balanced tree, fixed order)."""
    while len(parts) > 1:
        paired = [
            dask.delayed(combine, pure=True)(parts[i], parts[i + 1])
            for i in range(0, len(parts) - 1, 2)
        ]
        parts = paired + ([parts[-1]] if len(parts) % 2 else [])
    return parts[0]


def map_reduce(blocks: list, fn, combine, *args):
    """`fn(block, *args)` on every delayed row block, tree-reduced with `combine`."""
    return tree_reduce([dask.delayed(fn, pure=True)(b, *args) for b in blocks], combine)


def ray_scheduler():
    """Dask-on-Ray with its tasks spread over the cluster's nodes (Ray's default packs tasks
    on the driver's node while it has room, so short tasks may never leave it)."""
    import functools

    from ray.util.dask import ray_dask_get

    return functools.partial(ray_dask_get, ray_remote_args={"scheduling_strategy": "SPREAD"})


def scheduler_for(address: str | None):
    """Dask's threaded scheduler locally; Dask-on-Ray when a Ray address is given."""
    if address is None:
        return "threads"
    from lsf.core.runtime import init_ray

    init_ray(address)
    return ray_scheduler()


def map_reduce_rows(blocks: list, rows: list, fn, combine, *args):
    """`fn(block, rows, *args)` on every delayed row block, where `rows` are the store row
    indices of the block's rows (delayed, for row selections), tree-reduced."""
    return tree_reduce(
        [dask.delayed(fn, pure=True)(b, r, *args) for b, r in zip(blocks, rows, strict=True)],
        combine,
    )


def row_starts(chunks: tuple[int, ...]) -> np.ndarray:
    """The first row of every row chunk (`z.chunks[0]`)."""
    return np.concatenate([[0], np.cumsum(chunks)[:-1]]).astype(int)
