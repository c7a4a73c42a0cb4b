"""`lsf encode`: every image through the encoder into the chunked Zarr latent store.

Ray Data pipeline, aligned to the store's chunks: a read task gathers the rows of one
missing chunk (images and split column) from the Parquet shards, an autoscaling pool of
`LatentEncoder` actors encodes it (fixed micro-batches, so a rerun is bit-identical), and
the driver, the only writer, writes each chunk whole (`split`, then `z` and `id`). A rerun
writes only the chunks that are missing.
Run: `lsf encode --shards work/shards --model work/run/model.pt --out work/latents.zarr`.
"""

from __future__ import annotations

import collections
import os
import time
from dataclasses import dataclass, field

import fsspec
import numpy as np
import pyarrow as pa

from lsf.core.config import EncodeConfig
from lsf.core.errors import LsfError, worker_errors
from lsf.core.locks import locks_output
from lsf.core.outputs import is_local, local_path
from lsf.core.progress import TERMINAL, Progress
from lsf.core.store import (
    SPLIT,
    chunk_rows,
    chunks_done,
    create_store,
    finalize,
    n_chunks,
    open_store,
    write_chunk,
    write_split,
)
from lsf.core.store import (
    is_complete as store_is_complete,
)
from lsf.data.shards import column_images, read_manifest, read_table, shard_urls
from lsf.nn.protocol import file_sha256

__all__ = ["EncodeSummary", "encode", "file_sha256", "is_complete"]


@dataclass
class EncodeSummary:
    out: str
    rows: int
    chunks_written: int
    chunks_total: int
    seconds: float
    chunks_per_node: dict[str, int] = field(default_factory=dict)  # Ray node id -> chunks

    @property
    def images_per_second(self) -> float:
        return self.rows / max(self.seconds, 1e-9)

    def __str__(self) -> str:
        return (
            f"encoded {self.rows} rows in {self.chunks_written} of {self.chunks_total} chunks "
            f"({self.chunks_total - self.chunks_written} already done), {self.seconds:.1f} s, "
            f"{self.images_per_second:.0f} img/s"
            + (f" on {len(self.chunks_per_node)} nodes" if len(self.chunks_per_node) > 1 else "")
            + f"; store at {self.out}"
        )


def read_chunk_images(batch: pa.Table, shards: str, manifest: dict, rows_per_chunk: int):
    """Ray Data task: the images and splits of one chunk, gathered from the shards it spans."""
    (index,) = batch["chunk"].to_pylist()
    start, stop = chunk_rows(index, manifest["n"], rows_per_chunk)
    shape = tuple(manifest["image_shape"])
    images = np.empty((stop - start, *shape), dtype=np.uint8)
    splits = np.zeros(stop - start, dtype=np.int8)
    seen = np.zeros(stop - start, dtype=bool)
    for entry, url in zip(manifest["shards"], shard_urls(shards, manifest), strict=True):
        first, last = entry["first_id"], entry["first_id"] + entry["rows"]
        if last <= start or first >= stop:
            continue
        table = read_table(
            url, columns=["id", "split", "image"], filters=[("id", ">=", start), ("id", "<", stop)]
        )
        ids = table["id"].to_numpy()
        keep = (ids >= start) & (ids < stop)
        images[ids[keep] - start] = column_images(table["image"], shape)[keep]
        splits[ids[keep] - start] = table["split"].to_numpy()[keep]
        seen[ids[keep] - start] = True
    if not seen.all():
        raise LsfError(f"shards lack ids {start + np.flatnonzero(~seen)[:5]} of chunk {index}")
    return {
        "chunk": np.array([index]),
        "images": images.reshape(1, -1),
        "split": splits.reshape(1, -1),
    }


class LatentEncoder:
    """Ray Data actor: the model's encoder (any kind) in eval mode, on a GPU when the actor
    has one."""

    def __init__(self, model_ref, image_shape, batch_size: int, threads: int):
        import ray
        import torch

        from lsf.nn.kinds import load_latent_model

        torch.set_num_threads(threads)
        self.model = load_latent_model(model_ref)
        self.shape = tuple(image_shape)
        self.batch_size = batch_size
        self.node = ray.get_runtime_context().get_node_id()

    def __call__(self, batch: dict) -> dict:
        from lsf.sampling.decode import encode_images

        (index,) = batch["chunk"]
        images = batch["images"][0].reshape(-1, *self.shape)
        latents = encode_images(self.model, images, self.batch_size)
        return {
            "chunk": np.array([index]),
            "z": latents.reshape(1, -1),
            "split": batch["split"],
            "node": [self.node],
        }


def _open_or_create(
    out: str, n: int, latent_dim: int, rows: int, model: dict, source: dict, overwrite: bool
):
    fs, path = fsspec.core.url_to_fs(out)
    if fs.exists(path) and overwrite:
        fs.rm(path, recursive=True)
    if not fs.exists(path):
        return create_store(out, n, latent_dim, rows, model=model, source=source)
    group = open_store(out, mode="r+", require_complete=False)
    attrs = group.attrs
    if attrs.get("model", {}).get("sha256") != model["sha256"]:  # any file of the model
        raise LsfError(
            f"{out} holds latents of a different model ({attrs.get('model', {}).get('path')}); "
            "pass --overwrite to replace them"
        )
    if attrs.get("source", {}).get("fingerprint") != source["fingerprint"]:
        raise LsfError(f"{out} holds latents of different shards; pass --overwrite to replace")
    if SPLIT not in group and attrs.get("complete") is not True:
        raise LsfError(
            f"{out} was started by an lsf version without the split array; pass --overwrite "
            "to encode it again"
        )
    if attrs["rows_per_chunk"] != rows:
        raise LsfError(
            f"{out} was started with rows_per_chunk {attrs['rows_per_chunk']}, not {rows}; "
            "rerun with the same value or pass --overwrite"
        )
    return group


def is_complete(out: str) -> bool:
    """The store is complete once its `complete` attribute is true (set after verifying)."""
    return store_is_complete(out)


def _local_ref(model_ref):
    """The model reference as Ray workers on this machine read it (absolute local paths)."""
    import dataclasses

    from lsf.core.config import ModelConfig

    if isinstance(model_ref, ModelConfig):
        files = {
            key: os.path.abspath(value)
            for key in ("encoder", "decoder", "weights", "path")
            if (value := getattr(model_ref, key)) and is_local(value)
        }
        factory = model_ref.factory
        if factory and factory.rpartition(":")[0].endswith(".py"):
            target, _, name = factory.rpartition(":")
            files["factory"] = f"{os.path.abspath(target)}:{name}"
        return dataclasses.replace(model_ref, **files)
    model_path = str(model_ref)
    return os.path.abspath(local_path(model_path)) if is_local(model_path) else model_path


def _encoded_chunks(config: EncodeConfig, shards: str, manifest: dict, model_ref, missing):
    """The Ray Data pipeline: one read task per missing chunk feeding the encoder actor pool;
    yields batches of one chunk each (`chunk`, `z`, `split`, `node`), in any order."""
    import ray

    from lsf.core.runtime import uses_gpus

    gpus = config.gpus_per_actor if uses_gpus(config.gpus_per_actor) else 0
    local_model = _local_ref(model_ref)
    dataset = (
        ray.data.from_items([{"chunk": c} for c in missing], override_num_blocks=len(missing))
        .map_batches(
            read_chunk_images,
            batch_size=1,
            batch_format="pyarrow",
            fn_kwargs={
                "shards": shards,
                "manifest": manifest,
                "rows_per_chunk": config.rows_per_chunk,
            },
            num_cpus=config.cpus_per_actor,  # equal to the actors: Ray Data fuses the two
        )
        .map_batches(
            LatentEncoder,
            batch_size=1,
            batch_format="numpy",
            fn_constructor_kwargs={
                "model_ref": local_model,
                "image_shape": manifest["image_shape"],
                "batch_size": config.batch_size,
                "threads": max(1, round(config.cpus_per_actor)),
            },
            compute=ray.data.ActorPoolStrategy(
                min_size=1, max_size=config.actors, initial_size=config.actors
            ),
            num_cpus=config.cpus_per_actor,
            num_gpus=gpus,
        )
    )
    return dataset.iter_batches(batch_size=1, batch_format="numpy")


def _write_chunks(group, batches, n: int, rows: int, bar) -> collections.Counter:
    """Write each encoded chunk into the store as it arrives; chunks with non-finite latents
    are not written (the store stays incomplete) and end in one error naming their ids."""
    chunks_per_node = collections.Counter()
    bad_ids = []
    latent_dim = group["z"].shape[1]
    for batch in batches:
        index = int(batch["chunk"][0])
        chunks_per_node[str(batch["node"][0])] += 1
        start, stop = chunk_rows(index, n, rows)
        latents = batch["z"][0].reshape(stop - start, latent_dim)
        finite = np.isfinite(latents).all(axis=1)
        if finite.all():
            write_split(group, index, batch["split"][0])
            write_chunk(group, index, np.arange(start, stop), latents)
        else:
            bad_ids += (start + np.flatnonzero(~finite)).tolist()
        bar.update(stop - start)
    if bad_ids:
        bad_ids.sort()  # chunks arrive in any order
        raise LsfError(
            f"non-finite latents for {len(bad_ids)} images (ids {bad_ids[:10]}); "
            "their chunks were not written and the store stays incomplete"
        )
    return chunks_per_node


def _check_model_fits(model_config, manifest: dict) -> None:
    height, _, channels = manifest["image_shape"]
    mc = model_config
    if (height, channels) != (mc.image_size, mc.channels):
        raise LsfError(
            f"the {mc.kind} model takes {mc.image_size}px images with {mc.channels} channels "
            f"but the shards hold {height}px with {channels}; prepare the shards at "
            f"--size {mc.image_size} (or state the model's model.image_size/channels)"
        )


@locks_output("out")
def encode(
    config: EncodeConfig,
    shards: str,
    model_path,
    out: str,
    *,
    overwrite: bool = False,
    address: str | None = None,
    progress: Progress = TERMINAL,
) -> EncodeSummary:
    """Encode every image of `shards` with the model `model_path` (lsf's RUN/model.pt, a
    model YAML or a `ModelConfig` of any kind, see `lsf.nn.kinds`) into the store `out`."""
    from lsf.core.runtime import init_ray
    from lsf.nn.kinds import load_latent_model

    started = time.perf_counter()
    manifest = read_manifest(shards)
    model = load_latent_model(model_path, device="cpu")
    _check_model_fits(model.config, manifest)
    model_ref = model.describe()
    source = {
        "dataset": manifest["source"],
        "image_shape": manifest["image_shape"],
        "fingerprint": manifest["fingerprint"],
        "shards": str(shards),
    }
    n, rows = manifest["n"], config.rows_per_chunk
    group = _open_or_create(out, n, model.config.latent_dim, rows, model_ref, source, overwrite)
    total = n_chunks(n, rows)
    if group.attrs.get("complete") is True:
        return EncodeSummary(out, 0, 0, total, time.perf_counter() - started)
    missing = np.flatnonzero(~chunks_done(group)).tolist()
    pending = sum(chunk_rows(c, n, rows)[1] - chunk_rows(c, n, rows)[0] for c in missing)
    chunks_per_node = collections.Counter()
    if missing:
        init_ray(address)
        batches = _encoded_chunks(config, shards, manifest, model_path, missing)
        with progress.bar(pending, "encode", "img") as bar, worker_errors("encoding"):
            chunks_per_node = _write_chunks(group, batches, n, rows, bar)
    finalize(group)
    seconds = time.perf_counter() - started
    return EncodeSummary(out, pending, len(missing), total, seconds, dict(chunks_per_node))
