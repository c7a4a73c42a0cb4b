"""The Parquet shard format that `lsf prepare` writes and train/encode read.

A shard folder holds `shard-00000.parquet`, ... and `manifest.json`. Columns: `id` (int64,
0..n-1), `name` (source file name or synthetic index), `split` (int8: 0 train, 1 validation,
2 test) and `image` (fixed-size binary of H*W*3 uint8 pixels, row-major HWC); the image
shape is in the schema metadata and the manifest.
"""

from __future__ import annotations

import json

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lsf.core.errors import LsfError

MANIFEST = "manifest.json"
ROW_GROUP_ROWS = 256  # small row groups: readers of an id range skip the rest of a shard
SPLIT_TRAIN, SPLIT_VALIDATION, SPLIT_TEST = 0, 1, 2


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.parquet"


def images_to_table(
    ids: np.ndarray, names: list[str], splits: np.ndarray, images: np.ndarray
) -> pa.Table:
    """Rows of a shard from uint8 images `(n, H, W, C)`."""
    n, h, w, c = images.shape
    pixels = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(h * w * c), n, [None, pa.py_buffer(np.ascontiguousarray(images).tobytes())]
    )
    table = pa.table(
        {
            "id": pa.array(np.asarray(ids, dtype=np.int64)),
            "name": pa.array(names, type=pa.string()),
            "split": pa.array(np.asarray(splits, dtype=np.int8)),
            "image": pixels,
        }
    )
    return table.replace_schema_metadata({"lsf.image_shape": f"{h},{w},{c}"})


def column_images(column: pa.Array | pa.ChunkedArray, shape: tuple[int, int, int]) -> np.ndarray:
    """uint8 images `(n, H, W, C)` from an `image` column (fixed-size binary)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if len(column) == 0:
        return np.empty((0, *shape), dtype=np.uint8)
    offset = column.offset * int(np.prod(shape))
    data = np.frombuffer(column.buffers()[1], dtype=np.uint8)
    return data[offset : offset + len(column) * int(np.prod(shape))].reshape(-1, *shape)


def write_table(table: pa.Table, url: str) -> None:
    fs, path = fsspec.core.url_to_fs(url)
    with fs.open(path, "wb") as f:
        pq.write_table(table, f, row_group_size=ROW_GROUP_ROWS)


def read_table(url: str, columns: list[str] | None = None, filters=None) -> pa.Table:
    """A Parquet file; `filters` (pyarrow form) prune row groups by their statistics."""
    fs, path = fsspec.core.url_to_fs(url)
    try:
        with fs.open(path, "rb") as f:
            return pq.read_table(f, columns=columns, filters=filters)
    except (OSError, pa.ArrowException) as exc:
        raise LsfError(
            f"shard {url} cannot be read ({str(exc).splitlines()[0]}); it is corrupt or was "
            "changed after `lsf prepare`: rerun `lsf prepare --overwrite`"
        ) from None


def read_manifest(shards: str, verify: bool = True) -> dict:
    """The manifest of a shard folder; a clear error when the folder is not one. With
    `verify`, every shard's Parquet footer is read and checked against the manifest, so a
    truncated or replaced shard is refused before any work starts."""
    fs, path = fsspec.core.url_to_fs(shards)
    manifest_path = f"{path.rstrip('/')}/{MANIFEST}"
    if not fs.exists(manifest_path):
        raise LsfError(f"no shards at {shards} (missing {MANIFEST}); run `lsf prepare` first")
    with fs.open(manifest_path, "r") as f:
        try:
            manifest = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise LsfError(f"{shards}/{MANIFEST} is not valid JSON") from None
    _check_manifest(shards, manifest)
    if verify:
        verify_shards(shards, manifest)
    return manifest


def _check_manifest(shards: str, manifest) -> None:
    def bad(what: str):
        return LsfError(
            f"{shards}/{MANIFEST} is not an lsf shard manifest ({what}); rerun `lsf prepare`"
        )

    if not isinstance(manifest, dict):
        raise bad("not an object")
    missing = [
        k for k in ("n", "image_shape", "shards", "fingerprint", "splits") if k not in manifest
    ]
    if missing:
        raise bad(f"missing {', '.join(missing)}")
    shape = manifest["image_shape"]
    if not (
        isinstance(shape, list)
        and len(shape) == 3
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape)
    ):
        raise bad(f"image_shape {shape!r}")
    entries = manifest["shards"]
    if not isinstance(entries, list) or not all(
        isinstance(e, dict)
        and isinstance(e.get("file"), str)
        and "/" not in e["file"]
        and isinstance(e.get("rows"), int)
        and isinstance(e.get("first_id"), int)
        for e in entries
    ):
        raise bad("shards must list file, rows and first_id")
    if not isinstance(manifest["n"], int) or manifest["n"] != sum(e["rows"] for e in entries):
        raise bad(f"n {manifest['n']!r} does not match the shards' rows")


def verify_shards(shards: str, manifest: dict) -> None:
    """Every shard's footer readable, with the manifest's rows and the lsf columns."""
    for entry, url in zip(manifest["shards"], shard_urls(shards, manifest), strict=True):
        fs, path = fsspec.core.url_to_fs(url)
        try:
            with fs.open(path, "rb") as f:
                metadata = pq.read_metadata(f)
        except FileNotFoundError:
            raise LsfError(f"shard {url} is missing; rerun `lsf prepare --overwrite`") from None
        except (OSError, pa.ArrowException) as exc:
            raise LsfError(
                f"shard {url} is corrupt or truncated ({str(exc).splitlines()[0]}); "
                "rerun `lsf prepare --overwrite`"
            ) from None
        names = set(metadata.schema.names)
        if metadata.num_rows != entry["rows"] or not {"id", "split", "image"} <= names:
            raise LsfError(
                f"shard {url} holds {metadata.num_rows} rows with columns {sorted(names)}, "
                f"but the manifest expects {entry['rows']} rows of id, split and image; "
                "rerun `lsf prepare --overwrite`"
            )


def shard_urls(shards: str, manifest: dict) -> list[str]:
    return [f"{shards.rstrip('/')}/{s['file']}" for s in manifest["shards"]]


def read_images(shards: str, ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Load `(ids, images)` of a whole shard folder, or only the given ids, into memory.
    (No footer check here: `read_table` reports a damaged shard in one line anyway.)"""
    manifest = read_manifest(shards, verify=False)
    shape = tuple(manifest["image_shape"])
    out_ids, out_images = [], []
    for url in shard_urls(shards, manifest):
        table = read_table(url, columns=["id", "image"])
        table_ids = table["id"].to_numpy()
        images = column_images(table["image"], shape)
        if ids is not None:
            keep = np.isin(table_ids, ids)
            table_ids, images = table_ids[keep], images[keep]
        out_ids.append(table_ids)
        out_images.append(images)
    return np.concatenate(out_ids), np.concatenate(out_images)
