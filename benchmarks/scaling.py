"""Scaling of the pair analysis over simulated Ray nodes (`ray.cluster_utils.Cluster`).

Run: `python benchmarks/scaling.py [--n 20000] [--dim 64]`. For 1, 2 and 4 nodes of one CPU
each on this machine it runs the all-pairs pass with Dask-on-Ray and prints the wall time
and how many Dask tasks each node ran. On one 2-core machine the simulated nodes share the
same cores, so the time shows the overhead of spreading, not a speed-up; on real nodes the
(row chunk, pair block) tasks divide the work by the number of cores (see README).
"""

import argparse
import collections
import time

import dask
import dask.array as da
import numpy as np

from lsf.stats.histograms import robust_edges
from lsf.stats.pair_analysis import pair_tasks
from lsf.stats.pair_counts import select_pairs


def main() -> None:
    import ray
    from ray.cluster_utils import Cluster
    from ray.util.dask import ray_dask_get
    from ray.util.state import list_tasks

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--dim", type=int, default=64)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.n, args.dim)).astype(np.float32)
    edges = robust_edges(x, 32)
    pairs = select_pairs("all", np.eye(args.dim))
    mean, cov = x.mean(0).astype(np.float64), np.cov(x, rowvar=False)
    chunks = list(da.from_array(x, chunks=(2048, args.dim)).to_delayed().ravel())
    for nodes in (1, 2, 4):
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
        for _ in range(nodes - 1):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, logging_level="ERROR")
        started = time.perf_counter()
        dask.compute(pair_tasks(chunks, edges, pairs, mean, cov, 256), scheduler=ray_dask_get)
        seconds = time.perf_counter() - started
        tasks = list_tasks(filters=[("func_or_class_name", "=", "dask_task_wrapper")], limit=10000)
        per_node = collections.Counter(t.node_id[:8] for t in tasks if t.node_id)
        print(
            f"{nodes} node(s): {seconds:6.1f} s, {len(pairs)} pairs, "
            f"tasks per node {sorted(per_node.values(), reverse=True)}"
        )
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main()
