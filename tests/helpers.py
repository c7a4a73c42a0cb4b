"""Helpers the test modules share: small model and encode settings, generated latents, latent
stores written by the store contract, and output filters. Fixtures live in conftest.py."""

import json
import os
import re
import threading
import time

import numpy as np

TINY_MODEL = {"image_size": 32, "widths": [8, 16, 32], "latent_dim": 16}
LONG_ENCODE = {"rows_per_chunk": 16, "batch_size": 4, "actors": 1, "cpus_per_actor": 0.5}
LIKE_DIM = 12  # components of latent_like

# Batch size of the oracle forward passes in tests that compare model outputs: a float32
# convolution's sums depend on the batch size, so the suite is also run with 1 and 16 (README).
ORACLE_BATCH = int(os.environ.get("LSF_TEST_ORACLE_BATCH", "256"))

# float32 model outputs (latents, decoded pixels) agree to about this fraction of the values'
# magnitude across CPUs: kernels differ by instruction set (ATEN_CPU_CAPABILITY, oneDNN's ISA),
# batch size and thread count, and reorder sums of ~10^3 terms per layer (eps32 ~ 1.2e-7).
FLOAT32_MODEL_RTOL = 1000 * float(np.finfo(np.float32).eps)


def assert_model_close(actual, expected, rtol: float = FLOAT32_MODEL_RTOL, err_msg: str = ""):
    """float32 model outputs equal up to kernel differences: `rtol` plus an `atol` of `rtol`
    times the largest |expected| value, so values near zero are not held to a relative bound."""
    expected = np.asarray(expected, dtype=np.float64)
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(
        np.asarray(actual, dtype=np.float64),
        expected,
        rtol=rtol,
        atol=rtol * scale,
        err_msg=err_msg,
    )


def assert_close_to_scale(actual, expected, rtol: float = 1e-9, err_msg: str = ""):
    """Values against an oracle at `rtol` (float64 statistics: 1e-9), with an `atol` of `rtol`
    times the largest |expected| value: an entry that sits near zero (a mean, a correlation,
    an off-diagonal) is compared on the scale of its neighbours, not on its own."""
    expected = np.asarray(expected, dtype=np.float64)
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=err_msg)


def assert_same_images(a, b, levels: int = 1) -> None:
    """uint8 images decoded by a model equal up to `levels` grey levels (a float32 pixel that
    sits on a rounding boundary moves by one level when the kernel path changes)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a.astype(np.int16), b.astype(np.int16), atol=levels, rtol=0)


def latent_like(n=6000, seed=0):
    """Correlated normal with means several sigma from 0 and two heavy-tailed components."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((LIKE_DIM, LIKE_DIM)) / np.sqrt(LIKE_DIM)
    cov = a @ a.T + np.diag(np.linspace(0.2, 1.5, LIKE_DIM))
    x = rng.multivariate_normal(np.linspace(-4, 6, LIKE_DIM), cov, size=n)
    x[:, 2] += 0.6 * rng.standard_t(3, size=n)
    x[:, 7] += 0.4 * rng.standard_t(2.5, size=n)
    return x.astype(np.float32)


def write_latent_store(path, z, rows_per_chunk: int, complete: bool = True):
    """A latent store holding `z`, marked complete unless `complete=False` (no model needed:
    analysis reads only the store)."""
    from lsf.core.store import create_store, finalize, write_chunk

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
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(d, d)) / np.sqrt(d) + np.eye(d)
    z = rng.standard_normal((n, d)) @ mixing
    z[:, 0] = np.exp(0.5 * z[:, 0])
    z[:, 1] += np.where(rng.random(n) < 0.4, 3.0, 0.0)
    return z.astype(np.float32)


def driver_tracebacks(output: str) -> list[str]:
    """Traceback lines printed by lsf itself, not the log lines Ray streams from its worker
    processes (prefixed `(Name pid=N)`), which lsf does not control."""
    worker_line = re.compile(r"^(\x1b\[\d+m)?\(\S* ?pid=\d+")
    return [
        line for line in output.splitlines() if "Traceback" in line and not worker_line.match(line)
    ]


def checkpoint_registered(run) -> bool:
    """A checkpoint folder exists before Ray Train records it; resume needs the record."""
    snapshot = run / "ray" / "train" / "checkpoint_manager_snapshot.json"
    try:
        return bool(json.loads(snapshot.read_text()).get("latest_checkpoint_result"))
    except (OSError, ValueError):
        return False


# Lines only Ray's internals print; `lsf` without --verbose must show none of them.
RAY_INTERNALS = (
    "(RayTrainWorker pid=",
    "pid=",
    "core_worker.cc",
    "RayDeprecationWarning",
    "SplitCoordinator",
    "Checkpoint successfully created",
    "Token authentication",
    "token authentication",
)
ANSI = re.compile(r"\x1b\[")


def ray_internal_lines(output: str) -> list[str]:
    """Lines of `output` that come from Ray's internals or carry ANSI escape codes."""
    return [
        line
        for line in output.splitlines()
        if any(marker in line for marker in RAY_INTERNALS) or ANSI.search(line)
    ]


class Background(threading.Thread):
    """Runs `fn` in a thread and keeps its result or exception."""

    def __init__(self, fn):
        super().__init__(daemon=True)
        self.fn, self.result, self.error = fn, None, None

    def run(self):
        try:
            self.result = self.fn()
        except BaseException as exc:  # re-raised in the test thread
            self.error = exc

    def outcome(self, timeout: float):
        self.join(timeout)
        assert not self.is_alive(), "the run did not finish after the fault"
        if self.error is not None:
            raise self.error
        return self.result


def wait_for(condition, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
