"""Dask task graphs for the analysis, and the only module that builds or runs them: the
delayed row blocks of a lazy array, one pure task per call, a function mapped over the
chunks, the partial results reduced (a balanced tree, or a fixed number of chains where the
partials are large), the graphs computed, and the scheduler (threads or Dask-on-Ray).

The statistics never import this module and it never imports them: a pass
(`lsf.stats.analysis`, `pair_analysis`, `regions_pass`) hands in its per-chunk function and
its combine function. Every task is `pure`: its key is a hash of the function and its
arguments, so the same graph gets the same keys (and Dask's order) on every run.
"""

from __future__ import annotations

import dask
import numpy as np


def row_blocks(array) -> list:
    """The delayed blocks of a Dask array chunked by rows only, one per row chunk, in row
    order (`z [n, D]` or a split `[n]`)."""
    return list(array.to_delayed().ravel())


def task(fn, *args, nout: int | None = None):
    """One pure task `fn(*args)`; with `nout`, a result of that many values to index."""
    return dask.delayed(fn, pure=True, nout=nout)(*args)


def map_chunks(fn, *per_chunk: list, args: tuple = (), nout: int | None = None) -> list:
    """One task per chunk: `fn(per_chunk[0][i], per_chunk[1][i], ..., *args)` for chunk i
    (the lists of `per_chunk` are as long as each other)."""
    return [task(fn, *items, *args, nout=nout) for items in zip(*per_chunk, strict=True)]


def tree_reduce(parts: list, combine):
    """Pairwise reduction of delayed partial results (a balanced tree, fixed order)."""
    while len(parts) > 1:
        paired = [task(combine, parts[i], parts[i + 1]) for i in range(0, len(parts) - 1, 2)]
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
            total = task(combine, total, part)
        ends.append(total)
    return tree_reduce(ends, combine)


def map_reduce(blocks: list, fn, combine, *args):
    """`fn(block, *args)` on every delayed row block, tree-reduced with `combine`."""
    return tree_reduce(map_chunks(fn, blocks, args=args), combine)


def map_reduce_rows(blocks: list, rows: list, fn, combine, *args, reduce=tree_reduce):
    """`fn(block, rows, *args)` on every delayed row block, where `rows` are the store row
    indices of the block's rows (delayed, for row selections), reduced by `reduce`
    (`tree_reduce` or `chain_reduce`)."""
    return reduce(map_chunks(fn, blocks, rows, args=args), combine)


def compute_graphs(*graphs, scheduler) -> tuple:
    """The values of `graphs`, computed together (shared tasks run once) on `scheduler`."""
    return dask.compute(*graphs, scheduler=scheduler)


def compute_here(graph):
    """The value of one small graph, computed in this thread (Dask's synchronous scheduler)."""
    return graph.compute(scheduler="sync")


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


def row_starts(chunks: tuple[int, ...]) -> np.ndarray:
    """The first row of every row chunk (`z.chunks[0]`)."""
    return np.concatenate([[0], np.cumsum(chunks)[:-1]]).astype(int)
