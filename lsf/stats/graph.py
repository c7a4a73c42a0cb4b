"""Dask task graphs for the analysis: map a pure per-chunk function over the store's row
chunks, reduce the partial results (a balanced tree, or a fixed number of chains where the
partials are large), and pick the scheduler (threads or Dask-on-Ray).

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


REDUCTION_CHAINS = 2  # partial sums waiting at once in `chain_reduce` (a fixed number: the
# order of the sums, and so their bits, must not depend on the scheduler or the nodes)


def chain_reduce(parts: list, combine, chains: int = REDUCTION_CHAINS):
    """Part i joins chain i % `chains`; each chain adds its parts in order, then the chains
    are reduced pairwise. Dask's order then keeps about `chains` partial results waiting,
    where a tree keeps one per level (6 at 49 parts): for partials of float64 D x D matrices
    per fact shell (268 MB each at D = 2,048). Leaves still run in parallel; only the cheap
    combines are sequential."""
    ends = []
    for chain in range(min(chains, len(parts))):
        total = parts[chain]
        for part in parts[chain + chains :: chains]:
            total = dask.delayed(combine, pure=True)(total, part)
        ends.append(total)
    return tree_reduce(ends, combine)


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


def map_reduce_rows(blocks: list, rows: list, fn, combine, *args, reduce=tree_reduce):
    """`fn(block, rows, *args)` on every delayed row block, where `rows` are the store row
    indices of the block's rows (delayed, for row selections), reduced by `reduce`
    (`tree_reduce` or `chain_reduce`)."""
    return reduce(
        [dask.delayed(fn, pure=True)(b, r, *args) for b, r in zip(blocks, rows, strict=True)],
        combine,
    )


def row_starts(chunks: tuple[int, ...]) -> np.ndarray:
    """The first row of every row chunk (`z.chunks[0]`)."""
    return np.concatenate([[0], np.cumsum(chunks)[:-1]]).astype(int)
