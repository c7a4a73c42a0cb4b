"""Multi-node: the pair analysis on a real 2-node Ray cluster (`ray.cluster_utils.Cluster`)
run with Dask-on-Ray gives the local results, with tasks on both nodes."""

import collections
import socket

import dask.array as da
import numpy as np
import pytest

from lsf.core.config import AnalyzeConfig
from lsf.core.progress import QUIET
from lsf.stats.analysis import analyze_latents
from lsf.stats.graph import ray_scheduler
from tests.helpers import ORACLE_BATCH, assert_model_close, latent_like

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


def node_recorder():
    """A Dask-on-Ray callback (a context manager) that reports, from inside each Ray task,
    which node ran it, and a function returning the `(key, node)` records.

    The report is a blocking call to a recorder actor made before the task returns, so the
    record is complete when `dask.compute` returns (unlike Ray's state API, whose task events
    are flushed on a timer and may be dropped)."""
    import ray
    from ray.util.dask import RayDaskCallback

    @ray.remote(num_cpus=0)
    class TaskNodes:
        def __init__(self):
            self.seen = []

        def record(self, key: str, node: str) -> None:
            self.seen.append((key, node))

        def records(self) -> list:
            return self.seen

    class RecordNode(RayDaskCallback):
        def __init__(self, recorder):
            super().__init__()
            self.recorder = recorder

        def _ray_posttask(self, key, result, pre_state):
            node = ray.get_runtime_context().get_node_id()
            ray.get(self.recorder.record.remote(str(key), node))

    recorder = TaskNodes.remote()
    return RecordNode(recorder), lambda: ray.get(recorder.records.remote())


def test_pair_analysis_on_two_nodes_equals_the_local_run(two_node_cluster):
    import ray

    x = latent_like(3000)
    z = da.from_array(x, chunks=(500, x.shape[1]))
    config = AnalyzeConfig(pair_bins=16, pair_block=11)
    local = analyze_latents(z, config, progress=QUIET)
    recording, records = node_recorder()
    with recording:
        on_ray = analyze_latents(z, config, scheduler=ray_scheduler(), progress=QUIET)
    for a, b in zip(local.pairs, on_ray.pairs, strict=True):
        np.testing.assert_array_equal(a.counts, b.counts)
        np.testing.assert_array_equal(a.table["score"], b.table["score"])
    np.testing.assert_array_equal(
        local.pca.model.explained_variance, on_ray.pca.model.explained_variance
    )
    assert len(ray.nodes()) == 2

    pair_nodes = collections.Counter(node for key, node in records() if "chunk_pair_counts" in key)
    # 6 row chunks x ceil(pairs / 11) blocks, in original and PCA coordinates
    pairs = sum(len(r.pairs) for r in on_ray.pairs)
    expected_tasks = 6 * sum(-(-len(r.pairs) // config.pair_block) for r in on_ray.pairs)
    print(f"pair tasks per node ({pairs} pairs): {dict(pair_nodes)}")
    assert sum(pair_nodes.values()) == expected_tasks
    assert len(pair_nodes) == 2 and min(pair_nodes.values()) > 0


def test_encode_on_two_nodes_equals_the_direct_encoder(
    two_node_cluster, synthetic_shards, trained_run, tmp_path
):
    import ray
    from ray.util.state import list_actors

    from lsf.core.config import EncodeConfig
    from lsf.core.store import open_store
    from lsf.data.shards import read_images
    from lsf.encode import encode
    from lsf.nn.model import load_model
    from lsf.sampling.decode import encode_images

    run, _ = trained_run
    out = str(tmp_path / "latents.zarr")
    # One CPU per actor on one-CPU nodes: the pool can only grow by using both nodes.
    config = EncodeConfig(rows_per_chunk=64, batch_size=50, actors=2, cpus_per_actor=1.0)
    summary = encode(config, synthetic_shards, str(run / "model.pt"), out, progress=QUIET)
    assert summary.chunks_written == 10
    ids, images = read_images(synthetic_shards)
    model, _ = load_model(run / "model.pt")
    direct = encode_images(model, images, batch_size=ORACLE_BATCH)
    z = open_store(out)["z"][:]
    # float32 forward passes of different batch sizes and thread counts differ in the last bits
    assert_model_close(z[ids], direct)
    print(f"encoded chunks per node: {summary.chunks_per_node}")
    assert sum(summary.chunks_per_node.values()) == 10
    # Which actor encodes which chunk is Ray Data's choice (one fast actor may take all ten);
    # what the pool guarantees is its placement: one actor per one-CPU node. The GCS actor
    # table records an actor when it is created (unlike task events, flushed on a timer), so
    # it is complete once encode has returned.
    address = ray.get_runtime_context().gcs_address
    actors = [
        a
        for a in list_actors(address=address, limit=1000)
        if "LatentEncoder" in (a.class_name or "")
    ]
    assert len({a.node_id for a in actors}) == 2
