"""Latents that exist already, read a block of rows at a time: `.npy`, `.npz`, `.pt`,
Parquet, Zarr and HDF5 (`h5py`, optional).

`open_latent_file(path, key)` returns a `LatentFile`: `n`, `d`, `dtype`, `read(start, stop)`
(float rows `[stop - start, d]`) and `column(name)` (a 1-D array stored beside the latents:
a Parquet column, an `.npz` key, a Zarr or HDF5 array). A `.npy` file is read one block
at a time from its header's offset (never mapped or loaded whole), so a file larger than
RAM is read in bounded memory (plain reads at the block's offset: the pages of a mapping would
count in the process's memory while mapped); `.pt` is memory-mapped by `torch.load(mmap=True,
weights_only=True)`; Parquet reads only the row groups a block spans; `.npz` members are read
whole (zip members cannot seek). Used by `lsf import` (`lsf.import_latents`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from lsf.core.errors import LsfError

FORMATS = {".npy": "npy", ".npz": "npz", ".pt": "pt", ".pth": "pt", ".parquet": "parquet"}
FORMATS |= {".zarr": "zarr", ".h5": "hdf5", ".hdf5": "hdf5"}


@dataclass
class LatentFile:
    path: str
    format: str
    n: int
    d: int
    dtype: np.dtype
    read: Callable[[int, int], np.ndarray]  # rows start:stop as a float array [rows, d]
    columns: dict[str, Callable[[], np.ndarray]] = field(default_factory=dict)

    def column(self, name: str) -> np.ndarray:
        if name not in self.columns:
            known = ", ".join(sorted(self.columns)) or "none"
            raise LsfError(f"{self.path} has no column or key {name!r} (known: {known})")
        return np.asarray(self.columns[name]())


def format_of(path: str) -> str:
    ext = os.path.splitext(path.rstrip("/"))[1].lower()
    if ext not in FORMATS:
        known = ", ".join(sorted(FORMATS))
        raise LsfError(f"cannot tell the format of {path} by its extension (known: {known})")
    return FORMATS[ext]


def source_sha256(path: str) -> str:
    """sha256 of a file, or of a folder's files (relative name and bytes, sorted)."""
    digest = hashlib.sha256()
    files = [path]
    if os.path.isdir(path):
        files = sorted(
            os.path.join(root, name) for root, _, names in os.walk(path) for name in names
        )
    for name in files:
        if os.path.isdir(path):
            digest.update(os.path.relpath(name, path).encode() + b"\0")
        with open(name, "rb") as f:
            for block in iter(lambda f=f: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _checked(path: str, shape, dtype) -> tuple[int, int, np.dtype]:
    dtype = np.dtype(dtype)
    if len(shape) != 2:
        raise LsfError(f"{path}: latents must be a 2-D array [rows, components], got {shape}")
    if dtype.kind != "f":
        raise LsfError(f"{path}: latents must be floating point, got {dtype}")
    if shape[0] < 1 or shape[1] < 2:
        raise LsfError(f"{path}: need at least 1 row and 2 components, got {tuple(shape)}")
    return int(shape[0]), int(shape[1]), dtype


def _npy(path: str, key: str | None) -> LatentFile:
    with open(path, "rb") as f:
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        except ValueError as exc:
            raise LsfError(f"{path} is not a .npy file ({exc})") from None
        offset = f.tell()
    n, d, dtype = _checked(path, shape, dtype)
    if fortran and n > 1:
        raise LsfError(f"{path} is Fortran-ordered; save it C-ordered (np.ascontiguousarray)")

    def read(start: int, stop: int) -> np.ndarray:
        # one block read at its offset: mapped pages would stay resident in this process
        with open(path, "rb") as f:
            f.seek(offset + start * d * dtype.itemsize)
            rows = np.fromfile(f, dtype=dtype, count=(stop - start) * d)
        if len(rows) != (stop - start) * d:
            raise LsfError(f"{path} is cut short: rows {start}..{stop - 1} are missing")
        return rows.reshape(stop - start, d)

    return LatentFile(path, "npy", n, d, dtype, read)


def _one(path: str, names: list[str], key: str | None, what: str) -> str:
    if key is not None:
        if key not in names:
            raise LsfError(f"{path} has no {what} {key!r} (known: {', '.join(names)})")
        return key
    if len(names) != 1:
        raise LsfError(f"{path} holds {len(names)} {what}s ({', '.join(names)}); pass --key")
    return names[0]


def _npz(path: str, key: str | None) -> LatentFile:
    archive = np.load(path, allow_pickle=False)
    arrays = {k: archive[k] for k in archive.files}
    name = _one(path, [k for k, v in arrays.items() if v.ndim == 2], key, "2-D array")
    z = arrays[name]
    n, d, dtype = _checked(path, z.shape, z.dtype)
    columns = {k: (lambda v=v: v) for k, v in arrays.items() if v.ndim == 1}
    return LatentFile(path, "npz", n, d, dtype, lambda a, b: np.array(z[a:b]), columns)


def _pt(path: str, key: str | None) -> LatentFile:
    import torch

    try:
        data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # pickled code, a legacy format, a truncated file
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LsfError(f"refusing {path}: not a plain tensor file ({reason})") from None
    if isinstance(data, dict):
        tensors = {k: v for k, v in data.items() if isinstance(v, torch.Tensor)}
        name = _one(path, [k for k, v in tensors.items() if v.ndim == 2], key, "2-D tensor")
        z = tensors[name]
        columns = {k: (lambda v=v: v.numpy()) for k, v in tensors.items() if v.ndim == 1}
    elif isinstance(data, torch.Tensor):
        z, columns = data, {}
    else:
        raise LsfError(f"{path} holds a {type(data).__name__}, not a tensor")
    if z.dtype == torch.bfloat16:
        raise LsfError(f"{path}: bfloat16 latents; convert them to float32 first")
    dtype = z.numpy()[:0].dtype if z.is_floating_point() else np.dtype("int64")
    n, d, dtype = _checked(path, tuple(z.shape), dtype)
    return LatentFile(path, "pt", n, d, dtype, lambda a, b: z[a:b].numpy().copy(), columns)


def _parquet(path: str, key: str | None) -> LatentFile:
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    schema = parquet.schema_arrow
    lists = [
        f.name for f in schema if pa.types.is_list(f.type) or pa.types.is_fixed_size_list(f.type)
    ]
    floats = [f.name for f in schema if pa.types.is_floating(f.type)]
    if key is not None or lists:
        chosen = [_one(path, lists, key, "list column")]
    else:
        chosen = floats  # one column per component, in file order
    if not chosen:
        raise LsfError(f"{path} has no float list column and no float columns")
    starts = np.cumsum(
        [0] + [parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)]
    )
    n = int(starts[-1])

    def read(start: int, stop: int) -> np.ndarray:
        first = int(np.searchsorted(starts, start, side="right") - 1)
        last = int(np.searchsorted(starts, stop, side="left"))
        table = parquet.read_row_groups(list(range(first, last)), columns=chosen)
        table = table.slice(start - int(starts[first]), stop - start)
        if len(chosen) == 1 and chosen[0] in lists:
            values = table.column(0).combine_chunks()
            flat = values.flatten().to_numpy(zero_copy_only=False)
            return flat.reshape(stop - start, -1)
        return np.stack([table.column(c).to_numpy() for c in chosen], axis=1)

    first_row = read(0, 1) if n else np.zeros((0, len(chosen)))
    n, d, dtype = _checked(path, (n, first_row.shape[1]), first_row.dtype)
    others = [f.name for f in schema if f.name not in chosen and not pa.types.is_list(f.type)]
    columns = {
        c: (lambda c=c: pq.read_table(path, columns=[c]).column(0).to_numpy(zero_copy_only=False))
        for c in others
    }
    return LatentFile(path, "parquet", n, d, dtype, read, columns)


def _zarr(path: str, key: str | None) -> LatentFile:
    import zarr

    try:
        node = zarr.open(path, mode="r")
    except Exception as exc:  # zarr raises several types for a folder that is not an array
        raise LsfError(f"{path} is not a Zarr array or group ({type(exc).__name__})") from None
    arrays = dict(node.arrays()) if isinstance(node, zarr.Group) else {"": node}
    name = _one(path, [k for k, v in arrays.items() if v.ndim == 2], key, "2-D array")
    z = arrays[name]
    n, d, dtype = _checked(path, z.shape, z.dtype)
    columns = {k: (lambda v=v: v[...]) for k, v in arrays.items() if v.ndim == 1 and k}
    return LatentFile(path, "zarr", n, d, dtype, lambda a, b: np.asarray(z[a:b]), columns)


def _hdf5(path: str, key: str | None) -> LatentFile:
    try:
        import h5py
    except ImportError:
        raise LsfError("HDF5 latents need h5py: pip install 'lsf[hdf5]'") from None
    handle = h5py.File(path, "r")
    datasets = {}
    handle.visititems(
        lambda name, obj: datasets.update({name: obj}) if hasattr(obj, "shape") else None
    )
    name = _one(path, [k for k, v in datasets.items() if v.ndim == 2], key, "2-D dataset")
    z = datasets[name]
    n, d, dtype = _checked(path, z.shape, z.dtype)
    columns = {k: (lambda v=v: v[...]) for k, v in datasets.items() if v.ndim == 1}
    return LatentFile(path, "hdf5", n, d, dtype, lambda a, b: np.asarray(z[a:b]), columns)


READERS = {"npy": _npy, "npz": _npz, "pt": _pt, "parquet": _parquet, "zarr": _zarr, "hdf5": _hdf5}


def open_latent_file(path: str, key: str | None = None) -> LatentFile:
    """The latents at `path` (format by extension; `key`: which array, column or dataset)."""
    if not os.path.exists(path):
        raise LsfError(f"latents not found: {path}")
    fmt = format_of(path)
    try:
        return READERS[fmt](path, key)
    except LsfError:
        raise
    except (OSError, ValueError, KeyError) as exc:
        raise LsfError(f"cannot read {path} as {fmt} ({exc})") from None
