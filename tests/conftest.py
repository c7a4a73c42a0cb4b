"""Shared fixtures: one local Ray instance for the whole session (2 CPUs), quiet and with
token authentication explicitly disabled for these local-only tests."""

import os

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

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
