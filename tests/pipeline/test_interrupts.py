"""Interrupted runs: SIGINT or SIGTERM to `lsf encode`, `lsf analyze` and `lsf run` at a
random point stops cleanly (one line, exit 128+signal, nothing marked complete); the same
command again resumes without recomputing finished chunks, passes or stages, and ends
identical to an uninterrupted run."""

import hashlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow.parquet as pq
import pytest
import zarr

from lsf.analyze import analyze
from lsf.core.config import load_config
from lsf.core.progress import QUIET
from lsf.core.store import chunks_done, is_complete
from tests.helpers import (
    LONG_ENCODE,
    correlated_latents,
    driver_tracebacks,
    ray_internal_lines,
    write_latent_store,
)

pytestmark = pytest.mark.timeout(500)


def _start(args: list[str], quiet: bool = True) -> subprocess.Popen:
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "lsf.cli", *args, *(["--quiet"] if quiet else [])],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _interrupt(proc: subprocess.Popen, signum: int) -> None:
    """SIGINT as a terminal's Ctrl-C sends it, to the whole process group (Ray's local
    processes block SIGINT); SIGTERM as `kill PID` or a service manager sends it, to the
    driver, which stops Ray's processes itself. (SIGTERM to the whole group also kills the
    local raylet at once; the driver may then exit 1 before its clean stop: README,
    "Failure behaviour".)"""
    if signum == signal.SIGINT:
        os.killpg(proc.pid, signum)
    else:
        os.kill(proc.pid, signum)


def _finish(proc: subprocess.Popen, timeout: float = 300) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    return out


def _assert_clean_stop(proc, output: str, signum: int) -> None:
    assert proc.returncode == 128 + signum, output
    assert not driver_tracebacks(output), output
    stops = [line for line in output.splitlines() if ": interrupted (" in line]
    assert len(stops) == 1 and signal.Signals(signum).name in stops[0], output


def _assert_terminal_contract(output: str) -> None:
    """Without --verbose and with stdout not a terminal: no line from Ray's internals, no
    ANSI codes, and each stage's own lines (preflight, progress, epoch lines, timings)."""
    assert not ray_internal_lines(output), ray_internal_lines(output)
    assert "[run] preflight: " in output, output
    for stage in ("prepare", "train", "encode", "analyze", "generate", "report"):
        assert f"[{stage}] running" in output and f"[{stage}] preflight: " in output, output
    assert re.search(r"^prepare: 400/400 img \(100%\).*ETA", output, re.M), output
    epochs = re.findall(r"^\[train\] epoch (\d)/3: .* img/s, elapsed \S+, ETA \S+$", output, re.M)
    assert epochs == ["1", "2", "3"], output
    assert re.search(r"^encode: 400/400 img \(100%\).*ETA", output, re.M), output
    assert re.search(r"^\[analyze\] pass 2/\d.*\(elapsed \S+, ETA ~", output, re.M), output
    assert re.search(r"^total +\d+:\d\d +100%$", output, re.M), output


def _config_file(tmp_path, data: dict) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(data))
    return str(path)


def _ids_written(store) -> int:
    folder = store / "id" / "c"
    return len(list(folder.iterdir())) if folder.is_dir() else 0


def test_interrupted_encode_resumes_only_missing_chunks(
    tmp_path, long_shards, trained_run, long_reference_store
):
    """SIGINT here, SIGTERM in the next two tests: each signal's stop path runs once on a
    Ray driver (this one and `lsf run`) and SIGTERM once on the Dask-only analysis."""
    signum = signal.SIGINT
    run, _ = trained_run
    config = _config_file(tmp_path, {"model": {"image_size": 32}, "encode": LONG_ENCODE})
    out = tmp_path / "latents.zarr"
    args = ["encode", "--config", config, "--shards", long_shards, "--model", str(run / "model.pt")]
    threshold = random.Random(signum).randint(2, 60)  # the random point, reproducible per signal

    proc = _start([*args, "--out", str(out)])
    deadline = time.time() + 200
    while proc.poll() is None and _ids_written(out) < threshold and time.time() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "encode ended before the interruption; lengthen the data"
    _interrupt(proc, signum)
    _assert_clean_stop(proc, _finish(proc), signum)

    group = zarr.open_group(str(out), mode="r")
    done = int(chunks_done(group).sum())
    assert group.attrs["complete"] is False and not is_complete(str(out))
    assert 0 < done < len(chunks_done(group))

    resumed = _start([*args, "--out", str(out)])
    output = _finish(resumed)
    assert resumed.returncode == 0, output
    assert f"({done} already done)" in output

    expected = zarr.open_group(long_reference_store, mode="r")
    group = zarr.open_group(str(out), mode="r")
    assert group.attrs["complete"] is True
    assert np.array_equal(group["z"][:], expected["z"][:])


def _analysis_arrays(folder) -> dict:
    group = zarr.open_group(str(folder / "analysis.zarr"), mode="r")
    return {name: group[name][...] for name in group.array_keys()}


def test_interrupted_analyze_resumes_after_its_finished_passes(tmp_path):
    signum = signal.SIGTERM
    store = write_latent_store(tmp_path / "l.zarr", correlated_latents(300_000, 24, seed=2), 2048)
    config = _config_file(tmp_path, {"analyze": {"pairs": "all", "pca_pairs": "all"}})
    out = tmp_path / "analysis"
    args = ["analyze", "--config", config, "--latents", store, "--out", str(out)]
    stop_at = random.Random(signum).randint(2, 3)  # interrupt as pass `stop_at` starts

    proc = _start(args, quiet=False)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if f"pass {stop_at}/3" in line:
            _interrupt(proc, signum)
            break
    else:
        raise AssertionError("analyze ended before pass {stop_at}: " + "".join(seen))
    _assert_clean_stop(proc, "".join(seen) + _finish(proc), signum)
    assert not out.exists(), "an interrupted analysis must leave no output"
    assert (tmp_path / "analysis.partial").is_dir()

    resumed = _start(args, quiet=False)
    output = _finish(resumed)
    assert resumed.returncode == 0, output
    pass_lines = [line for line in output.splitlines() if "[analyze] pass" in line]
    resumed_passes = [line for line in pass_lines if "resumed" in line]
    assert len(resumed_passes) >= stop_at - 1, output
    assert all("resumed" not in line for line in pass_lines[stop_at:]), output
    assert not (tmp_path / "analysis.partial").exists()

    reference = tmp_path / "reference"
    analyze(load_config(config).analyze, store, str(reference), progress=QUIET)
    mine, expected = _analysis_arrays(out), _analysis_arrays(reference)
    assert mine.keys() == expected.keys()
    for name in expected:
        np.testing.assert_array_equal(mine[name], expected[name], err_msg=name)
    assert pq.read_table(out / "pairs.parquet").equals(pq.read_table(reference / "pairs.parquet"))


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_interrupted_run_skips_finished_stages_and_resumes(tmp_path):
    workdir = tmp_path / "work"
    args = ["run", "--config", "tiny", "--workdir", str(workdir)]
    proc = _start(args, quiet=False)  # also the terminal contract (issue 21): lsf's lines only
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "[analyze] running" in line:
            _interrupt(proc, signal.SIGTERM)
            break
    else:
        raise AssertionError("the run ended before analyze: " + "".join(seen))
    first = "".join(seen) + _finish(proc)
    _assert_clean_stop(proc, first, signal.SIGTERM)
    assert not (workdir / "report").exists()
    finished = [
        stage
        for stage, marker in [
            ("prepare", "shards/manifest.json"),
            ("train", "run/model.json"),
            ("encode", "latents.zarr/zarr.json"),
            ("analyze", "analysis/summary.json"),
            ("generate", "samples/metrics.json"),
        ]
        if (workdir / marker).is_file()
    ]
    assert finished[:3] == ["prepare", "train", "encode"]
    model_sha = _sha256(workdir / "run" / "model.pt")
    latents = zarr.open_group(str(workdir / "latents.zarr"), mode="r")["z"][:]

    resumed = _start(args, quiet=False)
    output = _finish(resumed)
    assert resumed.returncode == 0, output
    _assert_terminal_contract(first + output)
    skipped = [
        line.split("]")[0][1:] for line in output.splitlines() if "complete, skipped" in line
    ]
    assert skipped == finished, output
    assert "[report] running" in output and (workdir / "report" / "index.html").is_file()
    assert _sha256(workdir / "run" / "model.pt") == model_sha
    assert np.array_equal(zarr.open_group(str(workdir / "latents.zarr"))["z"][:], latents)

    config = load_config("tiny").analyze
    reference = tmp_path / "reference"
    analyze(config, str(workdir / "latents.zarr"), str(reference), progress=QUIET)
    mine, expected = _analysis_arrays(workdir / "analysis"), _analysis_arrays(reference)
    for name in expected:
        np.testing.assert_array_equal(mine[name], expected[name], err_msg=name)


def test_a_second_run_on_the_same_output_is_refused_while_the_first_runs(tmp_path):
    store = write_latent_store(tmp_path / "l.zarr", correlated_latents(300_000, 24, seed=3), 2048)
    out = tmp_path / "analysis"
    args = ["analyze", "--latents", store, "--out", str(out)]
    first = _start(args, quiet=False)
    for line in first.stdout:
        if "pass 1/3" in line:
            break
    else:
        raise AssertionError("the first analyze printed no pass")
    second = _start(args)
    output = _finish(second)
    first_output = _finish(first)
    assert second.returncode == 2, output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and "is being written by `lsf analyze" in lines[0], output
    assert "pid" in lines[0]
    assert first.returncode == 0, first_output
    assert (out / "summary.json").is_file() and not (tmp_path / "analysis.lock").exists()
