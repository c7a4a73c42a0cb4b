"""The terminal contract: plain progress lines off a terminal (rate, elapsed, ETA, no
carriage returns or colour codes), training lines with images/s, elapsed time and ETA,
the timing table of `lsf run`, `--verbose`, and the preflight: estimates against the real
sizes of small outputs, refusals of outputs that cannot fit, and bounds on counts. The
contract on a whole `lsf run` is asserted in test_interrupts.py (which runs one)."""

import os

import numpy as np
import pytest

from lsf.cli import main
from lsf.core import preflight, progress
from lsf.core.config import AnalyzeConfig, load_config
from lsf.core.errors import LsfError
from lsf.core.preflight import Estimate, check
from lsf.core.progress import LineBar, Progress, clock, with_eta
from lsf.core.train_lines import epoch_line
from lsf.run import PipelineResult, StagePaths, run_pipeline, timing_table
from lsf.stats.pair_analysis import pair_grid_count
from tests.helpers import ANSI, correlated_latents, write_latent_store

# Estimates are upper bounds of raw sizes: real <= estimate <= FACTOR * real.
FACTOR = 4


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_clock_formats_hours_minutes_seconds():
    assert [clock(s) for s in (0, 59.4, 61, 3600 + 62, -3)] == [
        "0:00",
        "0:59",
        "1:01",
        "1:01:02",
        "0:00",
    ]


def test_line_bar_prints_plain_lines_with_rate_and_eta(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(progress.time, "monotonic", fake)
    lines = []
    with LineBar(100, "encode", "img", lines.append) as bar:
        for _ in range(4):
            fake.now += 5.0
            bar.update(25)
    # every 10 % at most: 4 updates of 25 % give 4 lines, each with the numbers so far
    assert len(lines) == 4
    assert lines[0] == "encode: 25/100 img (25%), 5 img/s, elapsed 0:05, ETA 0:15"
    assert lines[-1] == "encode: 100/100 img (100%), 5 img/s, elapsed 0:20, ETA 0:00"
    assert not any("\r" in line or ANSI.search(line) for line in lines)


def test_a_bar_off_a_terminal_is_plain_lines_on_stderr(capsys):
    with Progress().bar(10, "prepare", "img") as bar:
        bar.update(10)
    err = capsys.readouterr().err
    assert err == err.strip("\r") and "\r" not in err and not ANSI.search(err)
    assert err.startswith("prepare: 10/10 img (100%)") and "ETA 0:00" in err
    with Progress.quiet().bar(10, "prepare", "img") as bar:
        bar.update(10)
    assert capsys.readouterr().err == ""


def test_epoch_lines_carry_images_per_second_elapsed_and_eta():
    metrics = {"epoch": 5, "train_loss": 0.0123, "val_loss": 0.02, "images_per_second": 812.4}
    # this run resumed after epoch 2: 3 epochs done in 90 s, 30 s each, 5 of 10 left
    line = epoch_line(metrics, epochs=10, elapsed=90.0, done_this_run=3)
    assert line == (
        "[train] epoch 5/10: train 0.01230 val 0.02000, 812 img/s, elapsed 1:30, ETA 2:30"
    )


def test_pass_lines_get_elapsed_time_and_an_eta(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(progress.time, "monotonic", fake)
    lines = []
    timed = with_eta(Progress(sink=lines.append))
    timed.log("[analyze] pass 1/5: moments")
    fake.now += 40
    timed.log("[analyze] pass 3/5: pairs")
    timed.log("[analyze] done")
    assert lines == [
        "[analyze] pass 1/5: moments (elapsed 0:00)",
        "[analyze] pass 3/5: pairs (elapsed 0:40, ETA ~1:00)",  # 20 s per pass, 3 left
        "[analyze] done",
    ]
    assert with_eta(Progress.quiet()).sink is None


def test_run_ends_with_a_timing_table():
    result = PipelineResult(StagePaths.under("w"), ran=["prepare", "train"])
    result.seconds = {"prepare": 30.0, "train": 90.0}
    assert timing_table(result) == [
        "stage           time   share",
        "prepare         0:30     25%",
        "train           1:30     75%",
        "total           2:00    100%",
    ]
    assert timing_table(PipelineResult(StagePaths.under("w"))) == []


def test_verbose_flag_and_environment_bring_ray_messages_back(monkeypatch, tmp_path):
    from lsf.core import runtime

    monkeypatch.delenv(runtime.VERBOSE_ENV, raising=False)
    assert not runtime.verbose()
    monkeypatch.setenv(runtime.VERBOSE_ENV, "1")
    assert runtime.verbose()
    monkeypatch.delenv(runtime.VERBOSE_ENV)
    main(
        ["report", "--analysis", str(tmp_path / "none"), "--out", str(tmp_path / "r"), "--verbose"]
    )
    assert os.environ.get(runtime.VERBOSE_ENV) == "1"


def _du(path) -> int:
    """Bytes of the files under `path` (their sizes, not their blocks)."""
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(path)
        for name in names
    )


def _within(estimate: Estimate, real: int) -> None:
    assert real <= estimate.disk <= FACTOR * real, (estimate, real)


def test_prepare_estimate_bounds_the_real_shards(synthetic_shards):
    # conftest: 600 synthetic 32-px faces, 256 rows per shard
    _within(preflight.prepare_estimate(600, 32, 256), _du(synthetic_shards))


def test_train_estimate_bounds_the_real_run_folder(trained_run):
    from lsf.core.config import ModelConfig
    from lsf.preflight_stages import parameter_count
    from tests.helpers import TINY_MODEL

    run, _ = trained_run
    parameters = parameter_count(ModelConfig(**TINY_MODEL))
    import torch

    state = torch.load(run / "model.pt", weights_only=True)
    assert parameters == sum(v.numel() for v in state.values())
    _within(preflight.train_estimate(parameters, 600, 32 * 32 * 3, 32, 2), _du(run))


def test_encode_estimate_bounds_a_real_store(tmp_path):
    z = np.random.default_rng(0).standard_normal((3000, 16)).astype(np.float32)
    store = write_latent_store(tmp_path / "l.zarr", z, 512)
    _within(preflight.encode_estimate(3000, 16, 32 * 32 * 3, 50, 2), _du(store))


@pytest.mark.timeout(120)
def test_analyze_estimate_bounds_a_real_analysis(tmp_path):
    from lsf.analyze import analyze
    from lsf.core.progress import QUIET

    store = write_latent_store(tmp_path / "l.zarr", correlated_latents(4000, 12, seed=1), 1000)
    config = AnalyzeConfig(sample_rows=2000, mardia_sample=200, pair_bins=16)
    analyze(config, store, str(tmp_path / "a"), progress=QUIET)
    pairs = pair_grid_count(config, 12)
    assert pairs == 2 * 66  # auto: every pair in both systems
    _within(preflight.analyze_estimate(4000, 12, config, pairs), _du(tmp_path / "a"))


def test_an_impossible_prepare_is_refused_before_any_work(tmp_path, capsys):
    out = tmp_path / "shards"
    code = main(["prepare", "--n", "90000000", "--size", "512", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("lsf prepare: error: prepare would write about ") and "TB" in err[0]
    assert "--force" in err[0] and not out.exists()
    code = main(["prepare", "--n", "99999999999", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "prepare.n must be <= 100000000" in err[0], err


def test_run_refuses_a_pipeline_that_cannot_fit_before_any_stage(tmp_path):
    config = load_config("tiny")
    config.prepare.n, config.prepare.size, config.model.image_size = 90_000_000, 512, 512
    with pytest.raises(LsfError, match=r"^run would write about .* free; .*--force"):
        run_pipeline(config, str(tmp_path / "w"), progress=Progress.quiet())
    assert not (tmp_path / "w" / "shards").exists()


def test_memory_refusal_and_force(tmp_path, monkeypatch):
    monkeypatch.setattr(preflight, "available_memory", lambda: 1 << 30)
    monkeypatch.setattr(preflight, "free_bytes", lambda url: 5 << 20)
    huge = Estimate("encode", 10, 1 << 40, "a lot")
    with pytest.raises(LsfError, match=r"encode needs about 1.0 TB of memory .* 1.0 GB is"):
        check(huge, str(tmp_path), False, Progress.quiet())
    lines = []
    check(huge, str(tmp_path), True, Progress(sink=lines.append))
    assert lines == [
        "[encode] preflight: a lot; writes ~10 B of 5.0 MB free, peak memory ~1.0 TB of "
        "1.0 GB available"
    ]


def test_native_stderr_goes_to_a_log_file_and_python_stderr_stays(tmp_path):
    import subprocess
    import sys

    code = (
        "import os, sys; from lsf.core.runtime import divert_native_stderr; "
        "path = divert_native_stderr(); os.write(2, b'core_worker.cc: native\\n'); "
        "print('lsf line', file=sys.stderr); print(path)"
    )
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    env.pop("LSF_VERBOSE", None)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == "lsf line\n", done.stderr
    log = done.stdout.strip()
    assert log.startswith(str(tmp_path)) and open(log).read() == "core_worker.cc: native\n"
    verbose = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "LSF_VERBOSE": "1"},
        capture_output=True,
        text=True,
    )
    assert "core_worker.cc: native" in verbose.stderr and verbose.stdout.strip() == "None"


def test_errors_ray_publishes_to_drivers_go_to_a_log_not_the_terminal(capsys, monkeypatch):
    import ray._private.worker as ray_worker

    from lsf.core import runtime

    monkeypatch.setattr(ray_worker, "print_to_stdstream", ray_worker.print_to_stdstream)
    monkeypatch.delenv(runtime.VERBOSE_ENV, raising=False)
    runtime.quiet_ray()
    runtime.quiet_ray()  # idempotent: wrapped once
    line = "The autoscaler failed with the following error: test-" + str(os.getpid())
    ray_worker.print_to_stdstream({"lines": [line], "pid": "raylet", "is_err": False}, False)
    out = capsys.readouterr()
    assert line not in out.out + out.err
    with open(runtime.ray_errors_log(), encoding="utf-8") as log:
        assert line in log.read()
    ray_worker.print_to_stdstream({"lines": ["worker says hi"], "pid": 7, "is_err": False}, True)
    assert "worker says hi" in capsys.readouterr().out  # other streams are left as they were


@pytest.mark.parametrize(
    ("given", "env", "expected"),
    [(None, None, "local"), (None, "10.0.0.1:6379", None), ("auto", None, "auto")],
)
def test_no_address_starts_a_fresh_local_ray_even_beside_a_running_cluster(
    monkeypatch, given, env, expected
):
    import ray

    from lsf.core import runtime

    calls = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kwargs: calls.append(kwargs))
    if env is None:
        monkeypatch.delenv("RAY_ADDRESS", raising=False)
    else:
        monkeypatch.setenv("RAY_ADDRESS", env)  # inside `ray job submit`: join that cluster
    runtime.init_ray(given, num_cpus=2)
    assert calls[0]["address"] == expected
    assert calls[0]["num_cpus"] == (2 if expected == "local" else None)
