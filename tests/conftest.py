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


@pytest.fixture(scope="session")
def long_shards(tmp_path_factory, ray_local):
    """4000 synthetic 32-px faces: long enough to encode that a fault can land mid-run."""
    from lsf.config import PrepareConfig
    from lsf.data.prepare import prepare

    out = str(tmp_path_factory.mktemp("shared") / "long_shards")
    prepare(PrepareConfig(n=4000, size=32, rows_per_shard=1024, seed=5), out, progress=False)
    return out


LONG_ENCODE = {"rows_per_chunk": 16, "batch_size": 4, "actors": 1, "cpus_per_actor": 0.5}


@pytest.fixture(scope="session")
def long_reference_store(tmp_path_factory, long_shards, trained_run):
    """`long_shards` encoded undisturbed with LONG_ENCODE (250 small chunks): the reference
    that interrupted and faulted encodes must equal."""
    from lsf.config import EncodeConfig
    from lsf.encode import encode

    run, _ = trained_run
    out = str(tmp_path_factory.mktemp("shared") / "reference.zarr")
    encode(EncodeConfig(**LONG_ENCODE), long_shards, str(run / "model.pt"), out, progress=False)
    return out


def write_latent_store(path, z, rows_per_chunk: int, complete: bool = True):
    """A latent store holding `z`, marked complete unless `complete=False` (no model needed:
    analysis reads only the store)."""
    import numpy as np

    from lsf.store import create_store, finalize, write_chunk

    n, d = z.shape
    model = {"path": "none", "sha256": "test"}
    source = {"dataset": "test", "image_shape": [1, 1, 1], "fingerprint": f"test-{n}-{d}"}
    group = create_store(str(path), n, d, rows_per_chunk, model=model, source=source)
    for index, start in enumerate(range(0, n, rows_per_chunk)):
        stop = min(start + rows_per_chunk, n)
        write_chunk(group, index, np.arange(start, stop), z[start:stop])
    if complete:
        finalize(group)
    return str(path)


def correlated_latents(n: int, d: int, seed: int = 0):
    """Correlated Gaussian rows with one skewed and one bimodal component (float32)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(d, d)) / np.sqrt(d) + np.eye(d)
    z = rng.standard_normal((n, d)) @ mixing
    z[:, 0] = np.exp(0.5 * z[:, 0])
    z[:, 1] += np.where(rng.random(n) < 0.4, 3.0, 0.0)
    return z.astype(np.float32)


def driver_tracebacks(output: str) -> list[str]:
    """Traceback lines printed by lsf itself, not the log lines Ray streams from its worker
    processes (prefixed `(Name pid=N)`), which lsf does not control."""
    import re

    worker_line = re.compile(r"^(\x1b\[\d+m)?\(\S* ?pid=\d+")
    return [
        line for line in output.splitlines() if "Traceback" in line and not worker_line.match(line)
    ]
