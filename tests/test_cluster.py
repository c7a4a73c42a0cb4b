"""Multi-node: the pair analysis on a real 2-node Ray cluster (`ray.cluster_utils.Cluster`)
run with Dask-on-Ray gives the local results, with tasks on both nodes."""

import socket

import dask.array as da
import numpy as np
import pytest

from lsf.config import AnalyzeConfig
from lsf.stats.analysis import analyze_latents
from tests.test_stats import latent_like

pytestmark = pytest.mark.timeout(300)


def quiet(*_):
    pass


@pytest.fixture
def two_node_cluster():
    import ray
    from ray.cluster_utils import Cluster

    ray.shutdown()  # leave the session's local instance; later tests start a new one
    with socket.socket() as probe:  # a free dashboard port: 8265 may be taken by another Ray
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "dashboard_port": port})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def test_pair_analysis_on_two_nodes_equals_the_local_run(two_node_cluster):
    import ray
    from ray.util.dask import ray_dask_get
    from ray.util.state import list_tasks

    x = latent_like(3000)
    z = da.from_array(x, chunks=(500, x.shape[1]))
    config = AnalyzeConfig(pair_bins=16, pair_block=11)
    local = analyze_latents(z, config, log=quiet)
    on_ray = analyze_latents(z, config, scheduler=ray_dask_get, log=quiet)
    for a, b in zip(local.pairs, on_ray.pairs, strict=True):
        np.testing.assert_array_equal(a.counts, b.counts)
        np.testing.assert_array_equal(a.table["score"], b.table["score"])
    np.testing.assert_array_equal(local.pca.explained_variance, on_ray.pca.explained_variance)
    assert len(ray.nodes()) == 2
    tasks = list_tasks(filters=[("func_or_class_name", "=", "dask_task_wrapper")], limit=10000)
    nodes = {t.node_id for t in tasks if t.node_id}
    assert len(tasks) > 100 and len(nodes) == 2
