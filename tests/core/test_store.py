import numpy as np
import pytest
import xarray as xr
import zarr

from lsf.core.errors import LsfError
from lsf.core.store import (
    chunks_done,
    create_store,
    finalize,
    open_latents,
    open_store,
    sample_rows,
    write_chunk,
)

MODEL = {"path": "m.pt", "sha256": "abc"}
SOURCE = {"dataset": "synthetic", "image_shape": [32, 32, 3], "fingerprint": "f"}


def _filled_store(path, n=10, d=4, rows=4):
    group = create_store(str(path), n, d, rows, model=MODEL, source=SOURCE)
    z = np.random.default_rng(0).standard_normal((n, d)).astype(np.float32)
    for index, start in enumerate(range(0, n, rows)):
        stop = min(start + rows, n)
        write_chunk(group, index, np.arange(start, stop), z[start:stop])
    return group, z


def test_store_round_trip_through_zarr_and_xarray(tmp_path):
    group, z = _filled_store(tmp_path / "l.zarr")
    finalize(group)
    plain = zarr.open_group(str(tmp_path / "l.zarr"), mode="r")
    assert plain["z"].chunks == (4, 4) and plain["z"].dtype == np.float32
    assert np.array_equal(plain["z"][:], z) and np.array_equal(plain["id"][:], np.arange(10))
    assert plain.attrs["complete"] is True and plain.attrs["n_samples"] == 10
    assert plain["z"].metadata.dimension_names == ("sample", "component")
    ds = xr.open_zarr(str(tmp_path / "l.zarr"))
    assert ds["z"].dims == ("sample", "component")
    assert np.array_equal(ds["z"].values, z)
    lazy = open_latents(str(tmp_path / "l.zarr"))
    assert lazy.chunks == ((4, 4, 2), (4,)) and np.array_equal(lazy.compute(), z)


def test_incomplete_store_is_refused_with_the_missing_chunk_count(tmp_path):
    group = create_store(str(tmp_path / "l.zarr"), 10, 4, 4, model=MODEL, source=SOURCE)
    write_chunk(group, 1, np.arange(4, 8), np.zeros((4, 4), np.float32))
    assert chunks_done(group).tolist() == [False, True, False]
    with pytest.raises(LsfError, match="incomplete: 2 of 3 chunks missing; rerun `lsf encode`"):
        open_store(str(tmp_path / "l.zarr"))
    with pytest.raises(LsfError, match="incomplete"):
        open_latents(str(tmp_path / "l.zarr"))
    with pytest.raises(LsfError, match="2 chunks missing"):
        finalize(group)


def test_truncated_chunk_counts_as_not_done(tmp_path):
    group, _ = _filled_store(tmp_path / "l.zarr")
    chunk_file = tmp_path / "l.zarr" / "id" / "c" / "1"
    chunk_file.write_bytes(chunk_file.read_bytes()[:5])
    assert chunks_done(group).tolist() == [True, False, True]


def test_write_chunk_refuses_rows_that_are_not_the_whole_chunk(tmp_path):
    group = create_store(str(tmp_path / "l.zarr"), 10, 4, 4, model=MODEL, source=SOURCE)
    with pytest.raises(ValueError, match="must hold ids 4..7"):
        write_chunk(group, 1, np.arange(4, 7), np.zeros((3, 4), np.float32))


def test_non_finite_latents_are_not_marked_complete(tmp_path):
    group, z = _filled_store(tmp_path / "l.zarr")
    z[6, 2] = np.nan
    write_chunk(group, 1, np.arange(4, 8), z[4:8])
    with pytest.raises(LsfError, match="non-finite latents for ids \\[6\\]"):
        finalize(group)
    assert group.attrs["complete"] is False


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: None, "no latent store"),
        (lambda p: p.mkdir(), "not a Zarr latent store|not an lsf latent store"),
    ],
)
def test_missing_or_foreign_store_is_refused(tmp_path, damage, message):
    path = tmp_path / "l.zarr"
    damage(path)
    with pytest.raises(LsfError, match=message):
        open_store(str(path))


def test_store_with_wrong_dtype_is_refused(tmp_path):
    group = zarr.open_group(str(tmp_path / "l.zarr"), mode="w")
    group.create_array("z", shape=(4, 2), dtype="float64", chunks=(2, 2))
    group.create_array("id", shape=(4,), dtype="int64", chunks=(2,))
    group.attrs.update({"n_samples": 4, "rows_per_chunk": 2, "latent_dim": 2, "complete": True})
    with pytest.raises(LsfError, match="z is float64\\(4, 2\\).*expected float32\\(4, 2\\)"):
        open_store(str(tmp_path / "l.zarr"))


def test_is_complete_only_for_a_finished_store(tmp_path):
    from lsf.core.store import is_complete

    assert not is_complete(str(tmp_path / "none.zarr"))
    group, _ = _filled_store(tmp_path / "l.zarr")
    assert not is_complete(str(tmp_path / "l.zarr"))
    finalize(group)
    assert is_complete(str(tmp_path / "l.zarr"))
    (tmp_path / "other").mkdir()
    assert not is_complete(str(tmp_path / "other"))


def test_sample_rows_matches_numpy_indexing_with_the_same_seeded_ids(tmp_path):
    group, z = _filled_store(tmp_path / "l.zarr", n=50, d=3, rows=7)
    finalize(group)
    ids, rows = sample_rows(str(tmp_path / "l.zarr"), 20, seed=3)
    expected = np.sort(np.random.default_rng(3).choice(50, size=20, replace=False))
    assert np.array_equal(ids, expected) and rows.dtype == np.float32
    assert np.array_equal(rows, z[expected])
    again_ids, again = sample_rows(str(tmp_path / "l.zarr"), 20, seed=3)
    assert np.array_equal(again_ids, ids) and np.array_equal(again, rows)
    all_ids, everything = sample_rows(str(tmp_path / "l.zarr"), 500, seed=1)
    assert np.array_equal(all_ids, np.arange(50)) and np.array_equal(everything, z)
    assert sample_rows(str(tmp_path / "l.zarr"), 0, seed=0)[1].shape == (0, 3)


def test_sample_rows_reads_only_the_chunks_it_needs_and_validates(tmp_path):
    url = str(tmp_path / "l.zarr")
    group, z = _filled_store(tmp_path / "l.zarr", n=12, d=4, rows=4)
    with pytest.raises(LsfError, match="incomplete"):
        sample_rows(url, 3, seed=0)
    finalize(group)
    with pytest.raises(LsfError, match="count must be a non-negative integer"):
        sample_rows(url, -1, seed=0)
    with pytest.raises(LsfError, match="no latent store"):
        sample_rows(str(tmp_path / "none.zarr"), 3, seed=0)
    ids, _ = sample_rows(url, 2, seed=5)
    chunks = set((ids // 4).tolist())
    unused = next(k for k in range(3) if k not in chunks)
    (tmp_path / "l.zarr" / "z" / "c" / str(unused) / "0").write_bytes(b"broken")
    assert np.array_equal(sample_rows(url, 2, seed=5)[1], z[ids])
    with pytest.raises(LsfError, match=f"rows {unused * 4}..{unused * 4 + 3} cannot be read"):
        sample_rows(url, 12, seed=0)
