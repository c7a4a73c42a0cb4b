"""Shared fixtures: one local Ray instance for the whole session (2 CPUs), quiet and with
token authentication explicitly disabled for these local-only tests.

Isolation from other Ray on the machine (another user's `ray start` cluster, another
pytest): this session's Ray keeps its files under a temp folder of its own (RAY_TMPDIR, set
before Ray starts and inherited by `lsf` subprocesses, `ray start` and Ray's workers). In
/tmp/ray, `ray.cluster_utils.Cluster` would overwrite and then delete the address file of
the machine's `ray start` cluster, and Ray's processes that look for "the" cluster (the
state API without an address) would find that one. `init_ray` starts a fresh local instance
on free ports, never joining one; tests that kill processes kill only their own instance's;
the session removes its folder at the end."""

import os
import shutil
import tempfile
import threading

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
# Addresses in the environment would send this session's Ray calls to another cluster.
for name in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS"):
    os.environ.pop(name, None)
# A short folder: Ray's socket paths under it must stay below 108 characters.
RAY_TMPDIR = tempfile.mkdtemp(prefix="lsf-test-ray-", dir=os.environ.get("RAY_TMPDIR", "/tmp"))
os.environ["RAY_TMPDIR"] = RAY_TMPDIR

import pytest  # noqa: E402

from lsf.core.progress import QUIET  # noqa: E402
from tests.helpers import LONG_ENCODE, TINY_MODEL  # noqa: E402

pytest_plugins = ["tests.tiers"]


@pytest.fixture(scope="session")
def ray_local():
    import ray

    from lsf.core.runtime import init_ray

    init_ray(num_cpus=2)
    yield
    ray.shutdown()


# How long a test's leftover Ray job may take to end (seconds).
BACKGROUND_GRACE_S = float(os.environ.get("LSF_TEST_BACKGROUND_GRACE_S", "900"))


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem):
    """No Ray job started in a test's `Background` thread outlives the test. A test that
    fails while its job runs (a fault test's train, the compare sweep's Tune run) would leave
    the thread driving Ray in this process; the next test's `ray.shutdown()`/`ray.init()`
    then races it: the thread's `init_ray` starts a second instance, a shutdown kills the
    GCS that the driver is connected to, and Ray's core worker ends the whole pytest process
    after 60 s without a summary. So wait for the job here, and if it does not end, stop the
    session with a clear line instead."""
    from tests.helpers import Background

    left = [t for t in threading.enumerate() if isinstance(t, Background) and t.is_alive()]
    try:
        for thread in left:
            thread.join(BACKGROUND_GRACE_S)
    finally:
        alive = [t.name for t in left if t.is_alive()]
        if alive:
            pytest.exit(
                f"{item.nodeid}: its background Ray job ({', '.join(alive)}) is still running; "
                "later Ray tests would race it, so the session stops here",
                returncode=1,
            )


def pytest_sessionfinish(session, exitstatus):
    """The session's Ray folder goes with the session (Ray's own processes are stopped by
    `ray.shutdown` and by each test's cluster teardown)."""
    shutil.rmtree(RAY_TMPDIR, ignore_errors=True)


@pytest.fixture(scope="session")
def synthetic_shards(tmp_path_factory, ray_local):
    """600 synthetic 32-px faces in 3 shards (shared, read-only)."""
    from lsf.core.config import PrepareConfig
    from lsf.prepare import prepare

    out = str(tmp_path_factory.mktemp("shared") / "shards")
    prepare(PrepareConfig(n=600, size=32, rows_per_shard=256, seed=3), out, progress=QUIET)
    return out


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, synthetic_shards):
    """A tiny autoencoder trained for 2 epochs with 2 Ray Train workers (shared, read-only)."""
    from lsf.core.config import ModelConfig, TrainConfig
    from lsf.train import train

    out = tmp_path_factory.mktemp("shared") / "run"
    config = TrainConfig(epochs=2, workers=2, cpus_per_worker=0.5, batch_size=32, lr=3e-3)
    summary = train(ModelConfig(**TINY_MODEL), config, synthetic_shards, str(out))
    return out, summary


@pytest.fixture(scope="session")
def long_shards(tmp_path_factory, ray_local):
    """4000 synthetic 32-px faces: long enough to encode that a fault can land mid-run."""
    from lsf.core.config import PrepareConfig
    from lsf.prepare import prepare

    out = str(tmp_path_factory.mktemp("shared") / "long_shards")
    prepare(PrepareConfig(n=4000, size=32, rows_per_shard=1024, seed=5), out, progress=QUIET)
    return out


@pytest.fixture(scope="session")
def long_reference_store(tmp_path_factory, long_shards, trained_run):
    """`long_shards` encoded undisturbed with LONG_ENCODE (250 small chunks): the reference
    that interrupted and faulted encodes must equal."""
    from lsf.core.config import EncodeConfig
    from lsf.encode import encode

    run, _ = trained_run
    out = str(tmp_path_factory.mktemp("shared") / "reference.zarr")
    encode(EncodeConfig(**LONG_ENCODE), long_shards, str(run / "model.pt"), out, progress=QUIET)
    return out
