"""`lsf import`: latents from every format equal the source exactly in the store, ids and
splits from files and columns, bad input is one line with nothing written, a rerun resumes,
the store needs no model to analyse and explore, and a 2 GB `.npy` imports in bounded memory."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
import zarr

from lsf.cli import main
from lsf.core.config import ImportConfig
from lsf.core.errors import LsfError
from lsf.core.progress import QUIET
from lsf.core.store import chunks_done, open_store
from lsf.import_latents import SOURCE_ID, import_latents

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def latents(n=1000, d=7, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, d)) * rng.uniform(0.1, 30, d) + 5).astype(np.float32)


def write(path, z: np.ndarray, fmt: str) -> str:
    if fmt == "npy":
        np.save(path, z)
    elif fmt == "npz":
        np.savez(path, z=z, other=np.arange(len(z)))
    elif fmt == "pt":
        torch.save(torch.from_numpy(z), path)
    elif fmt == "parquet-list":
        column = pa.FixedSizeListArray.from_arrays(pa.array(z.ravel()), z.shape[1])
        pq.write_table(pa.table({"z": column}), path, row_group_size=128)
    elif fmt == "parquet-columns":
        table = pa.table({f"c{j}": z[:, j] for j in range(z.shape[1])})
        pq.write_table(table, path, row_group_size=300)
    elif fmt == "zarr":
        zarr.create_array(str(path), data=z, chunks=(100, z.shape[1]))
    elif fmt == "hdf5":
        h5py = pytest.importorskip("h5py")
        with h5py.File(path, "w") as f:
            f.create_dataset("latents/mu", data=z, chunks=(64, z.shape[1]))
    return str(path)


EXTENSIONS = {"parquet-list": "parquet", "parquet-columns": "parquet", "hdf5": "h5"}
FORMATS = ["npy", "npz", "pt", "parquet-list", "parquet-columns", "zarr", "hdf5"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_imports_exactly_the_source_array(fmt, tmp_path):
    z = latents()
    source = write(tmp_path / f"z.{EXTENSIONS.get(fmt, fmt)}", z, fmt)
    out = str(tmp_path / "latents.zarr")
    config = ImportConfig(rows_per_chunk=96, key="z" if fmt == "npz" else None)
    summary = import_latents(config, source, out, progress=QUIET)
    group = open_store(out)
    np.testing.assert_array_equal(group["z"][:], z)
    np.testing.assert_array_equal(group["id"][:], np.arange(len(z)))
    np.testing.assert_array_equal(group["split"][:], 0)
    attrs = group.attrs["source"]
    assert attrs["format"] == fmt.split("-")[0] and len(attrs["sha256"]) == 64
    assert summary.chunks_written == summary.chunks_total == 11


def test_ids_and_splits_from_files_and_columns(tmp_path):
    z = latents(300, 4)
    rng = np.random.default_rng(1)
    ids, split = rng.permutation(10_000)[:300], rng.integers(0, 3, 300)
    names = np.array(["train", "validation", "test"])[split]
    table = pa.table({"z": pa.FixedSizeListArray.from_arrays(pa.array(z.ravel()), 4),
                      "image_id": ids, "part": names})  # fmt: skip
    pq.write_table(table, tmp_path / "z.parquet")
    out = str(tmp_path / "a.zarr")
    config = ImportConfig(rows_per_chunk=64, ids="image_id", split="part")
    import_latents(config, str(tmp_path / "z.parquet"), out, progress=QUIET)
    group = open_store(out)
    np.testing.assert_array_equal(group[SOURCE_ID][:], ids)
    np.testing.assert_array_equal(group["split"][:], split)
    np.save(tmp_path / "ids.npy", ids)
    np.save(tmp_path / "split.npy", split.astype(np.int8))
    np.save(tmp_path / "z.npy", z)
    out = str(tmp_path / "b.zarr")
    files = ImportConfig(rows_per_chunk=64, ids=str(tmp_path / "ids.npy"),
                         split=str(tmp_path / "split.npy"))  # fmt: skip
    import_latents(files, str(tmp_path / "z.npy"), out, progress=QUIET)
    np.testing.assert_array_equal(open_store(out)[SOURCE_ID][:], ids)
    np.testing.assert_array_equal(open_store(out)["split"][:], split)


def test_nonfinite_rows_within_the_limit_are_dropped_and_named(tmp_path):
    z = latents(400, 5)
    z[[3, 100, 399], 2] = [np.nan, np.inf, -np.inf]
    np.save(tmp_path / "z.npy", z)
    out = str(tmp_path / "z.zarr")
    config = ImportConfig(rows_per_chunk=50, max_nonfinite=0.01)
    summary = import_latents(config, str(tmp_path / "z.npy"), out, progress=QUIET)
    keep = np.setdiff1d(np.arange(400), [3, 100, 399])
    group = open_store(out)
    np.testing.assert_array_equal(group["z"][:], z[keep])
    np.testing.assert_array_equal(group[SOURCE_ID][:], keep)
    assert summary.dropped == 3 and group.attrs["source"]["dropped_ids"] == [3, 100, 399]


BAD = {
    "rank": (lambda p: np.save(p, np.zeros(10, np.float32)), [], "must be a 2-D array"),
    "dtype": (lambda p: np.save(p, np.zeros((10, 3), np.int32)), [], "must be floating point"),
    "ids": (
        lambda p: (
            np.save(p, np.zeros((10, 3), np.float32)),
            np.save(p + ".ids.npy", np.arange(9)),
        ),
        ["--ids", "{p}.ids.npy"],
        "has 9 values but the latents 10 rows",
    ),
    "split": (
        lambda p: (np.save(p, np.zeros((10, 3), np.float32)), np.save(p + ".s.npy", np.ones(11))),
        ["--split", "{p}.s.npy"],
        "has 11 values but the latents 10 rows",
    ),
    "nonfinite": (
        lambda p: np.save(p, np.where(np.arange(30)[:, None] < 2, np.nan, np.ones((30, 3)))),
        ["--max-nonfinite", "0.05"],
        "2 of 30 rows (6.67%) hold NaN or inf",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case, tmp_path, capsys):
    make, flags, message = BAD[case]
    path = str(tmp_path / "z.npy")
    make(path)
    out = tmp_path / "out.zarr"
    args = ["import", "--quiet", "--latents", path, "--out", str(out)]
    args += [f.format(p=path) for f in flags]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("lsf import: error: ") and err.count("\n") == 1 and message in err
    assert not out.exists()


def test_a_rerun_resumes_only_the_missing_chunks(tmp_path, monkeypatch):
    import lsf.import_latents as module

    z = latents(500, 6)
    np.save(tmp_path / "z.npy", z)
    out = str(tmp_path / "z.zarr")
    config = ImportConfig(rows_per_chunk=100)
    real, calls = module._block, []

    def failing(source, kept, start, stop):
        calls.append(start)
        if start == 300:
            raise KeyboardInterrupt
        return real(source, kept, start, stop)

    monkeypatch.setattr(module, "_block", failing)
    with pytest.raises(KeyboardInterrupt):
        import_latents(config, str(tmp_path / "z.npy"), out, progress=QUIET)
    group = open_store(out, require_complete=False)
    assert chunks_done(group).tolist() == [True, True, True, False, False]
    assert group.attrs["complete"] is False
    monkeypatch.setattr(module, "_block", real)
    summary = import_latents(config, str(tmp_path / "z.npy"), out, progress=QUIET)
    assert summary.chunks_written == 2
    np.testing.assert_array_equal(open_store(out)["z"][:], z)
    np.save(tmp_path / "z.npy", z + 1)  # other latents: refused unless --overwrite
    with pytest.raises(LsfError, match="holds other latents"):
        import_latents(config, str(tmp_path / "z.npy"), out, progress=QUIET)


def test_imported_latents_are_analysed_reported_and_explored_without_a_model(tmp_path):
    import httpx

    from lsf.analyze import analyze
    from lsf.core.config import AnalyzeConfig
    from lsf.explore import load_codec
    from lsf.web.app import build_app
    from lsf.web.explorer import load_explorer

    np.save(tmp_path / "z.npy", latents(600, 6))
    out = str(tmp_path / "z.zarr")
    import_latents(ImportConfig(rows_per_chunk=200), str(tmp_path / "z.npy"), out, progress=QUIET)
    analysis = str(tmp_path / "analysis")
    analyze(AnalyzeConfig(bins=16, pair_bins=8, mardia_sample=50), out, analysis, progress=QUIET)
    from lsf.core.config import ReportConfig
    from lsf.report import report

    report(ReportConfig(), analysis, str(tmp_path / "report"), progress=QUIET)
    page = (tmp_path / "report" / "index.html").read_text()
    assert "What needs a decoder" in page and "imported latents, no model recorded" in page
    codec, shape = load_codec(None, analysis)
    assert shape is None and codec.latent_dim == 6
    explorer = load_explorer(analysis, codec, latents=out)

    async def go():
        transport = httpx.ASGITransport(app=build_app(explorer))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            info = await client.get("/api/info")
            decoded = await client.post("/api/decode", json={"z": [0.0] * 6})
            return info, decoded

    info, decoded = asyncio.run(go())
    assert info.status_code == 200
    assert decoded.status_code == 422 and "needs a model" in decoded.json()["error"]


def test_a_2gb_npy_imports_with_peak_rss_under_a_quarter_of_the_file(tmp_path):
    """A sparse 2 GiB file (open_memmap writes only the rows set here), imported in a fresh
    process; its peak RSS stays under 25 % of the file's size. The peak is the child's own
    VmHWM: getrusage's ru_maxrss survives fork and exec, so it would report the pytest
    process's RSS at the fork."""
    n, d = 1 << 20, 512  # 2 GiB of float32
    path = tmp_path / "big.npy"
    big = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
    head, tail = latents(50, d, seed=2), latents(50, d, seed=3)
    big[:50], big[-50:] = head, tail
    big.flush()
    del big
    size = os.path.getsize(path)
    assert size >= 2 << 30
    script = textwrap.dedent(f"""
        from lsf.core.config import ImportConfig
        from lsf.core.progress import QUIET
        from lsf.import_latents import import_latents
        out = {str(tmp_path / "big.zarr")!r}
        import_latents(ImportConfig(rows_per_chunk=8192), {str(path)!r}, out, progress=QUIET)
        status = open("/proc/self/status").read().split("VmHWM:")[1]
        print(int(status.split()[0]) * 1024)
    """)  # fmt: skip
    env = {**os.environ, "PYTHONPATH": ROOT}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    peak = int(done.stdout.split()[-1])
    assert peak < 0.25 * size, f"peak RSS {peak / 2**20:.0f} MiB of a {size / 2**20:.0f} MiB file"
    z = open_store(str(tmp_path / "big.zarr"))["z"]
    np.testing.assert_array_equal(z[:50], head)
    np.testing.assert_array_equal(z[-50:], tail)
    np.testing.assert_array_equal(z[500_000:500_010], 0)
