"""`make test`: the whole suite as pytest processes in two lanes that run side by side.

Most of the suite's time is spent waiting on Ray (process start-ups, actor and worker-group
set-up, job submission), not computing: a tiny pipeline run uses about half of one core. So
two lanes on a 2-core machine finish well before one process would. Lane 1 runs the tests
that share the session's trained model and long encodes (`trained_run`, `long_shards`, built
once per process) and every module not named below; lane 2 runs `tests/sweep/test_compare.py`
in a process of its own, then the modules of `LANE_2`. The "Tune teardown" that first kept
compare apart is understood and fixed (Ray started from a thread, `lsf.core.runtime`), and
compare then passes in one process with the rest of lane 2; but of two such runs on
2026-12-03, one process ended with SIGSEGV (exit -11) at interpreter exit, after its summary
said 148 passed (compare alone always exits 0; a segfault after a Tune test has completed is
ray-project/ray#34508, left there as a probable Ray Core issue). So compare keeps its process,
and every process runs with PYTHONFAULTHANDLER=1: a crash at exit, which pytest's own fault
handler no longer covers, prints every thread's stack into the log.

Each process has its own Ray instance, temp folder and ports (tests/conftest.py), which is the
suite holding beside another Ray user, tested on every run; `--beside-foreign-ray` also runs
it beside another user's `ray start --head` cluster and checks that cluster was left as it
was (tests/foreign_ray.py). Each process writes a log and a
JUnit XML under `.test-results/`; the logs are printed in full when all have ended, then one
closing line over all of them (`tests/suite_total.py`). The exit status is non-zero when any
process failed.

Run: `python tests/run_suite.py` (what `make test` does), `--serial` for one process after
another (the same processes, e.g. to time a lane alone), extra arguments after `--` go to
every pytest (`-- -x`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from foreign_ray import foreign_cluster
from suite_total import totals

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / ".test-results"
COMPARE = "tests/sweep/test_compare.py"
# The second lane: modules with no use for the shared trained model, chosen so the lanes take
# about as long (times of each module in a run are in its JUnit XML).
LANE_2 = [
    "tests/pipeline/test_job_submit.py",
    "tests/pipeline/test_pipeline.py",
    "tests/stats/test_analysis_memory.py",
    "tests/web/test_explore_api.py",
    "tests/data/test_import.py",
    "tests/pages/test_report.py",
    "tests/web/test_explore_browser.py",
    "tests/web/test_explore_regions_browser.py",
    "tests/web/test_explore_regions.py",
]


def lane_1() -> list[str]:
    """Every test module not in lane 2, in name order (new modules land here)."""
    taken = {COMPARE, *LANE_2}
    modules = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("test_*.py"))
    return [m for m in modules if m not in taken]


def plan() -> list[list[tuple[str, list[str]]]]:
    """The lanes: each a list of `(name, pytest arguments)` run one after another."""
    return [[("suite-1", lane_1())], [("compare", [COMPARE]), ("suite-2", LANE_2)]]


def start(
    name: str, modules: list[str], extra: list[str], env: dict[str, str]
) -> tuple[subprocess.Popen, Path]:
    log = RESULTS / f"{name}.log"
    command = [sys.executable, "-m", "pytest", *modules, f"--junitxml={RESULTS / name}.xml"]
    env = {
        **env,
        "RAY_USAGE_STATS_ENABLED": "0",
        "PYTHONUNBUFFERED": "1",
        "PYTHONFAULTHANDLER": "1",
    }
    with log.open("w") as out:
        process = subprocess.Popen(
            [*command, *extra],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the runner, which stops each group
        )
    return process, log


def run_lanes(lanes, extra: list[str], serial: bool, env: dict[str, str]) -> dict[str, int]:
    """Run the lanes (side by side unless `serial`) in `env`; the exit status of each process."""
    status: dict[str, int] = {}
    queues = [list(lane) for lane in lanes]
    if serial:
        queues = [[step for lane in lanes for step in lane]]
    running: dict[int, tuple[str, subprocess.Popen, float]] = {}  # lane -> its process
    started = time.monotonic()
    try:
        while True:
            for index, queue in enumerate(queues):
                if index not in running and queue:
                    name, modules = queue.pop(0)
                    process, log = start(name, modules, extra, env)
                    print(
                        f"[test] {name}: {len(modules)} modules, log {log.relative_to(ROOT)}",
                        flush=True,
                    )
                    running[index] = (name, process, time.monotonic())
            if not running:
                break
            time.sleep(1)
            for index, (name, process, since) in list(running.items()):
                code = process.poll()
                if code is not None:
                    status[name] = code
                    del running[index]
                    word = "passed" if code == 0 else f"FAILED (exit {code})"
                    took = (time.monotonic() - since) / 60
                    print(f"[test] {name}: {word} in {took:.1f} min", flush=True)
    except KeyboardInterrupt:
        for _, process, _ in running.values():
            os.killpg(process.pid, signal.SIGINT)
        for _, process, _ in running.values():
            process.wait()
        raise
    print(f"[test] all lanes ended in {(time.monotonic() - started) / 60:.1f} min", flush=True)
    return status


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serial", action="store_true", help="one process after another")
    parser.add_argument(
        "--beside-foreign-ray",
        action="store_true",
        help="run beside another user's `ray start --head` cluster (tests/foreign_ray.py) and "
        "fail if the suite touched it",
    )
    parser.add_argument("extra", nargs="*", help="arguments for every pytest (after --)")
    args = parser.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    for old in RESULTS.glob("*"):
        old.unlink()
    lanes = plan()
    with contextlib.ExitStack() as stack:
        env = dict(os.environ)
        if args.beside_foreign_ray:
            foreign = stack.enter_context(foreign_cluster())
            env = foreign.env()
        try:
            status = run_lanes(lanes, args.extra, args.serial, env)
        except KeyboardInterrupt:
            print("[test] interrupted", file=sys.stderr)
            return 130
    names = [name for lane in lanes for name, _ in lane]
    for name in names:
        print(f"\n{'=' * 30} {name} {'=' * 30}")
        print((RESULTS / f"{name}.log").read_text(errors="replace"), end="")
    passed, failed, skipped = totals([str(RESULTS / f"{name}.xml") for name in names])
    print(f"make test: {passed} passed, {failed} failed, {skipped} skipped")
    if args.beside_foreign_ray:
        print(f"the foreign Ray cluster: {'; '.join(foreign.problems) or 'untouched'}")
        if foreign.problems:
            return 1
    return 0 if all(status.get(name) == 0 for name in names) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
