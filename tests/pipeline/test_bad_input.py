"""Bad input through the CLI: damaged shards and models, missing or unwritable paths and a
full disk each give one line on stderr and exit code 2, and leave no output marked complete."""

import errno
import json
import pickle
import shutil
import subprocess
import sys

import numpy as np
import pytest
import zarr

import lsf.encode
from lsf.cli import main
from lsf.core.store import chunks_done, is_complete
from tests.helpers import correlated_latents, driver_tracebacks, write_latent_store

pytestmark = pytest.mark.timeout(300)


def _refused(capsys, argv: list[str], match: str) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("lsf ")]
    assert code == 2, err
    assert len(lines) == 1 and match in lines[0], err
    assert not driver_tracebacks(err), err
    return lines[0]


def _damaged_copy(shards, tmp_path, damage) -> str:
    copy = tmp_path / "shards"
    shutil.copytree(shards, copy)
    target = sorted(copy.glob("*.parquet"))[1]
    data = bytearray(target.read_bytes())
    damage(target, data)
    return str(copy)


def _truncate(path, data):
    path.write_bytes(data[: len(data) // 2])


def _scribble(path, data):  # the footer survives, the pages do not
    data[1000:20000] = b"x" * 19000
    path.write_bytes(data)


@pytest.mark.parametrize(
    "damage, message",
    [(_truncate, "is corrupt or truncated"), (_scribble, "cannot be read")],
    ids=["truncated", "scribbled"],
)
def test_damaged_shards_are_refused_by_encode(
    capsys, tmp_path, synthetic_shards, trained_run, damage, message
):
    run, _ = trained_run
    shards = _damaged_copy(synthetic_shards, tmp_path, damage)
    out = tmp_path / "l.zarr"
    argv = ["encode", "--shards", shards, "--model", str(run / "model.pt"), "--out", str(out)]
    line = _refused(capsys, [*argv, "--quiet"], message)
    assert "shard-00001.parquet" in line and "lsf prepare --overwrite" in line
    assert not is_complete(str(out))


def test_truncated_shards_are_refused_by_train(capsys, tmp_path, synthetic_shards):
    shards = _damaged_copy(synthetic_shards, tmp_path, _truncate)
    line = _refused(
        capsys,
        ["train", "--config", "tiny", "--shards", shards, "--out", str(tmp_path / "run")],
        "is corrupt or truncated",
    )
    assert "shard-00001.parquet" in line
    assert not (tmp_path / "run" / "model.json").exists()


def test_a_manifest_that_lies_about_its_shards_is_refused(capsys, tmp_path, synthetic_shards):
    copy = tmp_path / "shards"
    shutil.copytree(synthetic_shards, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["shards"][0]["rows"] += 1
    manifest["n"] += 1
    (copy / "manifest.json").write_text(json.dumps(manifest))
    _refused(
        capsys,
        ["train", "--config", "tiny", "--shards", str(copy), "--out", str(tmp_path / "r")],
        "but the manifest expects",
    )
    (copy / "manifest.json").write_text('{"n": "many"}')
    _refused(
        capsys,
        ["train", "--config", "tiny", "--shards", str(copy), "--out", str(tmp_path / "r")],
        "is not an lsf shard manifest",
    )


class _Payload:
    def __reduce__(self):
        return (print, ("payload ran",))


@pytest.mark.parametrize("content", ["garbage", "pickle", "json"])
def test_damaged_or_hostile_model_files_are_refused(
    capsys, tmp_path, synthetic_shards, trained_run, content
):
    run, _ = trained_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("ray"))
    if content == "garbage":
        (copy / "model.pt").write_bytes(b"\x00not a model" * 10)
    elif content == "pickle":  # weights_only=True must refuse to run code from the file
        import torch

        torch.save({"weights": _Payload()}, copy / "model.pt")
    else:
        (copy / "model.json").write_text('{"model": {"latent_dim": -3}')
    argv = ["encode", "--shards", synthetic_shards, "--model", str(copy / "model.pt")]
    line = _refused(capsys, [*argv, "--out", str(tmp_path / "l.zarr")], "model")
    assert "payload ran" not in capsys.readouterr().out
    assert content != "pickle" or "cannot load" in line


def test_missing_inputs_and_unwritable_outputs_are_refused(capsys, tmp_path, synthetic_shards):
    store = write_latent_store(tmp_path / "l.zarr", correlated_latents(500, 4), 128)
    _refused(
        capsys,
        ["analyze", "--latents", str(tmp_path / "none.zarr"), "--out", str(tmp_path / "a")],
        "no latent store",
    )
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    _refused(
        capsys,
        ["analyze", "--latents", store, "--out", str(blocker / "analysis")],
        "cannot create output folder",
    )
    _refused(
        capsys,
        ["report", "--analysis", str(tmp_path / "nothing"), "--out", str(tmp_path / "rep")],
        "no analysis",
    )
    _refused(
        capsys,
        ["train", "--shards", str(tmp_path / "nothing"), "--out", str(tmp_path / "r")],
        "no shards",
    )
    assert not (tmp_path / "a").exists() and not (tmp_path / "rep").exists()


def test_a_full_disk_while_writing_the_analysis_leaves_nothing_behind(
    capsys, tmp_path, monkeypatch
):
    store = write_latent_store(tmp_path / "l.zarr", correlated_latents(2000, 6), 512)
    real_set = zarr.storage.LocalStore.set

    async def full_disk(self, key, value):
        if "analysis" in str(self.root):
            raise OSError(errno.ENOSPC, "No space left on device", str(self.root / key))
        return await real_set(self, key, value)

    monkeypatch.setattr(zarr.storage.LocalStore, "set", full_disk)
    out = tmp_path / "analysis"
    line = _refused(
        capsys, ["analyze", "--latents", store, "--out", str(out)], "No space left on device"
    )
    assert "nothing was marked complete" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["analysis.partial", "l.zarr"]


def test_a_full_disk_while_encoding_keeps_the_written_chunks_for_a_resume(
    capsys, tmp_path, monkeypatch, synthetic_shards, trained_run
):
    run, _ = trained_run
    real_write = lsf.encode.write_chunk
    written = []

    def write_until_full(group, index, ids, latents):
        if len(written) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(index)
        real_write(group, index, ids, latents)

    monkeypatch.setattr(lsf.encode, "write_chunk", write_until_full)
    out = tmp_path / "l.zarr"
    argv = ["encode", "--shards", synthetic_shards, "--model", str(run / "model.pt")]
    argv += ["--out", str(out), "--rows-per-chunk", "64", "--quiet"]
    _refused(capsys, argv, "No space left on device")
    group = zarr.open_group(str(out), mode="r")
    assert group.attrs["complete"] is False and int(chunks_done(group).sum()) == 2

    monkeypatch.setattr(lsf.encode, "write_chunk", real_write)
    assert main(argv) == 0
    assert "(2 already done)" in capsys.readouterr().out
    group = zarr.open_group(str(out), mode="r")
    assert group.attrs["complete"] is True and np.isfinite(group["z"][:]).all()


def test_pickle_payload_helper_would_run_under_plain_pickle():
    """Guards the hostile-model test: the payload really executes when unpickled unsafely."""
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        pickle.loads(pickle.dumps(_Payload()))
    assert "payload ran" in buffer.getvalue()


def test_worker_errors_become_the_innermost_message():
    from lsf.core.errors import LsfError as Error
    from lsf.core.errors import from_worker

    ray_text = (
        "ray.exceptions.RayTaskError(OSError): ray::MapBatches() (pid=7)\n"
        '  File "x.py", line 3, in f\n'
        "pyarrow.lib.ArrowInvalid: Parquet magic bytes not found\n"
        "ray.exceptions.UserCodeException: UDF failed to process a data block."
    )
    assert str(from_worker(RuntimeError(ray_text), "encoding")) == (
        "encoding failed: ArrowInvalid: Parquet magic bytes not found"
    )
    wrapped = RuntimeError(ray_text + "\nlsf.errors.LsfError: shard s.parquet cannot be read")
    assert str(from_worker(wrapped, "encoding")) == "shard s.parquet cannot be read"
    assert str(from_worker(RuntimeError("worker died"), "training")) == (
        "training failed: worker died"
    )
    mine = Error("as is")
    assert from_worker(mine, "x") is mine


def _store_that_cannot_be_read(tmp_path) -> str:
    """A complete 60 x 8 store whose latent chunks are scribbled over: its metadata (the
    shape) opens, a read of `z` is refused as damaged, so a refusal about pairs shows that
    nothing was read."""
    z = np.random.default_rng(0).standard_normal((60, 8)).astype(np.float32)
    store = write_latent_store(tmp_path / "l.zarr", z, 30)
    for chunk in (tmp_path / "l.zarr" / "z" / "c").rglob("*"):
        if chunk.is_file():
            chunk.write_bytes(b"not a chunk")
    return store


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--pairs", "top:-1"], "analyze.pairs 'top:-1': K of top:K must be a whole number >= 0"),
        (["--pca-pairs", "first:-3"], "analyze.pca_pairs 'first:-3': K of first:K must be"),
        (["--pairs", "0,0"], "(0, 0) is not a pair of two distinct components"),
        (["--pairs", "0,1;3,8"], "component 8 is beyond the latent dimension 8"),
        (["--pca-pairs", "1,2;2,40"], "analyze.pca_pairs '1,2;2,40': component 40 is beyond"),
    ],
)
def test_bad_pairs_are_refused_before_the_store_is_read(tmp_path, flags, message):
    store = _store_that_cannot_be_read(tmp_path)
    out = tmp_path / "analysis"
    result = subprocess.run(
        [sys.executable, "-m", "lsf.cli", "analyze", "--latents", store, "--out", str(out)] + flags,
        capture_output=True,
        text=True,
        timeout=240,
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("lsf analyze: error: "), result.stderr
    assert message in lines[0] and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["l.zarr"]  # no output, lock, partial


def test_analyze_checks_the_pairs_against_the_store_before_any_read(tmp_path):
    from lsf.analyze import analyze
    from lsf.core.config import AnalyzeConfig
    from lsf.core.errors import LsfError
    from lsf.core.progress import QUIET

    store = _store_that_cannot_be_read(tmp_path)
    config = AnalyzeConfig(pairs="auto", pca_pairs="0,9")  # not validated: the library path
    with pytest.raises(LsfError, match="analyze.pca_pairs '0,9': component 9 is beyond"):
        analyze(config, store, str(tmp_path / "analysis"), progress=QUIET)
    assert not (tmp_path / "analysis").exists() and not (tmp_path / "analysis.partial").exists()
