"""The latent store: a Zarr v3 group that other tools read (see DESIGN.md, "The latent store").

`z` float32 `[n, latent_dim]`, `id` int64 `[n]` and `split` int8 `[n]` (0 train, 1
validation, 2 test), all chunked by `rows_per_chunk` rows. A chunk is done when its `id`
chunk holds the expected ids: encode writes `split` (`write_split`), then `write_chunk`
writes `z` and `id` last, so a chunk interrupted mid-write is simply redone on resume. `complete` is
set only after `finalize` has verified every chunk. Readers use `open_latents`.

`open_latents` and `open_split` are the store's reading edge and its only Dask: they hand
out lazy arrays, so the one function that turns Zarr chunks into tasks lives with the
contract it reads (`lsf.core` imports nothing above it, so not `lsf.stats.graph`, where
every other graph is built; `tests/core/test_layout.py` holds both to that).
"""

from __future__ import annotations

import math
import warnings

import fsspec
import numpy as np
import zarr

from lsf import __version__
from lsf.core.errors import LsfError
from lsf.core.outputs import atomic_output_dir, zarr_location

Z, ID = "z", "id"
SPLIT = "split"
SPLIT_NAMES = ("train", "validation", "test")  # the values 0, 1, 2 of `split`


def n_chunks(n_samples: int, rows_per_chunk: int) -> int:
    return math.ceil(n_samples / rows_per_chunk)


def chunk_rows(index: int, n_samples: int, rows_per_chunk: int) -> tuple[int, int]:
    """`(start, stop)` rows of chunk `index`."""
    start = index * rows_per_chunk
    return start, min(start + rows_per_chunk, n_samples)


def create_store(
    url: str, n_samples: int, latent_dim: int, rows_per_chunk: int, *, model: dict, source: dict
) -> zarr.Group:
    """A new, empty (incomplete) latent store at `url`; an existing one is replaced. It is
    built under a temporary name and renamed, so a process killed meanwhile leaves no store
    without its attributes behind."""
    with atomic_output_dir(url, overwrite=True) as tmp:
        _build_empty_store(tmp, n_samples, latent_dim, rows_per_chunk, model, source)
    return zarr.open_group(zarr_location(url), mode="r+", zarr_format=3)


def _build_empty_store(url, n_samples, latent_dim, rows_per_chunk, model, source) -> None:
    group = zarr.open_group(zarr_location(url), mode="w", zarr_format=3)
    group.create_array(
        Z,
        shape=(n_samples, latent_dim),
        chunks=(rows_per_chunk, latent_dim),
        dtype="float32",
        fill_value=np.nan,
        dimension_names=("sample", "component"),
    )
    group.create_array(
        ID,
        shape=(n_samples,),
        chunks=(rows_per_chunk,),
        dtype="int64",
        fill_value=-1,
        dimension_names=("sample",),
    )
    group.create_array(  # fill 0: rows whose writer records no split read as train
        SPLIT,
        shape=(n_samples,),
        chunks=(rows_per_chunk,),
        dtype="int8",
        fill_value=0,
        dimension_names=("sample",),
    )
    group.attrs.update(
        {
            "lsf_version": __version__,
            "latent_dim": latent_dim,
            "n_samples": n_samples,
            "rows_per_chunk": rows_per_chunk,
            "model": model,
            "source": source,
            "complete": False,
        }
    )


def _open_group(url: str, mode: str = "r") -> zarr.Group:
    fs, path = fsspec.core.url_to_fs(url)
    if not fs.exists(path):
        raise LsfError(f"no latent store at {url}; run `lsf encode` first")
    try:
        group = zarr.open_group(zarr_location(url), mode=mode)
    except Exception as exc:  # zarr raises several types for a folder that is not a group
        raise LsfError(f"{url} is not a Zarr latent store ({type(exc).__name__})") from None
    missing = [
        key for key in ("n_samples", "rows_per_chunk", "latent_dim") if key not in group.attrs
    ]
    if missing or Z not in group or ID not in group:
        raise LsfError(f"{url} is not an lsf latent store (missing {missing or 'arrays'})")
    n, d, rows = (group.attrs[k] for k in ("n_samples", "latent_dim", "rows_per_chunk"))
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in (n, d, rows)):
        raise LsfError(
            f"{url}: n_samples, latent_dim and rows_per_chunk must be positive integers, got "
            f"{n!r}, {d!r}, {rows!r}"
        )
    z = group[Z]
    ids = group[ID]
    if z.shape != (n, d) or z.dtype != np.float32 or ids.shape != (n,) or ids.dtype != np.int64:
        raise LsfError(
            f"{url}: z is {z.dtype}{z.shape} and id {ids.dtype}{ids.shape}, expected "
            f"float32({n}, {d}) and int64({n},)"
        )
    return group


def is_complete(url: str) -> bool:
    """Whether a complete latent store exists at `url` (False for none or a partial one)."""
    fs, path = fsspec.core.url_to_fs(url)
    if not fs.exists(path):
        return False
    try:
        return _open_group(url).attrs.get("complete") is True
    except LsfError:
        return False


def open_store(url: str, mode: str = "r", require_complete: bool = True) -> zarr.Group:
    """Open a latent store; refuse (one clear line) one that is not complete."""
    group = _open_group(url, mode)
    if require_complete and group.attrs.get("complete") is not True:
        attrs = group.attrs
        total = n_chunks(attrs["n_samples"], attrs["rows_per_chunk"])
        missing = total - int(chunks_done(group).sum())
        raise LsfError(
            f"latent store {url} is incomplete: {missing} of {total} chunks missing"
            "; rerun `lsf encode` to resume"
        )
    return group


def chunks_done(group: zarr.Group) -> np.ndarray:
    """Bool per chunk: its `id` chunk holds exactly the ids of its rows."""
    attrs = group.attrs
    n, rows = attrs["n_samples"], attrs["rows_per_chunk"]
    done = np.zeros(n_chunks(n, rows), dtype=bool)
    ids = group[ID]
    for index in range(len(done)):
        start, stop = chunk_rows(index, n, rows)
        try:
            done[index] = np.array_equal(ids[start:stop], np.arange(start, stop))
        except Exception:  # a chunk file cut short by a kill: not done
            done[index] = False
    return done


def write_chunk(group: zarr.Group, index: int, ids: np.ndarray, latents: np.ndarray) -> None:
    """Write chunk `index` whole: `z` first, then `id`, which marks the chunk done."""
    attrs = group.attrs
    start, stop = chunk_rows(index, attrs["n_samples"], attrs["rows_per_chunk"])
    if not np.array_equal(ids, np.arange(start, stop)):
        raise ValueError(f"chunk {index} must hold ids {start}..{stop - 1} in order")
    if latents.shape != (stop - start, attrs["latent_dim"]):
        raise ValueError(f"chunk {index}: latents of shape {latents.shape}")
    group[Z][start:stop] = latents.astype(np.float32, copy=False)
    group[ID][start:stop] = ids


def write_split(group: zarr.Group, index: int, split: np.ndarray) -> None:
    """Write the `split` values (0 train, 1 validation, 2 test) of chunk `index`; encode
    calls it before `write_chunk`, whose `id` marks the chunk done."""
    attrs = group.attrs
    start, stop = chunk_rows(index, attrs["n_samples"], attrs["rows_per_chunk"])
    split = np.asarray(split)
    if split.shape != (stop - start,) or not np.isin(split, (0, 1, 2)).all():
        raise ValueError(f"chunk {index}: split must be {stop - start} values in 0, 1, 2")
    group[SPLIT][start:stop] = split.astype(np.int8)


def _check_split(group: zarr.Group, index: int, start: int, stop: int) -> None:
    if SPLIT in group and not np.isin(group[SPLIT][start:stop], (0, 1, 2)).all():
        raise LsfError(f"split values of chunk {index} are not 0, 1 or 2; store left incomplete")


def finalize(group: zarr.Group) -> None:
    """Verify every chunk (ids in place, latents finite, splits 0/1/2) and mark the store
    complete."""
    done = chunks_done(group)
    if not done.all():
        raise LsfError(f"cannot mark the store complete: {int((~done).sum())} chunks missing")
    attrs = group.attrs
    n, rows = attrs["n_samples"], attrs["rows_per_chunk"]
    z = group[Z]
    for index in range(len(done)):
        start, stop = chunk_rows(index, n, rows)
        block = z[start:stop]
        if not np.isfinite(block).all():
            bad = start + np.flatnonzero(~np.isfinite(block).all(axis=1))
            raise LsfError(f"non-finite latents for ids {bad[:10].tolist()}; store left incomplete")
        _check_split(group, index, start, stop)
    group.attrs["complete"] = True
    with warnings.catch_warnings():  # consolidated metadata is a zarr-python v3 extension
        warnings.simplefilter("ignore")
        zarr.consolidate_metadata(group.store)


def read_rows(z: zarr.Array, url: str, start: int, stop: int) -> np.ndarray:
    """Rows `start:stop` of the store's `z`; a chunk that cannot be decoded is a one-line
    `LsfError` naming the store and the rows."""
    try:
        rows = z[start:stop]
    except Exception as exc:  # codecs, truncated files and missing metadata raise many types
        reason = str(exc).splitlines()[0] if str(exc) else ""
        raise LsfError(
            f"latent store {url}: rows {start}..{stop - 1} cannot be read ({type(exc).__name__}"
            f": {reason}); the store is damaged, rerun `lsf encode --overwrite`"
        ) from None
    return rows


def open_latents(url: str):
    """`z` of a complete store as a lazy Dask array, one Dask chunk per Zarr chunk, each read
    by `read_rows` from the array opened here (it travels with the tasks, so they run under
    threads and Dask-on-Ray alike)."""
    import dask
    import dask.array as da

    group = open_store(url)
    z = group[Z]
    n, d = z.shape
    rows = group.attrs["rows_per_chunk"]
    parts = [
        da.from_delayed(
            dask.delayed(read_rows, pure=True)(z, url, start, min(start + rows, n)),
            shape=(min(start + rows, n) - start, d),
            dtype=np.float32,
        )
        for start in range(0, n, rows)
    ]
    return da.concatenate(parts, axis=0) if parts else da.zeros((0, d), dtype=np.float32)


def open_split(url: str):
    """`split` of a complete store (int8 `[n]`: 0 train, 1 validation, 2 test) as a lazy Dask
    array chunked like `z`, or None for a store written before splits were recorded (all of
    its rows count as train)."""
    import dask.array as da

    group = open_store(url)
    if SPLIT not in group.array_keys():
        return None
    split = group[SPLIT]
    return da.from_zarr(split, chunks=(group.attrs["rows_per_chunk"],))


def sample_ids(n_samples: int, count: int, seed: int) -> np.ndarray:
    """`min(count, n_samples)` distinct row ids drawn with `seed`, sorted."""
    if isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 0:
        raise LsfError(f"sample_rows: count must be a non-negative integer, got {count!r}")
    size = min(int(count), n_samples)
    return np.sort(np.random.default_rng(seed).choice(n_samples, size=size, replace=False))


def sample_rows(url: str, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`(ids, rows)`: `min(count, n)` seeded random rows of the complete store at `url`,
    ids sorted, rows float32 `[count, latent_dim]`. Opens the store with `open_store`'s
    checks and reads only the chunks that hold a drawn row, each through `read_rows`."""
    group = open_store(url)
    n, rows_per_chunk = group.attrs["n_samples"], group.attrs["rows_per_chunk"]
    ids = sample_ids(n, count, seed)
    z = group[Z]
    out = np.empty((len(ids), z.shape[1]), dtype=np.float32)
    chunk_of = ids // rows_per_chunk
    for index in np.unique(chunk_of):
        start, stop = chunk_rows(int(index), n, rows_per_chunk)
        where = np.flatnonzero(chunk_of == index)
        out[where] = read_rows(z, url, start, stop)[ids[where] - start]
    return ids, out
