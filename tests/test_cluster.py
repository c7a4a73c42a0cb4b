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


def test_encode_on_two_nodes_equals_the_direct_encoder(
    two_node_cluster, synthetic_shards, trained_run, tmp_path
):
    import torch
    from ray.util.state import list_actors

    from lsf.config import EncodeConfig
    from lsf.data.shards import read_images
    from lsf.encode import encode
    from lsf.model import images_to_tensor, load_model
    from lsf.store import open_store

    run, _ = trained_run
    out = str(tmp_path / "latents.zarr")
    # One CPU per actor on one-CPU nodes: the pool can only grow by using both nodes.
    config = EncodeConfig(rows_per_chunk=64, batch_size=50, actors=2, cpus_per_actor=1.0)
    summary = encode(config, synthetic_shards, str(run / "model.pt"), out, progress=False)
    assert summary.chunks_written == 10
    ids, images = read_images(synthetic_shards)
    model, _ = load_model(run / "model.pt")
    with torch.inference_mode():
        direct = model.encoder(images_to_tensor(images)).numpy()
    z = open_store(out)["z"][:]
    assert np.abs(z[ids] - direct).max() <= 1e-5
    actors = [a for a in list_actors(limit=1000) if "LatentEncoder" in (a.class_name or "")]
    assert len({a.node_id for a in actors}) == 2
