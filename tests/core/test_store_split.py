"""The store's `split` array (0 train, 1 validation, 2 test): written per chunk, verified by
`finalize`, read by zarr and xarray; a store without it (older lsf) still opens."""

import numpy as np
import pytest
import xarray as xr
import zarr

from lsf.core.errors import LsfError
from lsf.core.store import (
    SPLIT,
    create_store,
    finalize,
    open_latents,
    open_store,
    write_chunk,
    write_split,
)

MODEL = {"path": "m.pt", "sha256": "abc"}
SOURCE = {"dataset": "synthetic", "image_shape": [32, 32, 3], "fingerprint": "f"}
N, D, ROWS = 10, 3, 4


def _store(path, split=None):
    group = create_store(str(path), N, D, ROWS, model=MODEL, source=SOURCE)
    z = np.arange(N * D, dtype=np.float32).reshape(N, D)
    for index, start in enumerate(range(0, N, ROWS)):
        stop = min(start + ROWS, N)
        if split is not None:
            write_split(group, index, split[start:stop])
        write_chunk(group, index, np.arange(start, stop), z[start:stop])
    return group, z


def test_split_is_written_per_chunk_and_read_by_zarr_and_xarray(tmp_path):
    split = np.array([0, 1, 2, 0, 0, 0, 1, 0, 2, 2], dtype=np.int8)
    group, z = _store(tmp_path / "l.zarr", split)
    finalize(group)
    plain = zarr.open_group(str(tmp_path / "l.zarr"), mode="r")
    assert plain[SPLIT].dtype == np.int8 and plain[SPLIT].chunks == (ROWS,)
    assert np.array_equal(plain[SPLIT][:], split)
    ds = xr.open_zarr(str(tmp_path / "l.zarr"))
    assert ds[SPLIT].dims == ("sample",) and np.array_equal(ds[SPLIT].values, split)
    assert np.array_equal(ds["z"].values, z)


def test_a_writer_without_splits_leaves_every_row_train(tmp_path):
    group, _ = _store(tmp_path / "l.zarr")
    finalize(group)
    assert np.array_equal(open_store(str(tmp_path / "l.zarr"))[SPLIT][:], np.zeros(N))


def test_bad_split_values_are_refused(tmp_path):
    group, _ = _store(tmp_path / "l.zarr")
    with pytest.raises(ValueError, match="4 values in 0, 1, 2"):
        write_split(group, 0, np.array([0, 3, 0, 0]))
    with pytest.raises(ValueError, match="2 values"):
        write_split(group, 2, np.zeros(4))  # the last chunk holds rows 8, 9
    group[SPLIT][4:8] = np.array([0, -1, 0, 0], dtype=np.int8)  # a damaged chunk
    with pytest.raises(LsfError, match="split values of chunk 1"):
        finalize(group)
    assert group.attrs["complete"] is False


def test_a_store_without_split_still_opens(tmp_path):
    group, z = _store(tmp_path / "l.zarr")
    del group[SPLIT]  # as an lsf before the split array wrote it
    finalize(group)
    assert SPLIT not in open_store(str(tmp_path / "l.zarr"))
    assert np.array_equal(open_latents(str(tmp_path / "l.zarr")).compute(), z)
    ds = xr.open_zarr(str(tmp_path / "l.zarr"))
    assert SPLIT not in ds and np.array_equal(ds["z"].values, z)
