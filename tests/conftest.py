"""Shared fixtures: one local Ray instance for the whole session (2 CPUs), quiet and with
token authentication explicitly disabled for these local-only tests."""

import os

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def ray_local():
    import ray

    from lsf.runtime import init_ray

    init_ray(num_cpus=2)
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def synthetic_shards(tmp_path_factory, ray_local):
    """600 synthetic 32-px faces in 3 shards (shared, read-only)."""
    from lsf.config import PrepareConfig
    from lsf.data.prepare import prepare

    out = str(tmp_path_factory.mktemp("shared") / "shards")
    prepare(PrepareConfig(n=600, size=32, rows_per_shard=256, seed=3), out, progress=False)
    return out


TINY_MODEL = {"image_size": 32, "widths": [8, 16, 32], "latent_dim": 16}


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, synthetic_shards):
    """A tiny autoencoder trained for 2 epochs with 2 Ray Train workers (shared, read-only)."""
    from lsf.config import ModelConfig, TrainConfig
    from lsf.train import train

    out = tmp_path_factory.mktemp("shared") / "run"
    config = TrainConfig(epochs=2, workers=2, cpus_per_worker=0.5, batch_size=32, lr=3e-3)
    summary = train(ModelConfig(**TINY_MODEL), config, synthetic_shards, str(out))
    return out, summary
