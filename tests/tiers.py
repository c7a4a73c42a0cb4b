"""Test tiers (a pytest plugin loaded by conftest.py): `make test` runs every test, `make
test-fast` (`pytest -m "not slow"`) leaves out the slow tier.

A test is slow when its module is an integration, fault, job-submit, cluster or browser module,
when it carries `@pytest.mark.slow`, or when it asks for Ray (`ray_local`) or one of the
expensive shared fixtures (a model trained with Ray Train, the whole tiny pipeline, long
encodes): the fast tier runs without Ray. The fixture rule keeps the
fast tier fast as tests are added: a new test that needs a trained model joins the slow tier by
itself. At the end of a fast run the plugin prints the tier's time against its budget and the
slowest fast tests, so one that outgrew the tier is named.
"""

from __future__ import annotations

import time

import pytest

FAST_BUDGET_S = 300
STARTED = [0.0]  # monotonic start of the session
DURATIONS: dict[str, float] = {}  # setup + call + teardown seconds per test id

SLOW_MODULES = {
    "test_analysis_memory",  # peak RSS of whole `lsf analyze` runs in subprocesses
    "test_cluster",  # a two-node Ray cluster
    "test_compare",  # Ray Tune sweeps
    "test_explore_browser",  # headless chromium against a served explorer
    "test_explore_regions_browser",
    "test_ray_isolation",  # Ray instances beside another cluster
    "test_faults",  # killed workers and actors
    "test_interrupts",  # SIGINT/SIGTERM of whole `lsf` runs
    "test_job_submit",  # `ray job submit` against a local cluster
    "test_pipeline",  # the whole tiny pipeline
    "test_terminal",  # whole `lsf` runs in a terminal
    "test_train",  # Ray Train runs, killed and resumed
}

SLOW_FIXTURES = {
    "ray_local",  # the session's Ray instance: the fast tier runs without Ray
    "synthetic_shards",  # prepared through Ray Data
    "trained_run",  # Ray Train, 2 workers
    "long_shards",
    "long_reference_store",
    "tiny_workdir",  # the whole tiny pipeline
    "two_node_cluster",
    "inputs",  # tests/explore_inputs.py: a model trained in process
    "table_run",  # tests/sampling/test_quality_rows.py: a model trained in process, generate twice
}


def is_slow(item: pytest.Item) -> bool:
    module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
    return (
        module in SLOW_MODULES
        or item.get_closest_marker("slow") is not None
        or bool(SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())))
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "slow: integration, fault, job-submit, cluster and browser tests, and every test that "
        "uses an expensive shared fixture (left out by `make test-fast`)",
    )
    STARTED[0] = time.monotonic()
    DURATIONS.clear()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if is_slow(item):
            item.add_marker(pytest.mark.slow)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    DURATIONS[report.nodeid] = DURATIONS.get(report.nodeid, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    if config.getoption("markexpr", "") != "not slow" or not DURATIONS:
        return
    elapsed = time.monotonic() - STARTED[0]
    slowest = sorted(DURATIONS.items(), key=lambda kv: -kv[1])[:5]
    verdict = "within" if elapsed <= FAST_BUDGET_S else "OVER"
    terminalreporter.write_line(
        f"fast tier: {len(DURATIONS)} tests in {elapsed:.0f} s, {verdict} its budget of "
        f"{FAST_BUDGET_S} s; slowest: "
        + ", ".join(f"{name.split('::')[-1]} {seconds:.1f} s" for name, seconds in slowest)
    )
