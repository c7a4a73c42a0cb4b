"""`lsf analyze`: every statistic of the latent store's selected rows in three reads of
the store, streamed with Dask.

The rows are those of `config.split` (the store's `split` array; all rows by default). Each
read maps pure per-chunk steps (`lsf.stats.chunk_steps`) over the Zarr chunks and
tree-reduces their partial results (`lsf.stats.graph`):
1. moments (count, mean, min, max, covariance, correlation), a seeded row sample for the
   robust ranges and the per-component histograms on a fine provisional grid, re-binned to
   the robust range afterwards (`lsf.stats.provisional`) -> Gaussian fits;
2. trimming: survivors of every fact, every fact's survivor moments (one covariance per
   shell of trim radius, summed cumulatively), the PCA basis (the `trim_fact` survivors or
   the `pca_sample` of them with the smallest seeded row keys) and the rows of largest trim
   radius -> exact PCA;
3. projection: PCA-coordinate histograms, moments and d^2 grids of the basis rows
   (`pca_rows: basis`, or all rows), the rows of largest and most typical d^2, the fact
   sweep (core ellipses and 2D counts of the first components' pairs per fact) - computed
   together with the first wave of the pair pass (2D histograms, ellipse coverage and shape
   scores, `lsf.stats.pair_analysis`), whose further waves read the store again only as the
   memory budget `task_memory_mb` requires. With `regions` (the default) the same read labels
   every row of the store with its region and sums each region's moments; the regions are
   fitted on the row sample between reads 2 and 3 (`lsf.stats.regions_pass`).
Rarely one more read: when the robust range exceeds the provisional grid, or when the PCA
sample's key band misses its threshold (both logged and listed in `reads`).
The scheduler is Dask's threads locally or Ray (Dask-on-Ray) with `--address`.
Run: `lsf analyze --latents work/latents.zarr --out work/analysis`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from lsf.core import preflight
from lsf.core.checkpoints import run_pass
from lsf.core.config import AnalyzeConfig
from lsf.core.errors import LsfError
from lsf.core.progress import TERMINAL, Progress
from lsf.stats.chunk_steps import (
    BasisRows,
    ProjectionPlan,
    SweepPlan,
    TrimPlan,
    combine_projection,
    combine_trim,
    concatenate_dicts,
    limited_moments,
    pair_scores,
    projected_chunk,
    projection_step,
    sample_step,
    split_indices,
    split_rows,
    trim_step,
    with_plan,
)
from lsf.stats.extremes import nearest
from lsf.stats.fact_sweep import (
    axis_angles,
    core_alignment_angles,
    core_ellipses,
    fact_moments_of,
    fact_pcas,
    sweep_pairs,
    sweep_summary,
)
from lsf.stats.fits import fit_histograms, select_dominant
from lsf.stats.graph import (
    chain_reduce,
    compute_graphs,
    compute_here,
    map_chunks,
    map_reduce,
    map_reduce_rows,
    row_blocks,
    row_starts,
    task,
    tree_reduce,
)
from lsf.stats.histograms import chunk_histograms, combine_histograms, edges_of, robust_range
from lsf.stats.moments import chunk_moments, combine_moments, finish_moments
from lsf.stats.normality import (
    coverage_radii,
    d2_grid_top,
    histogram_quantiles,
    mardia,
    streamed_normality,
)
from lsf.stats.origin import origin_measures
from lsf.stats.pair_analysis import MemorySink, PairSink, analyse_pairs, pair_systems
from lsf.stats.pca import PCA, pca_from_covariance, project
from lsf.stats.provisional import provisional_grid, rebin, snap_edges
from lsf.stats.quadratic import projected_covariance
from lsf.stats.region_results import finish_regions
from lsf.stats.regions_pass import (
    check_settings,
    projected_and_labelled,
    regions_graph,
    regions_of,
    with_regions,
)
from lsf.stats.results import (
    Analysis,
    Basis,
    FactSweep,
    Fits,
    Normality,
    Outliers,
    PcaResult,
    Selection,
    Trimming,
)
from lsf.stats.selection import key_band
from lsf.stats.trimming import fact_moment_sums, trim_radius

SPLIT_CODES = {"all": None, "train": 0, "validation": 1, "test": 2}


@dataclass
class Chunks:
    """The selected rows of the store's chunks (delayed blocks, their store row indices) and
    how a pass runs; `reads` names every computation that read the store."""

    blocks: list
    rows: list
    scheduler: object
    checkpoints: object
    log: object
    reads: list = field(default_factory=list)
    raw: list = field(default_factory=list)  # every row of the store's chunks (regions pass)
    parts: list = field(default_factory=list)  # their split blocks (None: no split array)
    starts: list = field(default_factory=list)  # their first store rows
    warnings: list = field(default_factory=list)  # summary.json `warnings`, logged as found

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        self.log(f"[analyze] warning: {message}")

    def compute(self, label: str, *graphs):
        """One read of the store (BLAS single-threaded: see `analyze_latents`)."""
        self.reads.append(label)
        return compute_graphs(*graphs, scheduler=self.scheduler)

    def run(self, name: str, label: str, compute):
        """A pass's reduced value, resumed from a checkpoint when an earlier run saved it."""
        return run_pass(self.checkpoints, name, compute, log=self.log, label=f"[analyze] {label}")


def selected_chunks(z, split, config: AnalyzeConfig, scheduler, checkpoints, log) -> Chunks:
    """The delayed blocks of the selected split's rows and their store row indices."""
    code = SPLIT_CODES[config.split]
    if split is None and code not in (None, 0):
        raise LsfError(
            f"split {config.split!r} selects no rows: the store records no split (a store "
            "written before splits holds training rows only); use split: all or train"
        )
    blocks = row_blocks(z)
    starts = [int(s) for s in row_starts(z.chunks[0])]
    sizes = [int(n) for n in z.chunks[0]]
    parts = row_blocks(split) if split is not None else [None] * len(blocks)
    raw = {"raw": blocks, "parts": parts, "starts": starts}
    if code is None:
        stops = [s + n for s, n in zip(starts, sizes, strict=True)]
        rows = map_chunks(np.arange, starts, stops)
        return Chunks(blocks, rows, scheduler, checkpoints, log, **raw)
    chosen = map_chunks(split_rows, blocks, parts, args=(code,))
    rows = map_chunks(split_indices, starts, sizes, parts, args=(code,))
    return Chunks(chosen, rows, scheduler, checkpoints, log, **raw)


# ---- the passes ---------------------------------------------------------------------------


def sample_rows_of(n: int, config: AnalyzeConfig) -> np.ndarray:
    """The seeded store rows of the histogram-range sample (those of the split are used)."""
    rng = np.random.default_rng(config.seed)
    return np.sort(rng.choice(n, size=min(n, config.sample_rows), replace=False))


def moments_pass(chunks: Chunks, n: int, shift, sample_rows, fine) -> tuple[dict, dict, dict]:
    """Read 1: moment sums of every finite selected row, the selected rows of the sample and
    the histograms on the provisional `fine` grid (None: none)."""
    graphs = [
        map_reduce(chunks.blocks, chunk_moments, combine_moments, shift),
        map_reduce_rows(chunks.blocks, chunks.rows, sample_step, concatenate_dicts, sample_rows),
    ]
    if fine is not None:
        graphs.append(map_reduce(chunks.blocks, chunk_histograms, combine_histograms, fine))
    values = chunks.run(
        "read1",
        "pass 1/3: moments, a row sample and histograms on a provisional grid",
        lambda: chunks.compute("moments, row sample and histograms", *graphs),
    )
    sums, sample = values[0], values[1]
    if sums["count"] < 2:
        raise LsfError(f"fewer than 2 finite latent rows (of {n} selected); nothing to analyse")
    return sums, sample, values[2] if fine is not None else None


def fits_pass(chunks: Chunks, span, config: AnalyzeConfig, fine, fine_hist) -> Fits:
    """Per-component histograms on the robust range, re-binned from the provisional grid of
    read 1 (or, when the range does not fit in it, counted in a read of their own), and
    their Gaussian fits."""
    snapped = None if fine is None else snap_edges(fine, span, config.bins, config.bin_width)
    if snapped is not None:
        edges, index = snapped
        hist = rebin(fine_hist, index)
    else:
        edges = edges_of(span, config.bins, config.bin_width)
        (hist,) = chunks.run(
            "read1-histograms",
            "histograms: the robust range exceeds the provisional grid, one more read",
            lambda: chunks.compute(
                "histograms",
                map_reduce(chunks.blocks, chunk_histograms, combine_histograms, edges),
            ),
        )
    gaussians = fit_histograms(edges, hist["counts"])
    dominant = select_dominant(
        gaussians,
        config.dominant_rule,
        mu_sigmas=config.dominant_mu_sigmas,
        fwhm_factor=config.dominant_fwhm_factor,
        min_abs_mu=config.dominant_min_abs_mu,
        min_half_width=config.dominant_min_half_width,
    )
    return Fits(edges, hist, gaussians, dominant)


def trim_plan(config: AnalyzeConfig, fits: Fits, sample: dict, selected: int) -> TrimPlan:
    """Shell boundaries (the facts and the basis fact) and the PCA sample's key band,
    estimated from the survivors among the row sample."""
    facts = np.asarray(config.facts, dtype=np.float64)
    if (np.diff(facts) <= 0).any():
        raise LsfError(f"facts must be strictly ascending, got {config.facts}")
    limit = math.inf if config.trim_fact is None else float(config.trim_fact)
    shells = np.unique(np.concatenate([facts, [limit] if limit < math.inf else []]))
    band = None
    if config.pca_sample is not None:
        radius = trim_radius(sample["x"], fits.gaussians.mu, fits.gaussians.fwhm)
        fraction = float((radius < limit).mean()) if len(radius) else 1.0
        band = key_band(config.pca_sample, fraction * selected, len(radius), fraction)
    return TrimPlan(facts, shells, limit, config.pca_sample, band, config.seed, config.outliers)


def fact_moments(plan: TrimPlan, shells: list, shift) -> list:
    """Moments of the survivors of every configured fact (None: fewer than 2 survivors)."""
    cumulative = fact_moment_sums(shells)
    out = []
    for fact in plan.facts:
        sums = cumulative[int(np.searchsorted(plan.shells, fact))]
        out.append(finish_moments(sums, shift) if sums["count"] >= 2 else None)
    return out


def trimming_pass(chunks: Chunks, fits: Fits, config, shift, sample, full_sums) -> tuple:
    """Read 2: survivors and survivor moments of every fact, the PCA basis moments and the
    rows of largest trim radius -> `(Trimming, Basis)`."""
    mu, fwhm = fits.gaussians.mu, fits.gaussians.fwhm
    plan = trim_plan(config, fits, sample, full_sums["count"])
    (sums,) = chunks.run(
        "read2",
        "pass 2/3: trimming, every fact's survivor moments and the PCA basis",
        lambda: chunks.compute(
            "trimming and PCA basis",
            map_reduce_rows(
                chunks.blocks,
                chunks.rows,
                trim_step,
                with_plan(combine_trim, plan),
                mu,
                fwhm,
                shift,
                plan,
                reduce=chain_reduce,
            ),
        ),
    )
    if sums["survivors"].max() == 0:
        facts = ", ".join(f"{f:g}" for f in plan.facts)
        chunks.warn(
            f"every trimming fact ({facts}) removes every row: the per-component Gaussian "
            "fits do not describe these latents (several regions?); no fact moments"
        )
    trimming = Trimming(
        plan.facts, sums["survivors"], fact_moments(plan, sums["shells"], shift), sums["top_trim"]
    )
    min_rows = math.ceil(config.min_rows_per_dim * len(shift))
    return trimming, basis_of(chunks, plan, sums, fits, shift, full_sums, min_rows)


def basis_of(chunks, plan: TrimPlan, sums: dict, fits: Fits, shift, full_sums, min_rows) -> Basis:
    """The PCA basis: every survivor of the basis fact, or the `pca_sample` of them with the
    smallest row keys (from the key band of read 2, or one more read if the band missed).
    When the basis fact keeps fewer than `min_rows` rows (and all rows are more), the basis
    falls back to all rows, with a warning; a basis below `min_rows` warns."""
    cumulative = fact_moment_sums(sums["shells"])
    bound = plan.bound
    if bound < math.inf:
        survivor_sums = cumulative[int(np.searchsorted(plan.shells, bound))]
        name = f"fact {bound:g} survivors"
        kept = int(survivor_sums["count"])
        if kept < min_rows and full_sums["count"] > kept:
            chunks.warn(
                f"trim_fact {bound:g} keeps {kept} of {full_sums['count']} rows, fewer than "
                f"the minimum {min_rows} (min_rows_per_dim x D): the PCA basis falls back to "
                "all rows (the latents are not one Gaussian per component)"
            )
            name = f"all rows (fact {bound:g} kept {kept})"
            survivor_sums, bound = full_sums, math.inf
            plan = dataclasses.replace(plan, bound=math.inf, sample=None)
    else:
        survivor_sums, name = full_sums, "all rows"
    survivors = int(survivor_sums["count"])
    rows = BasisRows(fits.gaussians.mu, fits.gaussians.fwhm, bound, None, plan.seed)
    basis_sums, extra = survivor_sums, False
    if plan.sample is not None and survivors > 0:
        keys = sums["keys"]
        rows.key_limit = int(keys[-1])
        basis_sums, extra = _sample_sums(chunks, plan, sums, rows, shift)
        name += f", random {len(keys)} of {survivors}"
    if basis_sums["count"] < 2:
        raise LsfError(
            f"trim_fact {plan.bound:g} leaves {basis_sums['count']} points; choose a larger "
            "trim_fact"
        )
    if basis_sums["count"] < min_rows:
        chunks.warn(
            f"the PCA basis rests on {basis_sums['count']} rows, fewer than the minimum "
            f"{min_rows} (min_rows_per_dim x D, D = {len(shift)}): its later components, the "
            "PCA-coordinate statistics and the normality tests are not reliable"
        )
    return Basis(finish_moments(basis_sums, shift), name, rows, survivors, extra)


def _sample_sums(chunks: Chunks, plan: TrimPlan, sums: dict, rows: BasisRows, shift):
    """Moment sums of the PCA sample: those below the key band plus the band's rows up to
    the sample's largest key; a band that missed costs one more read (logged)."""
    limit, count = np.uint64(rows.key_limit), len(sums["keys"])
    low, band = sums["low"], sums["band"]
    hit = low["count"] <= count and (plan.band.high is None or limit < np.uint64(plan.band.high))
    if hit:
        picked = band["x"][band["keys"] <= limit]
        total = combine_moments(low, chunk_moments(picked, shift, higher=False))
        if total["count"] == count:
            return total, False
    chunks.log("[analyze] the PCA sample's key band missed its threshold: one more read")
    (total,) = chunks.compute(
        "PCA sample (key band missed)",
        map_reduce_rows(chunks.blocks, chunks.rows, limited_moments, combine_moments, rows, shift),
    )
    return total, True


def sweep_plan(trimming: Trimming, pca: PCA, span, config: AnalyzeConfig) -> SweepPlan:
    """The sweep pairs among the first `sweep_components` basis PCA components, each fact's
    1-sigma core ellipse of them (from the fact moments) and their 2D grids."""
    pairs = sweep_pairs(max(2, min(config.sweep_components, len(pca.mean))))
    ellipses = core_ellipses(
        fact_moments_of(trimming.fact_moments, trimming.survivors, len(pca.mean)),
        pca.mean,
        pca.components,
        pairs,
    )
    edges = edges_of(span, config.pair_bins)
    return SweepPlan(
        trimming.facts, pairs, ellipses, np.stack([edges[pairs[:, 0]], edges[pairs[:, 1]]], 1)
    )


def fact_sweep_of(sweep: SweepPlan, trimming, pca: PCA, sums: dict, config, rows: int):
    """Fact PCAs, axis angles, core alignment angles and the summary block."""
    pcas = fact_pcas(fact_moments_of(trimming.fact_moments, trimming.survivors, len(pca.mean)))
    k = len(np.unique(sweep.pairs))
    angles = axis_angles(pcas, pca.components, k)
    core = core_alignment_angles(sums["core"])
    return FactSweep(
        pairs=sweep.pairs,
        explained_variance_ratio=np.stack([p.explained_variance_ratio for p in pcas]),
        axis_angles=angles,
        core_alignment=core,
        pair_edges=sweep.edges,
        pair_counts=sums["counts"],
        summary=sweep_summary(
            sweep.facts, trimming.survivors, rows, angles, core, sweep.pairs, config.trim_fact
        ),
    )


PROJECT_ROWS = preflight.PROJECT_ROWS  # rows of the sample projected at a time
PROJECT_COMPONENTS = preflight.PROJECT_COMPONENTS  # components projected and ranged at a time


def projected_span(x: np.ndarray, pca: PCA, rows: np.ndarray) -> tuple[tuple, np.ndarray]:
    """`(robust_range of x[rows] in PCA coordinates, every row's squared_distances)`,
    `PROJECT_COMPONENTS` components at a time, each projected `PROJECT_ROWS` rows at a time:
    the scores of every component (1.6 GB at 100,000 x 2,048) and a float64 copy of `x` never
    exist at once. Each component's quantiles are its own and d^2 is a sum over components,
    so the result is that of the whole projection."""
    n, d = x.shape
    d2 = np.zeros(n, dtype=np.float64)
    lo, hi = np.empty(d), np.empty(d)
    for first in range(0, d, PROJECT_COMPONENTS):
        last = min(first + PROJECT_COMPONENTS, d)
        components = pca.components[first:last]
        scores = np.empty((n, last - first), dtype=np.float64)
        kept = max(0, min(last, pca.rank) - first)
        variances = pca.explained_variance[first : first + kept]
        for start in range(0, n, PROJECT_ROWS):
            block = project(x[start : start + PROJECT_ROWS], pca.mean, components)
            scores[start : start + PROJECT_ROWS] = block
            if kept:
                d2[start : start + PROJECT_ROWS] += np.einsum(
                    "ij,ij->i", block[:, :kept], block[:, :kept] / variances
                )
        lo[first:last], hi[first:last] = robust_range(scores[rows])
    return (lo, hi), d2


def projection_plan(basis: Basis, sample: dict, trimming, config: AnalyzeConfig) -> tuple:
    """The PCA of the basis and the projection read's plan -> `(plan, robust range of the
    sample's rows in PCA coordinates, the mask of those rows: basis or all)`."""
    pca = pca_from_covariance(basis.moments.mean, basis.moments.cov)
    use_basis = config.pca_rows == "basis"
    chosen = basis.rows.mask(sample["x"], sample["rows"]) if use_basis else None
    if chosen is None or chosen.sum() < 2:
        chosen = np.ones(len(sample["x"]), dtype=bool)
    span, d2 = projected_span(sample["x"], pca, np.flatnonzero(chosen))
    plan = ProjectionPlan(
        pca=pca,
        basis=basis.rows,
        use_basis=use_basis,
        edges=edges_of(span, config.bins, config.pca_bin_width),
        top=d2_grid_top(d2, pca.rank),
        radii=coverage_radii(pca.rank),
        outliers=config.outliers,
        median=float(np.median(d2)) if len(d2) else 0.0,
        sweep=sweep_plan(trimming, pca, span, config),
    )
    return plan, span, chosen


def projection_and_pairs(chunks, plan, spans, config, basis, full, sink, regions=None):
    """Read 3 (with the first pair wave) and the further pair waves -> `(projection sums,
    pair results)`; a resumed projection pass is not recomputed. With a `RegionsFit`, the
    same read labels every row of the store (`sums["regions"]`)."""
    if regions is None:
        projected = map_chunks(projected_chunk, chunks.blocks, chunks.rows, args=(plan,))
    else:
        # One task per chunk projects and labels it, so no raw block waits in memory for a
        # second consumer (that held every chunk of the store: +50 MiB at 128,000 x 96).
        both = map_chunks(
            projected_and_labelled,
            chunks.blocks,
            chunks.rows,
            chunks.raw,
            chunks.parts,
            chunks.starts,
            args=(plan, regions.plan),
            nout=2,
        )
        projected = [pair[0] for pair in both]
    # A tree, not `chain_reduce`: beside the pair counts' trees over the same chunks, Dask's
    # order lets chained partial sums wait far longer (150 data in memory against 65 at 49
    # chunks in dask.order's diagnostics; a 4.4 GB peak at 200,000 x 2,048 against 3.1).
    graph = tree_reduce(
        map_chunks(projection_step, projected, args=(plan,)), with_plan(combine_projection, plan)
    )
    if regions is not None:
        labelled = regions_graph([pair[1] for pair in both], regions.plan)
        graph = task(with_regions, graph, labelled)
    pca, use_basis = plan.pca, plan.use_basis
    pca_blocks = map_chunks(pair_scores, projected, args=(use_basis,))
    kde = (
        np.diag(pca.explained_variance)
        if use_basis
        else projected_covariance(full.cov, pca.components)
    )
    systems = pair_systems(chunks, pca_blocks, spans, config, basis.moments, full, pca, kde)
    saved = chunks.checkpoints.load("read3") if chunks.checkpoints is not None else None
    label = "pass 3/3: PCA coordinates, Mahalanobis distances, outliers, fact sweep"
    if saved is not None or not systems:
        (sums,) = chunks.run("read3", label, lambda: chunks.compute("projection", graph))
        extra = ()
    else:
        chunks.log(f"[analyze] {label}, with the first wave of 2D densities of component pairs")
        extra = (graph,)
    pairs, values = analyse_pairs(chunks, systems, config, sink, chunks.log, extra=extra)
    if extra:
        sums = values[0]
        if chunks.checkpoints is not None:
            chunks.checkpoints.save("read3", [sums])
    return sums, pairs


def pca_result(plan: ProjectionPlan, basis: Basis, sums: dict) -> PcaResult:
    d = len(basis.moments.mean)
    return PcaResult(
        model=plan.pca,
        basis=basis.name,
        rows=basis.moments.count,
        moments=finish_moments(sums["moments"], np.zeros(d)),
        hist_edges=plan.edges,
        hist=sums["hist"],
        fits=fit_histograms(plan.edges, sums["hist"]["counts"]),
        hist_rows=int(sums["d2"]["n"]),
    )


def normality_of(sums: dict, plan: ProjectionPlan, sample, chosen, config) -> Normality:
    """QQ table and chi2 coverage from the d^2 grid of the basis (or all) rows; Mardia's
    tests on a seeded subsample of the same rows of the row sample."""
    qq, cover = streamed_normality(sums["d2"], plan.top, plan.pca.rank)
    rows = np.flatnonzero(chosen)  # indexed once: a copy of every chosen row is D x 4 bytes each
    order = np.random.default_rng(config.seed + 1).permutation(len(rows))
    picked = sample["x"][rows[np.sort(order[: config.mardia_sample])]]
    return Normality(plan.pca.rank, qq, cover, mardia(picked), int(sums["d2"]["n"]))


def outliers_of(trimming: Trimming, sums: dict, plan: ProjectionPlan) -> Outliers:
    grid = sums["d2_all"]
    median = histogram_quantiles(grid["counts"], plan.top, grid["max"], [0.5])[0]
    typical = nearest(sums["typical"], float(median), plan.outliers)
    return Outliers(
        rows_d2=sums["top_d2"]["rows"],
        d2=sums["top_d2"]["values"],
        rows_trim=trimming.top_radius["rows"],
        trim_radius=trimming.top_radius["values"],
        typical_rows=typical["rows"],
        typical_d2=typical["d2"],
    )


def analyze_latents(
    z,
    config: AnalyzeConfig,
    *,
    split=None,
    scheduler="threads",
    progress: Progress = TERMINAL,
    checkpoints=None,
    sink: PairSink | None = None,
) -> Analysis:
    """All statistics of a lazy Dask array `z [n, D]` (chunked by rows), on the rows of
    `config.split` by the lazy `split [n]` array (None: a store without splits, all train).
    With `checkpoints` (a `PassCheckpoints`), each finished pass is saved and a rerun resumes
    after it; pair counts go to `sink` block by block (default: kept in memory). BLAS runs
    one thread per Dask task and on the driver: a multi-threaded BLAS in every task
    oversubscribes the cores (measured on 2 cores: GEMMs of a chunk 2-10x slower)."""
    with threadpool_limits(limits=1, user_api="blas"):
        return _analyze(z, config, split, scheduler, progress, checkpoints, sink)


def _analyze(z, config, split, scheduler, progress, checkpoints, sink) -> Analysis:
    started = time.perf_counter()
    n, d = z.shape
    check_settings(config, n, d)
    chunks = selected_chunks(z, split, config, scheduler, checkpoints, progress.log)
    first = np.asarray(compute_here(chunks.blocks[0])) if n else np.zeros((0, d))
    first = first[np.isfinite(first).all(axis=1)]
    shift = first.mean(axis=0).astype(np.float64) if len(first) else np.zeros(d)

    fine = provisional_grid(first, config.bin_width)
    full_sums, sample, fine_hist = moments_pass(chunks, n, shift, sample_rows_of(n, config), fine)
    moments = finish_moments(full_sums, shift)
    span = robust_range(sample["x"])
    fits = fits_pass(chunks, span, config, fine, fine_hist)
    trimming, basis = trimming_pass(chunks, fits, config, shift, sample, full_sums)
    plan, pca_span, chosen = projection_plan(basis, sample, trimming, config)
    code = SPLIT_CODES[config.split]
    regions = regions_of(chunks, sample, plan.pca, config, shift, fits, moments, code)
    sums, pairs = projection_and_pairs(
        chunks, plan, (span, pca_span), config, basis, moments, sink or MemorySink(), regions
    )
    pca = pca_result(plan, basis, sums)
    fragmentation, labels = (
        finish_regions(regions, sums["regions"], shift, d) if regions else (None, None)
    )
    selection = Selection(config.split, moments.count + moments.non_finite_rows, n)
    return Analysis(
        n_samples=n,
        latent_dim=d,
        moments=moments,
        fits=fits,
        trimming=trimming,
        pca=pca,
        normality=normality_of(sums, plan, sample, chosen, config),
        pairs=pairs,
        seconds=time.perf_counter() - started,
        selection=selection,
        outliers=outliers_of(trimming, sums, plan),
        origin=origin_measures(
            plan.pca, fits.gaussians.mu, fits.gaussians.fwhm, sums["d2_all"], plan.top
        ),
        sweep=fact_sweep_of(plan.sweep, trimming, plan.pca, sums["sweep"], config, moments.count),
        row_sets=row_sets(selection, moments.count, basis, pca, config),
        reads=list(chunks.reads),
        fragmentation=fragmentation,
        region_labels=labels,
        warnings=chunks.warnings + (fragmentation.warnings if fragmentation else []),
    )


def row_sets(selection: Selection, finite: int, basis: Basis, pca: PcaResult, config) -> dict:
    """Which rows each group of numbers was computed on (summary.json `row_sets`)."""
    rows = f"{selection.split} split" if selection.split != "all" else "all rows"
    every = f"{rows}, {finite} rows"
    pca_set = f"PCA basis ({basis.name}), {pca.hist_rows} rows"
    used = pca_set if config.pca_rows == "basis" else f"{every} (pca_rows: all)"
    return {
        "moments": every,
        "histograms": every,
        "trimming": every,
        "pca_basis": f"PCA basis: {basis.name}, {basis.moments.count} rows",
        "pca_histograms": used,
        "pairs_original": every,
        "pairs_pca": used,
        "normality": used,
    }
