"""`lsf analyze`: every statistic of the latent store in five streaming passes with Dask.

Each pass is one function returning a small result type, and `Analysis` nests them:
1. `moments_pass`: moments (count, mean, min, max, covariance, correlation) + a seeded row
   sample for the robust histogram ranges; 2. `fits_pass`: per-component histograms ->
   Gaussian fits; 3. `trimming_pass`: trimming counts for all facts + moments of the
   trimmed (or sampled) set -> exact PCA; 4. `pca_pass`: PCA-coordinate histograms, the
   correlation matrix in PCA coordinates and the squared Mahalanobis distances on a fixed
   grid (`normality`); 5. 2D histograms, ellipse coverage and shape scores of component
   pairs (`pair_analysis`), streamed block by block into a `PairSink`.
Each pass maps a pure per-chunk function over the Zarr chunks and tree-reduces the partial
results (`lsf.stats.graph`); the scheduler is Dask's threads locally or Ray (Dask-on-Ray)
with `--address`. Run: `lsf analyze --latents work/latents.zarr --out work/analysis`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import dask
import numpy as np

from lsf.core.checkpoints import run_pass
from lsf.core.config import AnalyzeConfig
from lsf.core.errors import LsfError
from lsf.core.progress import TERMINAL, Progress
from lsf.stats.fits import GaussianFits, dominant_components, fit_histograms
from lsf.stats.graph import add, concatenate, map_reduce, map_reduce_rows, row_starts
from lsf.stats.histograms import chunk_histograms, combine_histograms, robust_edges
from lsf.stats.moments import Moments, chunk_moments, combine_moments, finish_moments
from lsf.stats.normality import (
    Coverage,
    Mardia,
    chunk_d2_histogram,
    combine_d2_histograms,
    coverage_radii,
    d2_grid_top,
    mardia,
    squared_mahalanobis,
    streamed_normality,
    whitening,
)
from lsf.stats.pair_analysis import MemorySink, PairResults, PairSink, analyse_pairs
from lsf.stats.pca import PCA, VARIANCE_TARGETS, pca_from_covariance, project
from lsf.stats.trimming import chunk_survivors, trim_radius


@dataclass
class Fits:
    edges: np.ndarray  # [D, B+1]
    hist: dict  # counts [D, B], under [D], over [D]
    gaussians: GaussianFits
    dominant: np.ndarray


@dataclass
class Trimming:
    facts: np.ndarray
    survivors: np.ndarray  # per fact


@dataclass
class PcaResult:
    model: PCA
    basis: str  # which rows the basis was computed on
    rows: int
    moments: Moments  # moments of the basis rows in PCA coordinates
    hist_edges: np.ndarray
    hist: dict
    fits: GaussianFits


@dataclass
class Normality:
    dof: int
    qq: tuple[np.ndarray, np.ndarray]  # chi2 quantiles, observed d^2 quantiles
    coverage: Coverage
    mardia: Mardia


@dataclass
class Analysis:
    n_samples: int
    latent_dim: int
    moments: Moments
    fits: Fits
    trimming: Trimming
    pca: PcaResult
    normality: Normality
    pairs: list[PairResults]  # per coordinate system
    seconds: float


@dataclass
class Chunks:
    """The store's row chunks (delayed blocks and their first rows) and how a pass runs."""

    blocks: list
    starts: np.ndarray
    scheduler: object
    run: object  # run(name, label, compute) -> the pass's reduced value, maybe resumed

    def compute(self, *graphs):
        return dask.compute(*graphs, scheduler=self.scheduler)


# ---- per-chunk steps with row selections --------------------------------------------------


def _sample_rows(x: np.ndarray, start: int, rows: np.ndarray) -> np.ndarray:
    picked = x[rows[(rows >= start) & (rows < start + len(x))] - start]
    return picked[np.isfinite(picked).all(axis=1)]


def _basis_mask(x, start, mu, fwhm, fact, rows) -> np.ndarray:
    """Rows of the PCA basis: trimmed by `fact` (None: all) and/or within the row subset."""
    mask = np.ones(len(x), dtype=bool)
    if fact is not None:
        mask &= trim_radius(x, mu, fwhm) < fact
    if rows is not None:
        chosen = rows[(rows >= start) & (rows < start + len(x))] - start
        selected = np.zeros(len(x), dtype=bool)
        selected[chosen] = True
        mask &= selected
    return mask


def _basis_moments(x, start, shift, mu, fwhm, fact, rows) -> dict:
    return chunk_moments(x, shift, _basis_mask(x, start, mu, fwhm, fact, rows))


def _pca_chunk(x, start, pca, edges, mu, fwhm, fact, rows, white, top, radii) -> dict:
    finite = np.isfinite(x).all(axis=1)
    scores = project(x[finite], pca.mean, pca.components)
    basis = _basis_mask(x, start, mu, fwhm, fact, rows)[finite]
    return {
        "moments": chunk_moments(scores[basis], np.zeros(scores.shape[1])),
        "hist": chunk_histograms(scores, edges),
        "d2": chunk_d2_histogram(x, pca.mean, white, top, radii),
    }


def _combine_pca_chunks(a: dict, b: dict) -> dict:
    return {
        "moments": combine_moments(a["moments"], b["moments"]),
        "hist": combine_histograms(a["hist"], b["hist"]),
        "d2": combine_d2_histograms(a["d2"], b["d2"]),
    }


# ---- the passes ---------------------------------------------------------------------------


def row_selections(n: int, config: AnalyzeConfig) -> tuple[np.ndarray, np.ndarray | None]:
    """The seeded rows of the histogram-range sample and of the optional PCA subset."""
    rng = np.random.default_rng(config.seed)
    sample_rows = np.sort(rng.choice(n, size=min(n, config.sample_rows), replace=False))
    pca_rows = None
    if config.pca_sample is not None:
        pca_rows = np.sort(rng.choice(n, size=min(n, config.pca_sample), replace=False))
    return sample_rows, pca_rows


def moments_pass(chunks: Chunks, n: int, shift, sample_rows) -> tuple[Moments, np.ndarray]:
    """Pass 1: moments of every finite row and the finite rows of the sample."""
    sums, sample = chunks.run(
        "pass1",
        "pass 1/5: moments and a row sample",
        lambda: chunks.compute(
            map_reduce(chunks.blocks, chunk_moments, combine_moments, shift),
            map_reduce_rows(chunks.blocks, chunks.starts, _sample_rows, concatenate, sample_rows),
        ),
    )
    if sums["count"] < 2:
        raise LsfError(f"fewer than 2 finite latent rows (of {n}); nothing to analyse")
    return finish_moments(sums, shift), sample


def fits_pass(chunks: Chunks, sample, config: AnalyzeConfig) -> Fits:
    """Pass 2: per-component histograms on robust edges, their Gaussian fits."""
    edges = robust_edges(sample, config.bins, config.bin_width)
    (hist,) = chunks.run(
        "pass2",
        "pass 2/5: per-component histograms",
        lambda: chunks.compute(
            map_reduce(chunks.blocks, chunk_histograms, combine_histograms, edges)
        ),
    )
    gaussians = fit_histograms(edges, hist["counts"])
    dominant = dominant_components(
        gaussians, config.dominant_mu_sigmas, config.dominant_fwhm_factor
    )
    return Fits(edges, hist, gaussians, dominant)


def trimming_pass(chunks: Chunks, fits: Fits, config, shift, pca_rows) -> tuple:
    """Pass 3: survivors of every fact, moments of the PCA basis rows -> `(Trimming, basis
    Moments, basis description)`."""
    facts = np.asarray(config.facts, dtype=np.float64)
    mu, fwhm, fact = fits.gaussians.mu, fits.gaussians.fwhm, config.trim_fact
    survivors, sums = chunks.run(
        "pass3",
        "pass 3/5: trimming and the PCA basis",
        lambda: chunks.compute(
            map_reduce(chunks.blocks, chunk_survivors, add, mu, fwhm, facts),
            map_reduce_rows(
                chunks.blocks,
                chunks.starts,
                _basis_moments,
                combine_moments,
                shift,
                mu,
                fwhm,
                fact,
                pca_rows,
            ),
        ),
    )
    if survivors.max() == 0:
        raise LsfError(f"every fact in {list(facts)} removes every point; use larger facts")
    if sums["count"] < 2:
        raise LsfError(f"trim_fact {fact} leaves {sums['count']} points; choose a larger trim_fact")
    name = "full" if fact is None else f"trimmed fact {fact}"
    if pca_rows is not None:
        name += f", random {len(pca_rows)} rows"
    return Trimming(facts, survivors), finish_moments(sums, shift), name


def pca_pass(chunks: Chunks, sample, basis: Moments, name, fits: Fits, config, pca_rows):
    """Pass 4: the PCA of the basis rows, histograms and moments in PCA coordinates, d^2 on
    a fixed grid -> `(PcaResult, (d2 counts, grid top))`."""
    pca = pca_from_covariance(basis.mean, basis.cov)
    white = whitening(pca)
    edges = robust_edges(project(sample, pca.mean, pca.components), config.bins)
    top = d2_grid_top(squared_mahalanobis(sample, pca.mean, white), pca.rank)
    radii = coverage_radii(pca.rank)
    mu, fwhm = fits.gaussians.mu, fits.gaussians.fwhm
    (sums,) = chunks.run(
        "pass4",
        "pass 4/5: PCA coordinates and Mahalanobis distances",
        lambda: chunks.compute(
            map_reduce_rows(
                chunks.blocks,
                chunks.starts,
                _pca_chunk,
                _combine_pca_chunks,
                pca,
                edges,
                mu,
                fwhm,
                config.trim_fact,
                pca_rows,
                white,
                top,
                radii,
            )
        ),
    )
    d = len(basis.mean)
    result = PcaResult(
        model=pca,
        basis=name,
        rows=basis.count,
        moments=finish_moments(sums["moments"], np.zeros(d)),
        hist_edges=edges,
        hist=sums["hist"],
        fits=fit_histograms(edges, sums["hist"]["counts"]),
    )
    return result, (sums["d2"], top)


def normality_of(d2_grid, dof: int, sample, config: AnalyzeConfig) -> Normality:
    """QQ table and chi2 coverage from the d^2 grid; Mardia's tests on a seeded subsample."""
    counts, top = d2_grid
    qq, cover = streamed_normality(counts, top, dof)
    order = np.random.default_rng(config.seed + 1).permutation(len(sample))
    rows = sample[np.sort(order[: config.mardia_sample])]
    return Normality(dof=dof, qq=qq, coverage=cover, mardia=mardia(rows))


def analyze_latents(
    z,
    config: AnalyzeConfig,
    *,
    scheduler="threads",
    progress: Progress = TERMINAL,
    checkpoints=None,
    sink: PairSink | None = None,
) -> Analysis:
    """All statistics of a lazy Dask array `z [n, D]` (chunked by rows). With `checkpoints`
    (a `PassCheckpoints`), each finished pass is saved and a rerun resumes after it; pair
    counts go to `sink` block by block (default: kept in memory)."""
    started = time.perf_counter()
    n, d = z.shape
    blocks = list(z.to_delayed().ravel())

    def run(name, label, compute):
        return run_pass(checkpoints, name, compute, log=progress.log, label=f"[analyze] {label}")

    chunks = Chunks(blocks, row_starts(z.chunks[0]), scheduler, run)
    sample_rows, pca_rows = row_selections(n, config)
    first = np.asarray(blocks[0].compute(scheduler="sync"))
    first = first[np.isfinite(first).all(axis=1)]
    shift = first.mean(axis=0).astype(np.float64) if len(first) else np.zeros(d)

    moments, sample = moments_pass(chunks, n, shift, sample_rows)
    fits = fits_pass(chunks, sample, config)
    trimming, basis, name = trimming_pass(chunks, fits, config, shift, pca_rows)
    pca, d2_grid = pca_pass(chunks, sample, basis, name, fits, config, pca_rows)
    normality = normality_of(d2_grid, pca.model.rank, sample, config)
    progress.log("[analyze] pass 5/5: 2D densities of component pairs")
    pairs = analyse_pairs(
        chunks, sample, config, basis, moments, pca.model, sink or MemorySink(), progress.log
    )
    return Analysis(
        n_samples=n,
        latent_dim=d,
        moments=moments,
        fits=fits,
        trimming=trimming,
        pca=pca,
        normality=normality,
        pairs=pairs,
        seconds=time.perf_counter() - started,
    )


def max_off_diagonal(matrix: np.ndarray) -> float:
    off = matrix - np.diag(np.diag(matrix))
    return float(np.nanmax(np.abs(off)))


def summary_of(result: Analysis) -> dict:
    """Headline numbers (the content of summary.json)."""
    m, pca, fits = result.moments, result.pca.model, result.fits.gaussians
    normality, pca_corr = result.normality, result.pca.moments.corr
    return {
        "n_samples": result.n_samples,
        "latent_dim": result.latent_dim,
        "finite_rows": m.count,
        "non_finite_rows": m.non_finite_rows,
        "max_abs_correlation": max_off_diagonal(m.corr),
        "fits": {
            "fitted": int(fits.ok.sum()),
            "not_fitted": np.flatnonzero(~fits.ok).tolist(),
            "median_sigma": float(np.nanmedian(fits.sigma)),
            "median_fwhm": float(np.nanmedian(fits.fwhm)),
            "dominant_components": np.flatnonzero(result.fits.dominant).tolist(),
        },
        "trimming": {
            f"{fact:g}": {"survivors": int(s), "fraction": float(s) / max(m.count, 1)}
            for fact, s in zip(result.trimming.facts, result.trimming.survivors, strict=True)
        },
        "pca": {
            "basis": result.pca.basis,
            "rows": result.pca.rows,
            "rank": pca.rank,
            "components_for": {f"{t:g}": pca.components_for(t) for t in VARIANCE_TARGETS},
            "explained_variance_ratio_first_10": pca.explained_variance_ratio[:10].tolist(),
            "max_abs_off_diagonal_correlation": max_off_diagonal(pca_corr),
            "max_abs_diagonal_minus_one": float(np.nanmax(np.abs(np.diag(pca_corr) - 1))),
        },
        "normality": {
            "dof": normality.dof,
            "coverage": {
                f"{level:g}": {"radius_squared": float(r), "observed": float(o)}
                for level, r, o in zip(
                    normality.coverage.levels,
                    normality.coverage.radii_squared,
                    normality.coverage.observed,
                    strict=True,
                )
            },
            "mardia": asdict(normality.mardia),
        },
        "seconds": result.seconds,
    }
