"""`lsf pca`: the top K principal components of a latent store's rows, streamed a chunk at a
time, for latents too wide for `lsf analyze`'s exact float64 D x D matrices.

`plan_pca` opens the store (`open_store`: complete stores only), reads its `split` array and
checks K against D and the selected rows before any latent is read. `incremental` (default)
reads the chunks in order on this process, one read ahead, and feeds batches of `batch_rows`
rows to scikit-learn's `IncrementalPCA` (`lsf.stats.streamed_pca`): one pass, memory
O(K x D + batch). `randomized` streams the mean and total variance first, then runs Dask's
`svd_compressed` on the centred rows (threads, or Dask-on-Ray with `--address`): 2 x
`power_iterations` + 2 more reads, memory O(rows x K + chunk). DIR/pca.zarr (mean,
components, explained variance and its ratio) and DIR/pca.json (rows, method, K, the store's
fingerprint) are written under a temporary name and renamed; `read_pca` reads them back.
Run: `lsf pca --latents work/latents.zarr --out work/pca --components 64 [--split train]`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import zarr
from threadpoolctl import threadpool_limits

from lsf import __version__
from lsf.core.config import PcaConfig
from lsf.core.errors import LsfError
from lsf.core.locks import locks_output
from lsf.core.outputs import (
    atomic_output_dir,
    exists,
    join,
    read_json,
    write_json_atomic,
    zarr_location,
)
from lsf.core.progress import TERMINAL, Progress
from lsf.core.store import SPLIT, SPLIT_NAMES, Z, chunk_rows, n_chunks, open_store, read_rows
from lsf.stats.streamed_pca import (
    IncrementalComponents,
    PrincipalComponents,
    column_variance,
    combine_variance,
    from_svd,
    rebatch,
)

ARRAYS = "pca.zarr"
SUMMARY = "pca.json"
# The default batch is 4 K rows, at least 256: IncrementalPCA's SVD of `[K + batch, D]` costs
# ~D (K + batch)^2 / batch per row (least near batch = K) plus a fixed cost per call; measured
# at D = 4,096, K = 64, one BLAS thread: 0.95 ms of CPU per row at 128 and 1.1 at 256, 1.7 at
# 512, 2.4 at 1,024.
MIN_BATCH_ROWS = 256
SPLIT_CODES = {"all": None, **{name: code for code, name in enumerate(SPLIT_NAMES)}}


@dataclass
class PcaPlan:
    """A checked request: the store, the rows of its chunks that the split selects, K."""

    latents: str
    z: zarr.Array
    split: str
    split_values: np.ndarray | None  # int8 [n] when a split is selected, else None
    chunk_counts: list[int]  # selected rows per store chunk
    rows_per_chunk: int
    components: int
    batch_rows: int  # incremental: rows per partial_fit
    store: dict  # what identifies the store: url, fingerprint, sizes, model

    @property
    def rows(self) -> int:
        return sum(self.chunk_counts)

    @property
    def latent_dim(self) -> int:
        return int(self.z.shape[1])


@dataclass
class PcaSummary:
    out: str
    result: PrincipalComponents
    method: str
    split: str
    seconds: float

    def __str__(self) -> str:
        r = self.result
        k, d = r.components.shape
        return (
            f"pca: {k} components of {r.rows} rows x {d} ({self.split}, {self.method}) explain "
            f"{r.explained_variance_ratio.sum():.1%} of the variance (first: "
            f"{r.explained_variance_ratio[0]:.1%}), {self.seconds:.1f} s; written to {self.out}"
        )


def is_complete(out: str) -> bool:
    """The output is complete once its folder exists: it is written whole, then renamed."""
    return exists(join(out, SUMMARY))


def plan_pca(config: PcaConfig, latents: str) -> PcaPlan:
    """Check the request against the store before any latent is read (one-line `LsfError`s:
    no or an incomplete store, a split the store does not record, K out of range)."""
    k = config.components
    if k is None:
        raise LsfError("--components K is required (the number of principal components)")
    group = open_store(latents)
    attrs = group.attrs
    n, d, rows_per_chunk = attrs["n_samples"], attrs["latent_dim"], attrs["rows_per_chunk"]
    code = SPLIT_CODES[config.split]
    values = None
    if code is not None:
        if SPLIT not in group.array_keys():
            if code != 0:
                raise LsfError(
                    f"split {config.split!r} selects no rows: the store records no split (its "
                    "rows count as train); use --split all or train"
                )
        else:
            values = np.asarray(group[SPLIT][:])
    counts = []
    for index in range(n_chunks(n, rows_per_chunk)):
        start, stop = chunk_rows(index, n, rows_per_chunk)
        counts.append(stop - start if values is None else int((values[start:stop] == code).sum()))
    rows = sum(counts)
    where = f"the {config.split} split" if code is not None else "the store"
    if rows < 2:
        raise LsfError(f"{where} of {latents} holds {rows} rows; PCA needs at least 2")
    if k > d:
        raise LsfError(f"--components {k} is more than the latent dimension D = {d}")
    if k > rows:
        raise LsfError(f"--components {k} is more than the {rows} rows of {where}")
    batch_rows = config.batch_rows or max(4 * k, MIN_BATCH_ROWS)
    if config.method == "incremental" and batch_rows < k:
        raise LsfError(
            f"--batch-rows {batch_rows} is below --components {k}: IncrementalPCA needs at "
            "least K rows per batch; raise --batch-rows"
        )
    store = {
        "url": str(latents),
        "fingerprint": (attrs.get("source") or {}).get("fingerprint"),
        "n_samples": n,
        "latent_dim": d,
        "rows_per_chunk": rows_per_chunk,
        "model": attrs.get("model"),
    }
    return PcaPlan(
        latents, group[Z], config.split, values, counts, rows_per_chunk, k, batch_rows, store
    )


def chunk_task(plan: PcaPlan, index: int) -> tuple:
    """What reading chunk `index` needs: the array, url, rows and the split's row mask (None:
    every row), small enough to travel with a Dask-on-Ray task."""
    start, stop = chunk_rows(index, plan.z.shape[0], plan.rows_per_chunk)
    keep = None
    if plan.split_values is not None:
        keep = plan.split_values[start:stop] == SPLIT_CODES[plan.split]
    return plan.z, plan.latents, start, stop, keep


def read_selected(z: zarr.Array, url: str, start: int, stop: int, keep) -> np.ndarray:
    """Rows `start:stop` of the store (`read_rows`), those of `keep` only: float32 `[m, D]`."""
    block = read_rows(z, url, start, stop)
    return block if keep is None else block[keep]


def selected_rows(plan: PcaPlan, index: int) -> np.ndarray:
    """The split's rows of store chunk `index`."""
    return read_selected(*chunk_task(plan, index))


def selected_blocks(plan: PcaPlan) -> Iterator[np.ndarray]:
    """Each chunk's selected rows in store order, the next chunk read while one is used."""
    chunks = [i for i, count in enumerate(plan.chunk_counts) if count]
    with ThreadPoolExecutor(max_workers=1) as reader:
        pending = reader.submit(selected_rows, plan, chunks[0]) if chunks else None
        for position in range(len(chunks)):
            block = pending.result()
            if position + 1 < len(chunks):
                pending = reader.submit(selected_rows, plan, chunks[position + 1])
            yield block


def fit_incremental(plan: PcaPlan, progress: Progress) -> PrincipalComponents:
    """One pass: batches of `batch_rows` rows through `IncrementalPCA.partial_fit`."""
    fit = IncrementalComponents(plan.components)
    with progress.bar(plan.rows, "[pca] incremental", "rows") as bar:
        for batch in rebatch(selected_blocks(plan), plan.batch_rows, plan.components):
            fit.update(batch)
            bar.update(len(batch))
    return fit.result()


def fit_randomized(
    plan: PcaPlan, config: PcaConfig, progress: Progress, address: str | None
) -> PrincipalComponents:
    """The streamed mean and total variance, then Dask's `svd_compressed` of the centred
    rows (chunked like the store; never one `[rows, D]` array)."""
    import dask
    import dask.array as da

    from lsf.stats.graph import scheduler_for

    progress.log("[pca] pass 1/2: mean and total variance")
    moments = None
    with progress.bar(plan.rows, "[pca] moments", "rows") as bar:
        for block in selected_blocks(plan):
            part = column_variance(block)
            moments = part if moments is None else combine_variance(moments, part)
            bar.update(len(block))
    reads = 2 * config.power_iterations + 2
    progress.log(f"[pca] pass 2/2: randomized SVD ({reads} reads of the rows)")
    d = plan.latent_dim
    parts = [
        da.from_delayed(
            dask.delayed(read_selected, pure=True)(*chunk_task(plan, index)),
            shape=(count, d),
            dtype=np.float32,
        )
        for index, count in enumerate(plan.chunk_counts)
        if count
    ]
    centred = da.concatenate(parts, axis=0).astype(np.float64) - moments["mean"]
    with dask.config.set(scheduler=scheduler_for(address)):
        _, s, v = da.linalg.svd_compressed(
            centred,
            plan.components,
            n_power_iter=config.power_iterations,
            n_oversamples=config.oversamples,
            seed=config.seed,
            compute=True,  # persist each stage: the rows are read again, never held whole
            coerce_signs=False,  # it would compute U ([rows, K]); `from_svd` fixes the signs
        )
        s, v = dask.compute(s, v)
    return from_svd(moments, s, v, plan.rows)


def write_pca(out: str, result: PrincipalComponents, info: dict) -> None:
    """DIR/pca.zarr (arrays with dimension names) and DIR/pca.json (`info` and the scalars)."""
    group = zarr.open_group(zarr_location(join(out, ARRAYS)), mode="w", zarr_format=3)
    arrays = {
        "mean": (result.mean, ("component",)),
        "components": (result.components, ("pc", "component")),
        "explained_variance": (result.explained_variance, ("pc",)),
        "explained_variance_ratio": (result.explained_variance_ratio, ("pc",)),
    }
    for name, (values, dims) in arrays.items():
        array = group.create_array(
            name, shape=values.shape, dtype=values.dtype, dimension_names=dims
        )
        array[...] = values
    ratio = result.explained_variance_ratio
    summary = {
        **info,
        "rows": result.rows,
        "latent_dim": int(result.components.shape[1]),
        "components": int(result.components.shape[0]),
        "total_variance": result.total_variance,
        "explained_variance": result.explained_variance.tolist(),
        "explained_variance_ratio": ratio.tolist(),
        "cumulative_explained_variance_ratio": float(ratio.sum()),
        "lsf_version": __version__,
    }
    write_json_atomic(join(out, SUMMARY), summary)


def read_pca(out: str) -> tuple[PrincipalComponents, dict]:
    """The result written by `lsf pca` and its pca.json."""
    if not is_complete(out):
        raise LsfError(f"no lsf pca output at {out}; run `lsf pca` first")
    info = read_json(join(out, SUMMARY))
    group = zarr.open_group(zarr_location(join(out, ARRAYS)), mode="r")
    result = PrincipalComponents(
        mean=group["mean"][...],
        components=group["components"][...],
        explained_variance=group["explained_variance"][...],
        explained_variance_ratio=group["explained_variance_ratio"][...],
        total_variance=float(info["total_variance"]),
        rows=int(info["rows"]),
    )
    return result, info


@locks_output("out")
def pca(
    config: PcaConfig,
    plan: PcaPlan,
    out: str,
    *,
    overwrite: bool = False,
    address: str | None = None,
    progress: Progress = TERMINAL,
) -> PcaSummary:
    """Fit the top `plan.components` components of the planned rows and write them to `out`."""
    started = time.perf_counter()
    with atomic_output_dir(out, overwrite=overwrite) as tmp:
        progress.log(
            f"[pca] {plan.components} components of {plan.rows} rows x {plan.latent_dim} "
            f"({plan.split}), {config.method}"
        )
        # one BLAS thread by default: on a shared 2-core machine a 69 x 512 SVD took 0.5 s
        # with two spinning OpenBLAS threads and 0.02 s with one (as in analyze, generate)
        with threadpool_limits(limits=config.blas_threads or None, user_api="blas"):
            if config.method == "incremental":
                result = fit_incremental(plan, progress)
            else:
                result = fit_randomized(plan, config, progress, address)
        info = {
            "method": config.method,
            "split": plan.split,
            "store": plan.store,
            "batch_rows": plan.batch_rows if config.method == "incremental" else None,
            "power_iterations": config.power_iterations if config.method == "randomized" else None,
            "oversamples": config.oversamples if config.method == "randomized" else None,
            "seed": config.seed if config.method == "randomized" else None,
        }
        write_pca(tmp, result, info)
    return PcaSummary(out, result, config.method, plan.split, time.perf_counter() - started)
