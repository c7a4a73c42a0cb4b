"""`lsf import`: a latent store, by the contract of `lsf.core.store`, from latents that exist
already (`.npy`, `.npz`, `.pt`, Parquet, Zarr, HDF5; read by `lsf.data.latent_files`).

One pass checks the source (a 2-D float array, ids and splits of its length, the share of
rows with NaN or inf within `max_nonfinite`; those rows are dropped and listed by their source
id) before anything is written; a second pass writes the store chunk by chunk, each chunk
read from the source alone, `split` then `z` and `id`, exactly once; `complete` is set last
by `finalize`. A rerun resumes the chunks that are missing (same source sha256 and chunk rows).
The source's own ids go to the extra array `source_id` (the contract's `id` is the row).
`analyze`, `report` and `explore` then need no model; `generate` needs a decoder.
Run: `lsf import --latents my_latents.npy --out work/latents.zarr [--split splits.npy]`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np
import zarr

from lsf.core.config import ImportConfig
from lsf.core.errors import LsfError
from lsf.core.locks import locks_output
from lsf.core.progress import TERMINAL, Progress
from lsf.core.store import (
    SPLIT_NAMES,
    chunk_rows,
    chunks_done,
    create_store,
    finalize,
    n_chunks,
    open_store,
    write_chunk,
    write_split,
)
from lsf.core.store import is_complete as store_is_complete
from lsf.data.latent_files import LatentFile, open_latent_file, source_sha256

SOURCE_ID = "source_id"  # int64 [n]: the source's id of each row (its row number by default)
READ_BYTES = 32 << 20  # bytes per block of the checking pass


@dataclass
class ImportSummary:
    out: str
    rows: int
    dropped: int
    chunks_written: int
    chunks_total: int
    seconds: float

    def __str__(self) -> str:
        dropped = f", {self.dropped} non-finite rows dropped" if self.dropped else ""
        return (
            f"imported {self.rows} rows in {self.chunks_written} of {self.chunks_total} chunks "
            f"({self.chunks_total - self.chunks_written} already done){dropped}, "
            f"{self.seconds:.1f} s; store at {self.out} (analyze, report and explore need no "
            "model; generate and explore's decoded views need a decoder: --model)"
        )


def is_complete(out: str) -> bool:
    return store_is_complete(out)


def _values(source: LatentFile, spec: str, what: str) -> np.ndarray:
    """A file (`.npy`, or `.txt` one value a line) or a column/key beside the latents."""
    if os.path.isfile(spec):
        if spec.endswith(".npy"):
            return np.load(spec, allow_pickle=False)
        with open(spec, encoding="utf-8") as f:
            return np.array([line.strip() for line in f if line.strip()])
    values = source.column(spec)
    if len(values) != source.n:
        raise LsfError(f"{what} column {spec!r} has {len(values)} values, latents {source.n}")
    return values


def read_ids(source: LatentFile, spec: str | None) -> np.ndarray:
    if spec is None:
        return np.arange(source.n, dtype=np.int64)
    values = _values(source, spec, "ids")
    if values.ndim != 1 or len(values) != source.n:
        raise LsfError(f"--ids {spec} has {len(values)} values but the latents {source.n} rows")
    try:
        ids = values.astype(np.int64)
    except (ValueError, TypeError):
        raise LsfError(f"--ids {spec} must hold integers") from None
    if np.issubdtype(values.dtype, np.floating) and not np.array_equal(ids, values):
        raise LsfError(f"--ids {spec} must hold integers")
    return ids


def read_split(source: LatentFile, spec: str | None) -> np.ndarray:
    """int8 `[n]`: 0 train, 1 validation, 2 test (names or codes); all train when None."""
    if spec is None:
        return np.zeros(source.n, dtype=np.int8)
    values = _values(source, spec, "split")
    if values.ndim != 1 or len(values) != source.n:
        raise LsfError(f"--split {spec} has {len(values)} values but the latents {source.n} rows")
    if values.dtype.kind in "USO":
        names = {name: code for code, name in enumerate(SPLIT_NAMES)}
        names |= {str(code): code for code in range(3)}
        bad = sorted({str(v) for v in values} - set(names))
        if bad:
            raise LsfError(f"--split {spec}: unknown split {bad[0]!r} (train, validation, test)")
        return np.array([names[str(v)] for v in values], dtype=np.int8)
    if not np.isin(values, (0, 1, 2)).all():
        raise LsfError(f"--split {spec} must hold 0, 1, 2 (train, validation, test)")
    return values.astype(np.int8)


def finite_rows(source: LatentFile, progress: Progress) -> np.ndarray:
    """Bool `[n]`: the rows whose components are all finite (after the cast to float32)."""
    keep = np.empty(source.n, dtype=bool)
    step = max(1, READ_BYTES // (source.d * source.dtype.itemsize))
    with progress.bar(source.n, "import: check", "rows") as bar:
        for start in range(0, source.n, step):
            stop = min(start + step, source.n)
            block = source.read(start, stop).astype(np.float32, copy=False)
            keep[start:stop] = np.isfinite(block).all(axis=1)
            bar.update(stop - start)
    return keep


def _open_or_create(out, n, d, rows, source_attrs, overwrite: bool) -> zarr.Group:
    import fsspec

    fs, path = fsspec.core.url_to_fs(out)
    if fs.exists(path) and not overwrite:
        group = open_store(out, mode="r+", require_complete=False)
        attrs = group.attrs
        if attrs.get("source", {}).get("sha256") != source_attrs["sha256"]:
            raise LsfError(f"{out} holds other latents; pass --overwrite to replace them")
        if (attrs["n_samples"], attrs["rows_per_chunk"]) != (n, rows):
            raise LsfError(
                f"{out} was started with {attrs['n_samples']} rows in chunks of "
                f"{attrs['rows_per_chunk']}; rerun with the same settings or pass --overwrite"
            )
        if SOURCE_ID not in group:  # killed between creating the store and this array
            _source_id_array(group, n, rows)
        return group
    model = {"kind": "none", "path": None, "sha256": None}  # no decoder known
    group = create_store(out, n, d, rows, model=model, source=source_attrs)
    _source_id_array(group, n, rows)
    return group


def _source_id_array(group: zarr.Group, n: int, rows: int) -> None:
    group.create_array(
        SOURCE_ID, shape=(n,), chunks=(rows,), dtype="int64", fill_value=-1,
        dimension_names=("sample",),
    )  # fmt: skip


def _block(source: LatentFile, kept: np.ndarray, start: int, stop: int) -> np.ndarray:
    """float32 rows `kept[start:stop]` of the source, read as one block."""
    first, last = int(kept[start]), int(kept[stop - 1]) + 1
    rows = source.read(first, last)
    if last - first != stop - start:
        rows = rows[kept[start:stop] - first]
    return rows.astype(np.float32, copy=False)


@locks_output("out")
def import_latents(
    config: ImportConfig,
    latents: str,
    out: str,
    *,
    overwrite: bool = False,
    progress: Progress = TERMINAL,
) -> ImportSummary:
    """Write the latent store `out` from the latents file `latents` (see the docstring)."""
    started = time.perf_counter()
    source = open_latent_file(latents, config.key)
    ids, split = read_ids(source, config.ids), read_split(source, config.split)
    keep = finite_rows(source, progress)
    dropped = int((~keep).sum())
    if dropped > config.max_nonfinite * source.n:
        bad = ids[~keep][:5].tolist()
        raise LsfError(
            f"{dropped} of {source.n} rows ({dropped / source.n:.2%}) hold NaN or inf (ids "
            f"{bad}...), over --max-nonfinite {config.max_nonfinite}; raise it to drop them"
        )
    kept = np.flatnonzero(keep)
    if not len(kept):
        raise LsfError(f"{latents}: no finite rows")
    attrs = {
        "dataset": "imported",
        "file": os.path.abspath(latents),
        "format": source.format,
        "key": config.key,
        "sha256": source_sha256(latents),
        "fingerprint": None,
        "image_shape": None,
        "shards": config.shards,
        "dtype": str(source.dtype),
        "rows_in_source": source.n,
        "dropped_ids": ids[~keep].tolist()[:1000],
    }
    attrs["fingerprint"] = f"import-{attrs['sha256']}"
    if config.shards:
        from lsf.data.shards import read_manifest

        attrs["image_shape"] = read_manifest(config.shards)["image_shape"]
    n, rows = len(kept), config.rows_per_chunk
    group = _open_or_create(out, n, source.d, rows, attrs, overwrite)
    total = n_chunks(n, rows)
    if group.attrs.get("complete") is True:
        return ImportSummary(out, 0, dropped, 0, total, time.perf_counter() - started)
    missing = np.flatnonzero(~chunks_done(group)).tolist()
    with progress.bar(sum(min(rows, n - c * rows) for c in missing), "import", "rows") as bar:
        for index in missing:
            start, stop = chunk_rows(index, n, rows)
            group[SOURCE_ID][start:stop] = ids[kept[start:stop]]
            write_split(group, index, split[kept[start:stop]])
            write_chunk(group, index, np.arange(start, stop), _block(source, kept, start, stop))
            bar.update(stop - start)
    finalize(group)
    return ImportSummary(out, n, dropped, len(missing), total, time.perf_counter() - started)


__all__ = ["ImportSummary", "import_latents", "is_complete"]
