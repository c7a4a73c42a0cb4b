"""Preflight before long work: will the output fit on its disk, the work in memory?

Each `*_estimate` function is pure arithmetic on a stage's configuration and input sizes
and returns an `Estimate` (bytes written, peak bytes of memory, what was counted); they are
upper-bound style estimates (raw, uncompressed sizes) that the tests compare with the real
sizes of small outputs. `check(estimate, target, force, progress)` compares an estimate
with the free space under `target` and the memory available now: it raises `LsfError`
(one line; `--force` goes on anyway) when it cannot fit, else logs the estimate.
`check_target(url)` refuses an output path that cannot be created before any work starts.
Run from the CLI and `lsf run` before each stage.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass

from lsf.core.errors import LsfError
from lsf.core.outputs import is_local, local_path, make_local_folder
from lsf.core.progress import Progress

MIN_FREE = 1 << 20  # a target with less than 1 MiB free is full, whatever the estimate
MODEL_BYTES_PER_PARAM = 4
SAMPLE_PNG_BYTES = 1.25  # PNG grids of small faces: up to ~0.85 of raw pixels, plus padding


@dataclass(frozen=True)
class Estimate:
    stage: str
    disk: int  # bytes the stage writes
    memory: int  # peak bytes of memory of the stage (driver and workers on this machine)
    detail: str = ""  # what was counted, e.g. "400 images of 32x32x3"


def size_text(n: float) -> str:
    """Bytes in B, KB, MB, GB, TB, PB (powers of 1024)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PB"


def prepare_estimate(n: int, size: int, rows_per_shard: int, tasks: int = 2) -> Estimate:
    """Shards store raw HWC uint8 pixels: n * size^2 * 3 bytes plus ~1 % Parquet framing;
    each running task holds one shard's pixels about three times (render, table, write)."""
    image = size * size * 3
    disk = int(n * image * 1.01) + 4096
    memory = tasks * 3 * min(n, rows_per_shard) * image
    return Estimate("prepare", disk, memory, f"{n} images of {size}x{size}x3")


def train_estimate(parameters: int, n: int, image_bytes: int, batch_size: int, workers: int):
    """Checkpoints (weights and Adam's two moments, 3 kept while the newest is written) and
    model.pt; memory: the cached decoded dataset plus each worker's model and batches."""
    weights = parameters * MODEL_BYTES_PER_PARAM
    disk = 3 * 3 * weights + weights + 2 * 1024 * 1024  # + metrics.csv, png, json
    activations = batch_size * image_bytes * 4 * 16  # float32 activations and gradients
    memory = n * image_bytes + workers * (4 * weights + activations)
    return Estimate("train", disk, memory, f"{parameters} parameters, {n} images cached")


def encode_estimate(n: int, latent_dim: int, image_bytes: int, batch_size: int, actors: int):
    """The store: float32 latents and int64 ids; memory: each actor's batch as float32."""
    disk = n * (latent_dim * 4 + 8) + 64 * 1024
    memory = actors * batch_size * image_bytes * 4 * 8
    return Estimate("encode", disk, memory, f"{n} x {latent_dim} float32 latents")


# The interpreter with NumPy, Dask, Zarr and scikit-learn loaded, before the first read
# (0.43 GB RSS measured at 61,440 x 2,048).
ANALYZE_BASE = 450 * 2**20
# Partial sums waiting in the chains of read 2 (`lsf.stats.graph.REDUCTION_CHAINS`
# and their join) and the sample's projection blocks (`lsf.stats.analysis`); a test ties them.
READ2_WAITING = 3
PROJECT_COMPONENTS = 256
PROJECT_ROWS = 8192


def analyze_estimate(n: int, d: int, config, pairs: int) -> Estimate:
    """Disk: float64 D x D matrices (also one per fact), histograms, both coordinate
    systems' `pairs` pair grids (bins^2 per pair; `lsf.stats.pair_analysis.pair_grid_count`)
    and the fact sweep's per-fact pair grids; with regions, one D x D covariance per region
    and every row's int16 label.

    Memory: the interpreter's own, what the whole analysis holds (the float32 row sample, the result
    matrices, Mardia's matrix, the labels and the inside draws) plus the largest of its phases,
    which never overlap: read 1's tree of partial sums (a D x D matrix and the provisional
    histograms per worker and per level) with the row sample's halves beside the whole; read 2's
    partial sums (a float64 D x D matrix per fact shell, one per Dask worker and
    `READ2_WAITING` waiting in `lsf.stats.graph.chain_reduce`); the sample's projection
    (`PROJECT_COMPONENTS` float64 score columns, their chosen rows and the quantile copy); and
    read 3's wave of pair blocks (`task_memory_mb` per running task, at most all grids twice)
    with its tree of partial sums (a D x D matrix per region, at most `regions_max_k`, and the
    PCA moments).
    Measured against it: `benchmarks/large_dim.py`."""
    grids = pairs * config.pair_bins**2 * 8
    facts = len(config.facts)
    k = min(config.sweep_components, d)
    sweep = facts * (k * (k - 1) // 2) * (config.pair_bins**2 * 4 + 8 * 8)
    matrices = (6 + 2 * facts) * d * d * 8 + 4 * d * config.bins * 8
    kde = 2 * d * d * 8  # each pair system's KDE covariance (`pair_kde_cov`, `pca_pair_kde_cov`)
    disk = grids + matrices + kde + sweep + pairs * 64 + 64 * 1024
    workers = os.cpu_count() or 1
    in_flight = workers + 8  # tree partial sums: one per worker, one per level (<= 2^8 chunks)
    regions = config.regions_max_k if config.regions else 0
    rows = min(n, config.sample_rows)
    read1 = rows * d * 4 + in_flight * (d * d * 8 + d * 4098 * 8)
    read2 = (workers + READ2_WAITING) * (facts + 2) * d * d * 8
    projection = 3 * rows * min(d, PROJECT_COMPONENTS) * 8 + PROJECT_ROWS * d * 8
    wave = min(2 * grids, workers * config.task_memory_mb * 2**20)
    read3 = wave + in_flight * (regions + 1) * d * d * 8
    held = rows * d * 4 + 2 * matrices + config.mardia_sample**2 * 8
    memory = ANALYZE_BASE + held + max(read1, read2, projection, read3)
    if config.regions:  # the row labels (int16), held whole once, and the draws inside
        disk += regions * d * d * 8 + n * 2
        memory += 2 * n * 2 + 2 * config.regions_inside_draws * d * 8
    return Estimate("analyze", disk, memory, f"{n} x {d} latents, {pairs} pair grids")


def generate_estimate(config, image_size: int, channels: int, latent_dim: int) -> Estimate:
    """Grids and paths as PNG, plus every image (`save_images`) and latents (`save_latents`);
    memory: one sampler's images as float32 and the feature matrices."""
    image = image_size * image_size * channels
    samplers = len(config.samplers)
    pngs = samplers * config.grid + 8 * config.path_steps
    if config.save_images:
        pngs += samplers * config.n
    disk = int(pngs * image * SAMPLE_PNG_BYTES) + 64 * 1024
    if config.save_latents:
        disk += samplers * config.n * latent_dim * 4
    features = (config.n + config.real_images) * config.feature_dims * 8
    memory = 2 * (config.n + config.real_images) * image * 4 + 4 * features
    return Estimate("generate", disk, memory, f"{samplers} samplers x {config.n} images")


def report_estimate(figures: int = 40) -> Estimate:
    """About 40 PNG figures of at most ~250 KB and the page; matplotlib's memory."""
    return Estimate("report", figures * 250 * 1024, 512 * 1024 * 1024, f"~{figures} figures")


# The interpreter with NumPy, Zarr and scikit-learn loaded (0.24 GB RSS measured after a small
# `lsf pca`; Dask too for `randomized`).
PCA_BASE = 300 * 2**20


def pca_estimate(
    rows: int, d: int, k: int, rows_per_chunk: int, batch_rows: int, config, workers=None
) -> Estimate:
    """`lsf pca`: writes the mean and K components (float64). Memory, incremental: float32
    rows, up to three batches of `batch_rows + K` (the buffer, its concatenation and the rest
    kept) and five store chunks (the one read ahead, its decoding, the buffered ones), two
    float64 copies of the batch and the SVD of `[K + batch, D]` (its input, `Vt` and LAPACK's
    work, ~3 more); randomized: each worker's chunk in float64 (read, centred, product) and
    the `[rows, K + oversamples]` float64 projections (three alive at a time) with the
    `[D, K + oversamples]` partial sums in flight. Measured: `benchmarks/pca_incremental.py`."""
    disk = (k + 1) * d * 8 + 64 * 1024
    if config.method == "incremental":
        batch = batch_rows + k
        buffered = (3 * batch + 5 * rows_per_chunk) * d * 4
        memory = PCA_BASE + buffered + (2 + 3) * batch * d * 8 + 4 * k * d * 8
    else:
        workers = workers or os.cpu_count() or 1
        width = k + config.oversamples
        chunks = workers * 3 * rows_per_chunk * d * 8
        memory = PCA_BASE + chunks + 3 * rows * width * 8 + (workers + 8) * d * width * 8
    detail = f"{rows} x {d} rows, {k} components, {config.method}"
    return Estimate("pca", disk, memory, detail)


def free_bytes(url: str) -> int | None:
    """Free bytes on the file system of `url` (its nearest existing folder); None when not
    local (object stores have no fixed capacity)."""
    if not is_local(url):
        return None
    folder = os.path.abspath(local_path(url))
    while not os.path.isdir(folder):
        folder = os.path.dirname(folder)
    return shutil.disk_usage(folder).free


def available_memory() -> int | None:
    """MemAvailable from /proc/meminfo (bytes), or None where there is none."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check(
    estimate: Estimate, target: str, force: bool, progress: Progress, local: bool = True
) -> None:
    """Refuse (one line) when the estimate does not fit the free space under `target` or
    the memory available now, unless `force`; else log the estimate. `local`: the work
    runs on this machine (not on a cluster, whose nodes' memory this cannot see)."""
    free, memory = free_bytes(target), available_memory() if local else None
    stage = estimate.stage
    if free is not None and estimate.disk > free and not force:
        raise LsfError(
            f"{stage} would write about {size_text(estimate.disk)} ({estimate.detail}) to "
            f"{target}, which has {size_text(free)} free; free space, lower the counts, or "
            "pass --force to try anyway"
        )
    if memory is not None and estimate.memory > memory and not force:
        raise LsfError(
            f"{stage} needs about {size_text(estimate.memory)} of memory ({estimate.detail}) "
            f"and {size_text(memory)} is available; lower the counts or batch sizes, or pass "
            "--force to try anyway"
        )
    room = f" of {size_text(free)} free" if free is not None else ""
    available = f" of {size_text(memory)} available" if memory is not None else ""
    progress.log(
        f"[{stage}] preflight: {estimate.detail}; writes ~{size_text(estimate.disk)}{room}, "
        f"peak memory ~{size_text(estimate.memory)}{available}"
    )


def check_target(url: str, folder: bool = False) -> None:
    """Refuse, in one line, an output that cannot be created: a parent that cannot be made
    (a file in the way, /proc, no permission), a read-only or full file system. `folder`:
    `url` itself is a folder that may already exist (a work folder). Object store URLs
    pass (their errors surface when written)."""
    if not is_local(url):
        return
    path = os.path.abspath(local_path(url))
    if os.path.exists(path) and not os.path.isdir(path) and folder:
        raise LsfError(f"cannot use {url} as a folder: it is a file")
    parent = os.path.dirname(path)
    make_local_folder(parent)
    _probe(parent)
    free = free_bytes(parent)
    if free is not None and free < MIN_FREE:
        raise LsfError(f"cannot write to {parent}: no space left ({size_text(free)} free)")
    if folder and os.path.isdir(path):
        _probe(path)


def _probe(folder: str) -> None:
    """Write and remove a small file in `folder`, or explain in one line why it fails."""
    probe = os.path.join(folder, f".lsf-probe-{uuid.uuid4().hex[:8]}")
    try:
        with open(probe, "wb") as f:
            f.write(b"lsf")
    except OSError as exc:
        raise LsfError(f"cannot write to output folder {folder}: {exc.strerror}") from None
    finally:
        if os.path.exists(probe):
            os.remove(probe)
