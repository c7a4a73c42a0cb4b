"""`lsf train`: the autoencoder trained with Ray Train (DDP over N workers, GPU or CPU).

`train_loop_per_worker` is a plain PyTorch loop (Adam, MSE/BCE, optional cosine schedule)
fed by Ray Data shards; Ray Train runs it under DDP, checkpoints every epoch and resumes a
killed run that is started again with the same `--out`. The driver writes RUN/model.pt,
model.json, metrics.csv and reconstructions.png.
Run: `lsf train --shards work/shards --out work/run --workers 2` (or `jobs/train.py`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import fsspec
import numpy as np
import torch

from lsf.core.config import ModelConfig, TrainConfig, as_dict
from lsf.core.errors import LsfError, from_worker, worker_errors
from lsf.core.locks import locks_output
from lsf.core.outputs import (
    exists,
    is_local,
    join,
    local_path,
    makedirs,
    read_json,
    write_json_atomic,
)
from lsf.core.progress import TERMINAL, Progress
from lsf.core.train_lines import EpochLines
from lsf.data.shards import (
    SPLIT_TRAIN,
    SPLIT_VALIDATION,
    column_images,
    read_manifest,
    shard_urls,
)
from lsf.nn.artifacts import write_run_artifacts
from lsf.nn.model import Autoencoder, images_to_tensor
from lsf.nn.training import (
    autocast_dtype_for,
    evaluate,
    reconstruction_loss,
    train_epoch,
)

RUN_IDENTITY = "run.json"
MODEL_INFO = "model.json"  # written last: marks the run complete
CHECKPOINT_STATE = "state.pt"
CHECKPOINT_INFO = "state.json"


@dataclass
class TrainSummary:
    out: str
    epochs: int
    train_loss: float
    val_loss: float
    images_per_second: float
    seconds: float
    resumed_from_epoch: int

    def __str__(self) -> str:
        resumed = (
            f", resumed after epoch {self.resumed_from_epoch}" if self.resumed_from_epoch else ""
        )
        return (
            f"trained {self.epochs} epochs: train loss {self.train_loss:.5f}, val loss "
            f"{self.val_loss:.5f}, {self.images_per_second:.0f} img/s, {self.seconds:.1f} s"
            f"{resumed}; model at {self.out}/model.pt"
        )


def _tensor_batches(iterator, batch_size: int, shape, shuffle_seed: int | None) -> Iterator:
    kwargs = {}
    if shuffle_seed is not None:
        kwargs = {"local_shuffle_buffer_size": 4 * batch_size, "local_shuffle_seed": shuffle_seed}
    for table in iterator.iter_batches(
        batch_size=batch_size, batch_format="pyarrow", prefetch_batches=2, **kwargs
    ):
        yield images_to_tensor(np.array(column_images(table["image"], shape)))


def _all_reduce_sum(values: list[float], device) -> list[float]:
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.all_reduce(tensor)
    return tensor.tolist()


def _load_checkpoint(checkpoint, model, optimizer, scheduler) -> tuple[int, list[dict]]:
    if checkpoint is None:
        return 0, []
    with checkpoint.as_directory() as folder:
        state = torch.load(Path(folder) / CHECKPOINT_STATE, map_location="cpu", weights_only=True)
        info = json.loads((Path(folder) / CHECKPOINT_INFO).read_text())
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and "scheduler" in state:
        scheduler.load_state_dict(state["scheduler"])
    return info["epoch"], info["history"]


def _save_checkpoint(folder: str, model, optimizer, scheduler, info: dict):
    """Rank 0's checkpoint: weights, optimizer and schedule state, and the run's history."""
    import ray.train

    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict()}
    if scheduler is not None:
        state["scheduler"] = scheduler.state_dict()
    torch.save(state, Path(folder) / CHECKPOINT_STATE)
    (Path(folder) / CHECKPOINT_INFO).write_text(json.dumps(info))
    return ray.train.Checkpoint.from_directory(folder)


def _model_and_optimizer(config: dict, train_cfg: TrainConfig):
    """A freshly seeded model, its Adam optimizer and the optional cosine schedule."""
    torch.manual_seed(train_cfg.seed)
    model = Autoencoder(ModelConfig(**config["model"]))
    optimizer = torch.optim.Adam(model.parameters(), lr=train_cfg.lr)
    scheduler = None
    if train_cfg.lr_schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=train_cfg.epochs)
    return model, optimizer, scheduler


def train_loop_per_worker(config: dict) -> None:
    """The per-worker loop Ray Train runs: ordinary PyTorch with a few Ray calls."""
    import ray.train
    import ray.train.torch

    context = ray.train.get_context()
    train_cfg = TrainConfig(**config["train"])
    threads = train_cfg.threads_per_worker or max(
        1, (os.cpu_count() or 1) // context.get_local_world_size()
    )
    torch.set_num_threads(threads)
    model, optimizer, scheduler = _model_and_optimizer(config, train_cfg)
    start_epoch, history = _load_checkpoint(ray.train.get_checkpoint(), model, optimizer, scheduler)
    lines = config["lines"] if context.get_world_rank() == 0 else None
    if start_epoch and lines is not None:
        lines.put(("resumed", start_epoch, train_cfg.epochs))
    device = ray.train.torch.get_device()
    ddp_model = ray.train.torch.prepare_model(model)
    autocast = autocast_dtype_for(device, train_cfg.mixed_precision)
    loss_fn = reconstruction_loss(train_cfg.loss)
    shape = tuple(config["image_shape"])
    train_shard = ray.train.get_dataset_shard("train")
    val_shard = ray.train.get_dataset_shard("val")
    for epoch in range(start_epoch + 1, train_cfg.epochs + 1):
        started = time.perf_counter()
        batches = _tensor_batches(train_shard, train_cfg.batch_size, shape, train_cfg.seed + epoch)
        train_sum, train_n = train_epoch(
            ddp_model,
            batches,
            optimizer,
            loss_fn,
            epoch=epoch,
            device=device,
            autocast_dtype=autocast,
        )
        elapsed = time.perf_counter() - started
        val_batches = _tensor_batches(val_shard, train_cfg.batch_size, shape, None)
        val_sum, val_n = evaluate(ddp_model, val_batches, loss_fn, device)
        if scheduler is not None:
            scheduler.step()
        train_sum, train_n, val_sum, val_n, elapsed = _all_reduce_sum(
            [train_sum, train_n, val_sum, val_n, elapsed], device
        )
        metrics = {
            "epoch": epoch,
            "train_loss": train_sum / max(train_n, 1),
            "val_loss": val_sum / max(val_n, 1),
            "images_per_second": train_n / max(elapsed / context.get_world_size(), 1e-9),
            "lr": optimizer.param_groups[0]["lr"],
        }
        history = [*history, metrics]
        info = {"epoch": epoch, "history": history, "resumed_from": start_epoch}
        with tempfile.TemporaryDirectory() as folder:
            checkpoint = None
            if context.get_world_rank() == 0:
                info["model"] = config["model"]
                checkpoint = _save_checkpoint(folder, model, optimizer, scheduler, info)
            ray.train.report(metrics, checkpoint=checkpoint)
            if lines is not None:
                lines.put(("epoch", metrics, train_cfg.epochs))


def _split_dataset(urls: list[str], split: int, cache: bool):
    import pyarrow.compute as pc
    import ray.data

    def rows_of_split(table):
        return table.filter(pc.equal(table["split"], split))

    dataset = ray.data.read_parquet(urls, columns=["id", "split", "image"]).map_batches(
        rows_of_split, batch_format="pyarrow", batch_size=None
    )
    return dataset.materialize() if cache else dataset


def _run_identity(model_config: ModelConfig, train_config: TrainConfig, manifest: dict) -> dict:
    """What must match for a rerun to resume a run (epochs may grow; workers may change)."""
    keep = {k: v for k, v in as_dict(train_config).items() if k in ("loss", "batch_size", "seed")}
    return {"model": as_dict(model_config), "train": keep, "shards": manifest["fingerprint"]}


def _check_run_folder(out: str, identity: dict, overwrite: bool, resume: bool) -> None:
    fs, path = fsspec.core.url_to_fs(out)
    if overwrite and fs.exists(path):
        fs.rm(path, recursive=True)
    if fs.exists(join(path, MODEL_INFO)):
        raise LsfError(f"{out} already holds a trained model; pass --overwrite to retrain")
    if fs.exists(join(path, RUN_IDENTITY)):
        previous = read_json(join(out, RUN_IDENTITY))
        if previous != identity:
            changed = sorted(k for k in identity if previous.get(k) != identity[k])
            raise LsfError(
                f"{out} holds checkpoints of an incompatible run ({', '.join(changed)} differ); "
                "pass --overwrite or choose another --out"
            )
    elif resume:
        raise LsfError(f"nothing to resume in {out}: no checkpoints from an earlier run")


def _storage(out: str) -> tuple[str, object | None]:
    """Ray Train's `(storage_path, storage_filesystem)` for checkpoints under `out/ray`: a
    local path, or any fsspec file system wrapped for pyarrow (s3://, gs://, ...)."""
    if is_local(out):
        return os.path.abspath(join(local_path(out), "ray")), None
    import pyarrow.fs

    fs, path = fsspec.core.url_to_fs(out)
    return join(path, "ray"), pyarrow.fs.PyFileSystem(pyarrow.fs.FSSpecHandler(fs))


def is_complete(out: str) -> bool:
    """A run is complete once `model.json` exists (written after `model.pt`)."""
    return exists(join(out, MODEL_INFO))


def _check_shards(manifest: dict, model_config: ModelConfig, shards: str) -> None:
    height, _, channels = manifest["image_shape"]
    if (height, channels) != (model_config.image_size, model_config.channels):
        raise LsfError(
            f"shards hold {height}px images with {channels} channels but the model expects "
            f"{model_config.image_size}px with {model_config.channels}; set model.image_size "
            "in the config or prepare the shards with a matching --size"
        )
    if manifest["splits"]["validation"] == 0:
        raise LsfError(f"{shards} has no validation images; prepare with a val_fraction > 0")


def _trainer(model_config, train_config, shards: str, manifest: dict, out: str, lines):
    """The TorchTrainer: one worker per DDP rank, checkpoints under RUN/ray, retried failures."""
    import ray.train
    from ray.train.torch import TorchTrainer

    from lsf.core.runtime import uses_gpus

    use_gpu = uses_gpus(train_config.gpus_per_worker)
    resources = {"CPU": train_config.cpus_per_worker}
    if use_gpu:
        resources["GPU"] = train_config.gpus_per_worker
    urls = shard_urls(shards, manifest)
    with worker_errors("reading the shards"):
        datasets = {
            "train": _split_dataset(urls, SPLIT_TRAIN, train_config.cache_dataset),
            "val": _split_dataset(urls, SPLIT_VALIDATION, train_config.cache_dataset),
        }
    storage_path, storage_filesystem = _storage(out)
    return TorchTrainer(
        train_loop_per_worker,
        train_loop_config={
            "model": as_dict(model_config),
            "train": as_dict(train_config),
            "image_shape": manifest["image_shape"],
            "lines": lines,
        },
        scaling_config=ray.train.ScalingConfig(
            num_workers=train_config.workers, use_gpu=use_gpu, resources_per_worker=resources
        ),
        run_config=ray.train.RunConfig(
            name="train",
            storage_path=storage_path,
            storage_filesystem=storage_filesystem,
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=2),
            failure_config=ray.train.FailureConfig(max_failures=train_config.max_failures),
            logging_config=ray.train.LoggingConfig(log_level="WARNING"),
        ),
        datasets=datasets,
        dataset_config=ray.train.DataConfig(datasets_to_split=["train", "val"]),
    )


def _final_checkpoint(result, model_config: ModelConfig) -> tuple[Autoencoder, dict]:
    """The trained model (eval mode) and the checkpoint's info of Ray Train's last report."""
    with result.checkpoint.as_directory() as folder:
        state = torch.load(Path(folder) / CHECKPOINT_STATE, map_location="cpu", weights_only=True)
        info = json.loads((Path(folder) / CHECKPOINT_INFO).read_text())
    model = Autoencoder(model_config)
    model.load_state_dict(state["model"])
    model.eval()
    return model, info


@locks_output("out")
def train(
    model_config: ModelConfig,
    train_config: TrainConfig,
    shards: str,
    out: str,
    *,
    overwrite: bool = False,
    resume: bool = False,
    address: str | None = None,
    progress: Progress = TERMINAL,
) -> TrainSummary:
    """Train on `shards` with Ray Train and write the run artifacts to `out`."""
    from lsf.core.runtime import init_ray

    started = time.perf_counter()
    manifest = read_manifest(shards)
    _check_shards(manifest, model_config, shards)
    if is_local(out):
        out = os.path.abspath(local_path(out))
    identity = _run_identity(model_config, train_config, manifest)
    _check_run_folder(out, identity, overwrite, resume)
    makedirs(out)
    write_json_atomic(join(out, RUN_IDENTITY), identity)
    progress.log(f"[train] {Autoencoder(model_config).describe()}")

    init_ray(address)
    with EpochLines(progress) as lines:
        trainer = _trainer(model_config, train_config, shards, manifest, out, lines.queue)
        try:
            result = trainer.fit()
        except Exception as exc:  # Ray wraps worker errors; surface the lsf ones as one line
            raise _as_lsf_error(exc) from None
    if result.error is not None:
        raise _as_lsf_error(result.error)
    model, info = _final_checkpoint(result, model_config)
    history = info["history"]
    summary = TrainSummary(
        out=out,
        epochs=history[-1]["epoch"],
        train_loss=history[-1]["train_loss"],
        val_loss=history[-1]["val_loss"],
        images_per_second=float(np.mean([h["images_per_second"] for h in history])),
        seconds=time.perf_counter() - started,
        resumed_from_epoch=info["resumed_from"],
    )
    details = {
        "train": as_dict(train_config),
        "image_shape": manifest["image_shape"],
        "shards": {"path": shards, "fingerprint": manifest["fingerprint"], "n": manifest["n"]},
        "summary": dataclasses.asdict(summary),
    }
    write_run_artifacts(out, model, history, shards, manifest, details)
    return summary


def _as_lsf_error(error: BaseException) -> LsfError:
    text = str(error)
    for line in text.splitlines():
        if "non-finite loss" in line:
            return LsfError(
                line.strip().split("NonFiniteLoss: ")[-1] + "; the last good "
                "checkpoint is kept; lower --lr and rerun"
            )
    return from_worker(error, "training")
