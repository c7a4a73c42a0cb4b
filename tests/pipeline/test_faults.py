"""Lost workers: a Ray Data encoder actor, a Ray Train worker and Dask-on-Ray task workers
are killed (SIGKILL) mid-run; each run completes and its outputs equal an undisturbed run."""

import os
import signal
import time

import numpy as np
import psutil
import pyarrow.compute as pc
import pytest
import torch
import zarr

from lsf.core.config import AnalyzeConfig, EncodeConfig, ModelConfig, TrainConfig
from lsf.core.progress import QUIET
from lsf.core.runtime import init_ray
from lsf.core.store import chunks_done, open_latents
from lsf.data.shards import SPLIT_VALIDATION
from lsf.encode import encode
from lsf.nn.model import Autoencoder, images_to_tensor, load_model
from lsf.stats.analysis import analyze_latents
from lsf.train import train
from tests.helpers import (
    LONG_ENCODE,
    TINY_MODEL,
    Background,
    checkpoint_registered,
    correlated_latents,
    wait_for,
    write_latent_store,
)

pytestmark = pytest.mark.timeout(400)


def _alive_pids(class_fragment: str) -> list[int]:
    import ray
    from ray.util.state import list_actors

    actors = list_actors(
        # this session's instance by address: another Ray on the machine must not confuse it
        address=ray.get_runtime_context().gcs_address,
        filters=[("state", "=", "ALIVE")],
        limit=1000,
        raise_on_missing_output=False,
    )
    return [a.pid for a in actors if class_fragment in (a.class_name or "") and a.pid]


def test_killed_encoder_actor_is_replaced_and_the_store_is_identical(
    tmp_path, long_shards, trained_run, long_reference_store
):
    run, _ = trained_run
    config = EncodeConfig(**LONG_ENCODE)
    reference = long_reference_store

    out = tmp_path / "latents.zarr"
    job = Background(
        lambda: encode(config, long_shards, str(run / "model.pt"), str(out), progress=QUIET)
    )
    job.start()
    pid = wait_for(lambda: (_alive_pids("LatentEncoder") or [None])[0], 120, "an encoder actor")
    wait_for(
        lambda: (out / "id" / "c").is_dir() and any((out / "id" / "c").iterdir()), 60, "a chunk"
    )
    assert job.is_alive(), "encode finished before the fault; make the data set longer"
    os.kill(pid, signal.SIGKILL)
    summary = job.outcome(300)

    assert summary.chunks_written == summary.chunks_total
    group, expected = zarr.open_group(str(out), mode="r"), zarr.open_group(str(reference), mode="r")
    assert group.attrs["complete"] is True and chunks_done(group).all()
    assert np.array_equal(group["z"][:], expected["z"][:])
    assert np.array_equal(group["id"][:], np.arange(group.attrs["n_samples"]))


def _validation_loss(model, shards: str) -> float:
    """Mean per-pixel MSE of `model` over the validation split of `shards`, recomputed here
    from the shard files (no Ray): the oracle for the loss the training reported."""
    import pyarrow.parquet as pq

    from lsf.data.shards import column_images, read_manifest, shard_urls

    manifest = read_manifest(shards, verify=False)
    tables = [
        pq.read_table(url, columns=["split", "image"]) for url in shard_urls(shards, manifest)
    ]
    images = np.concatenate(
        [
            column_images(
                t.filter(pc.equal(t["split"], SPLIT_VALIDATION))["image"],
                tuple(manifest["image_shape"]),
            )
            for t in tables
        ]
    )
    x = images_to_tensor(np.array(images))
    with torch.no_grad():
        return float(torch.nn.functional.mse_loss(model(x), x, reduction="mean"))


def test_killed_train_worker_is_restarted_from_its_checkpoint(tmp_path, long_shards):
    config = TrainConfig(
        epochs=2, workers=1, cpus_per_worker=0.5, batch_size=32, lr=3e-3, max_failures=2
    )
    out = tmp_path / "run"
    job = Background(lambda: train(ModelConfig(**TINY_MODEL), config, long_shards, str(out)))
    job.start()
    wait_for(lambda: checkpoint_registered(out), 240, "the first recorded checkpoint")
    pids = _alive_pids("RayTrainWorker")
    assert pids and job.is_alive()
    os.kill(pids[0], signal.SIGKILL)
    summary = job.outcome(300)

    assert summary.epochs == 2 and summary.resumed_from_epoch == 1
    # Two undisturbed runs already differ in the last digits (float reductions, Ray Data
    # block order), so "identical" here means: every epoch once, the restart continued from
    # the recorded checkpoint, and the model written is the one whose loss was reported,
    # a trained one (the loss recomputed from the shards, against an untrained model's).
    history = [int(row.split(",")[0]) for row in (out / "metrics.csv").read_text().split()[1:]]
    assert history == [1, 2]
    model, _ = load_model(str(out / "model.pt"))
    assert all(torch.isfinite(p).all() for p in model.state_dict().values())
    trained = _validation_loss(model, long_shards)
    assert summary.val_loss == pytest.approx(trained, rel=1e-3)
    torch.manual_seed(config.seed)
    untrained = _validation_loss(Autoencoder(ModelConfig(**TINY_MODEL)).eval(), long_shards)
    assert trained < 0.8 * untrained, (trained, untrained)


def _own_raylet() -> int:
    """The pid of the raylet of the local Ray instance this process started."""
    import ray

    node = ray._private.worker._global_node
    raylets = node.all_processes.get("raylet") if node is not None else None
    assert raylets, "this test needs a local Ray instance started by this process"
    return raylets[0].process.pid


def _running_task_pids(raylet: int, name_prefix: str) -> list[int]:
    """Workers of `raylet` (its child processes) running a task whose name starts with
    `name_prefix` now, from their process titles (`ray::NAME`, set by Ray when a task
    starts): immediate, unlike the state API's task events, which are flushed on a timer.
    Only this instance's workers: another Ray on the machine (another user's cluster,
    another pytest) runs processes with the same titles, and they are not ours to kill."""
    title = f"ray::{name_prefix}"
    pids = []
    for proc in psutil.Process(raylet).children():
        try:
            cmdline = proc.cmdline()
        except psutil.Error:  # ended meanwhile
            continue
        if cmdline and cmdline[0].startswith(title):
            pids.append(proc.pid)
    return sorted(pids)


def test_killed_dask_on_ray_workers_are_retried_and_results_are_identical(tmp_path, ray_local):
    store = write_latent_store(tmp_path / "l.zarr", correlated_latents(120_000, 24), 2048)
    config = AnalyzeConfig(pairs="all", pca_pairs="all", pair_bins=32)
    expected = analyze_latents(open_latents(store), config, scheduler="threads", progress=QUIET)

    from ray.util.dask import ray_dask_get

    init_ray(num_cpus=2)  # a Ray instance even when an earlier test shut the shared one down
    raylet = _own_raylet()
    job = Background(
        lambda: analyze_latents(open_latents(store), config, scheduler=ray_dask_get, progress=QUIET)
    )
    job.start()
    killed = set()
    deadline = time.time() + 120
    while job.is_alive() and len(killed) < 3 and time.time() < deadline:
        for pid in _running_task_pids(raylet, "dask:"):  # Dask-on-Ray names tasks dask:KEY
            if pid not in killed:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
                break
        time.sleep(0.05)
    result = job.outcome(300)
    assert killed, "no running Dask-on-Ray task was caught; make the store larger"

    assert result.moments.count == expected.moments.count
    np.testing.assert_array_equal(result.moments.cov, expected.moments.cov)
    np.testing.assert_array_equal(result.fits.hist["counts"], expected.fits.hist["counts"])
    np.testing.assert_array_equal(result.trimming.survivors, expected.trimming.survivors)
    np.testing.assert_array_equal(result.pca.model.components, expected.pca.model.components)
    np.testing.assert_array_equal(result.pca.hist["counts"], expected.pca.hist["counts"])
    for mine, theirs in zip(result.pairs, expected.pairs, strict=True):
        np.testing.assert_array_equal(mine.counts, theirs.counts)
