"""`lsf prepare`: images (synthetic, CelebA, a folder) to Parquet shards, as a Ray Data job.

Each shard is one Ray task that renders or decodes its images and writes its file into a
temporary folder; the folder is renamed into place, with `manifest.json`, only at the end.
Unreadable or too-small files are skipped, counted and reported; ids stay 0..n-1.
Run: `lsf prepare --source synthetic --out shards --n 20000` (add `--address auto` on a cluster).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import zlib
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from lsf import __version__
from lsf.core.config import PrepareConfig, as_dict
from lsf.core.errors import LsfError
from lsf.core.locks import locks_output
from lsf.core.outputs import atomic_output_dir, check_output, exists, join, write_json_atomic
from lsf.core.progress import TERMINAL, Progress
from lsf.data import images as image_files
from lsf.data.shards import (
    MANIFEST,
    SPLIT_TRAIN,
    SPLIT_VALIDATION,
    images_to_table,
    read_table,
    shard_name,
    write_table,
)
from lsf.data.synthetic import synthetic_faces

DEFAULT_SYNTHETIC_N = 20000
RENDERER_VERSION = 1  # bump when the synthetic renderer changes its pixels


@dataclass
class PrepareSummary:
    out: str
    n: int
    shards: int
    seconds: float
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"prepared {self.n} images in {self.shards} shards at {self.out} "
            f"({self.seconds:.1f} s, {len(self.skipped)} skipped)"
        )


def split_of(name: str, val_fraction: float) -> int:
    """Deterministic train/validation split from the image name (stable under skips)."""
    return SPLIT_VALIDATION if zlib.crc32(name.encode()) % 10000 < val_fraction * 10000 else 0


def _fingerprint(payload) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _write_shard(task: dict, config: dict, folder: str | None, out: str) -> dict:
    """Render or decode one shard and write it; returns its row count and skipped files."""
    size, start = config["size"], task["start"]
    skipped = []
    if config["source"] == "synthetic":
        pixels = synthetic_faces(start, task["stop"], seed=config["seed"], size=size)
        names = [str(i) for i in range(start, task["stop"])]
        ids = np.arange(start, task["stop"])
        splits = [split_of(name, config["val_fraction"]) for name in names]
    else:
        partition = (
            image_files.read_celeba_partition(config["path"])
            if config["source"] == "celeba"
            else None
        )
        ids, names, splits, kept = [], [], [], []
        for offset, name in enumerate(task["names"]):
            image, reason = image_files.load_square_image(os.path.join(folder, name), size)
            if image is None:
                skipped.append([name, reason])
                continue
            ids.append(start + offset)
            names.append(name)
            kept.append(image)
            if partition is not None and name in partition:
                splits.append(partition[name])
            else:
                splits.append(split_of(name, config["val_fraction"]))
        pixels = np.stack(kept) if kept else np.empty((0, size, size, 3), np.uint8)
    if len(names):
        table = images_to_table(np.asarray(ids), names, np.asarray(splits), pixels)
        write_table(table, join(out, shard_name(task["index"])))
    split_counts = np.bincount(np.asarray(splits, dtype=np.int64), minlength=3)[:3]
    return {
        "index": task["index"],
        "rows": len(names),
        "skipped": json.dumps(skipped),
        "splits": json.dumps(split_counts.tolist()),
    }


def _plan(config: PrepareConfig) -> tuple[str | None, list[dict], dict]:
    """Shard tasks `{index, start, stop, names}` and the fingerprint payload."""
    per = config.rows_per_shard
    if config.source == "synthetic":
        n = config.n or DEFAULT_SYNTHETIC_N
        tasks = [
            {"index": i, "start": s, "stop": min(s + per, n), "names": []}
            for i, s in enumerate(range(0, n, per))
        ]
        payload = {"seed": config.seed, "n": n, "renderer": RENDERER_VERSION}
        return None, tasks, payload
    folder, names = image_files.source_files(config.source, config.path, config.n)
    tasks = [
        {"index": i, "start": s, "stop": s + len(names[s : s + per]), "names": names[s : s + per]}
        for i, s in enumerate(range(0, len(names), per))
    ]
    sizes = [os.path.getsize(os.path.join(folder, name)) for name in names]
    return folder, tasks, {"files": names, "bytes": sizes}


def _renumber(out: str, results: list[dict]) -> list[dict]:
    """Give the kept rows contiguous ids 0..n-1 after skipped files; returns shard entries."""
    entries, first_id = [], 0
    for result in sorted(results, key=lambda r: r["index"]):
        if result["rows"] == 0:
            continue
        url = join(out, shard_name(result["index"]))
        table = read_table(url)
        expected = np.arange(first_id, first_id + result["rows"])
        if not np.array_equal(table["id"].to_numpy(), expected):
            ids = table.schema.get_field_index("id")
            table = table.set_column(ids, "id", pa.array(expected))
            write_table(table, url)
        entries.append(
            {"file": shard_name(result["index"]), "rows": result["rows"], "first_id": first_id}
        )
        first_id += result["rows"]
    return entries


def is_complete(out: str) -> bool:
    """The shards are complete once their manifest exists (it is written last)."""
    return exists(join(out, MANIFEST))


@locks_output("out")
def prepare(
    config: PrepareConfig,
    out: str,
    *,
    overwrite: bool = False,
    address: str | None = None,
    progress: Progress = TERMINAL,
) -> PrepareSummary:
    """Write the shards of `config`'s source to `out` (atomically); returns a summary."""
    import ray

    from lsf.core.runtime import init_ray

    started = time.perf_counter()
    check_output(out, overwrite)
    folder, tasks, payload = _plan(config)
    init_ray(address)
    settings = as_dict(config)
    total = tasks[-1]["stop"]
    results = []
    with atomic_output_dir(out, overwrite) as tmp:
        dataset = ray.data.from_items(tasks, override_num_blocks=len(tasks)).map(
            _write_shard, fn_kwargs={"config": settings, "folder": folder, "out": tmp}
        )
        with progress.bar(total, "prepare", "img") as bar:
            for row in dataset.iter_rows():
                results.append(row)
                bar.update(row["rows"] + len(json.loads(row["skipped"])))
        skipped = [tuple(s) for r in results for s in json.loads(r["skipped"])]
        entries = _renumber(tmp, results)
        n = sum(e["rows"] for e in entries)
        if n == 0:
            raise LsfError(f"no usable images in {config.path}: all {len(skipped)} were skipped")
        manifest = {
            "lsf_version": __version__,
            "n": n,
            "image_shape": [config.size, config.size, 3],
            "source": config.source,
            "path": config.path,
            "seed": config.seed,
            "rows_per_shard": config.rows_per_shard,
            "fingerprint": _fingerprint({"source": config.source, "size": config.size, **payload}),
            "shards": entries,
            "splits": _split_counts(results),
            "skipped": [{"name": name, "reason": reason} for name, reason in skipped],
        }
        write_json_atomic(join(tmp, MANIFEST), manifest)
    seconds = time.perf_counter() - started
    return PrepareSummary(out=out, n=n, shards=len(entries), seconds=seconds, skipped=skipped)


def _split_counts(results: list[dict]) -> dict[str, int]:
    counts = np.sum([json.loads(r["splits"]) for r in results], axis=0)
    return {"train": int(counts[SPLIT_TRAIN]), "validation": int(counts[1]), "test": int(counts[2])}
