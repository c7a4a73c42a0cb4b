"""`lsf analyze`: every statistic of the latent store in five streaming passes with Dask.

1. moments (count, mean, min, max, covariance, correlation) + a seeded row sample for the
   robust histogram ranges; 2. per-component histograms -> Gaussian fits; 3. trimming counts
   for all facts + moments of the trimmed (or sampled) set -> exact PCA; 4. PCA-coordinate
   histograms, the correlation matrix in PCA coordinates and squared Mahalanobis distances;
   5. 2D histograms, ellipse coverage and shape scores of component pairs (`pair_analysis`).
Each pass maps a pure per-chunk function over the Zarr chunks and tree-reduces the partial
results; the scheduler is Dask's threads locally or Ray (Dask-on-Ray) with `--address`.
Run: `lsf analyze --latents work/latents.zarr --out work/analysis`.
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
from lsf.stats.graph import add, concatenate, map_reduce, tree_reduce
from lsf.stats.histograms import chunk_histograms, combine_histograms, robust_edges
from lsf.stats.moments import Moments, chunk_moments, combine_moments, finish_moments
from lsf.stats.normality import Mardia, coverage, mardia, qq_table, squared_mahalanobis, whitening
from lsf.stats.pair_analysis import analyse_pairs
from lsf.stats.pca import PCA, VARIANCE_TARGETS, pca_from_covariance, project
from lsf.stats.trimming import chunk_survivors, trim_radius


@dataclass
class Analysis:
    n_samples: int
    latent_dim: int
    moments: Moments
    hist_edges: np.ndarray
    hist: dict  # counts [D, B], under [D], over [D]
    fits: GaussianFits
    dominant: np.ndarray
    facts: np.ndarray
    survivors: np.ndarray
    pca_basis: str
    pca_rows: int
    pca: PCA
    pca_moments: Moments  # moments of the PCA basis rows in PCA coordinates
    pca_hist_edges: np.ndarray
    pca_hist: dict
    pca_fits: GaussianFits
    mahalanobis_qq: tuple[np.ndarray, np.ndarray]
    coverage_levels: np.ndarray
    coverage_radii_squared: np.ndarray
    coverage_observed: np.ndarray
    dof: int
    mardia: Mardia
    pairs: list  # PairResults per coordinate system
    seconds: float


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


def _pca_pass(x, start, pca_mean, components, pca_edges, mu, fwhm, fact, rows, white) -> dict:
    finite = np.isfinite(x).all(axis=1)
    scores = project(x[finite], pca_mean, components)
    basis = _basis_mask(x, start, mu, fwhm, fact, rows)[finite]
    return {
        "moments": chunk_moments(scores[basis], np.zeros(scores.shape[1])),
        "hist": chunk_histograms(scores, pca_edges),
        "d2": squared_mahalanobis(x, pca_mean, white),
    }


def _combine_pca_pass(a: dict, b: dict) -> dict:
    return {
        "moments": combine_moments(a["moments"], b["moments"]),
        "hist": combine_histograms(a["hist"], b["hist"]),
        "d2": np.concatenate([a["d2"], b["d2"]]),
    }


def analyze_latents(
    z,
    config: AnalyzeConfig,
    *,
    scheduler="threads",
    progress: Progress = TERMINAL,
    checkpoints=None,
) -> Analysis:
    """All statistics of a lazy Dask array `z [n, D]` (chunked by rows). With `checkpoints`
    (a `PassCheckpoints`), each finished pass is saved and a rerun resumes after it."""
    started = time.perf_counter()
    n, d = z.shape
    blocks = list(z.to_delayed().ravel())
    starts = np.concatenate([[0], np.cumsum(z.chunks[0])[:-1]]).astype(int)
    rng = np.random.default_rng(config.seed)
    sample_rows = np.sort(rng.choice(n, size=min(n, config.sample_rows), replace=False))
    pca_rows = None
    if config.pca_sample is not None:
        pca_rows = np.sort(rng.choice(n, size=min(n, config.pca_sample), replace=False))

    first = np.asarray(blocks[0].compute(scheduler="sync"))
    first = first[np.isfinite(first).all(axis=1)]
    shift = first.mean(axis=0).astype(np.float64) if len(first) else np.zeros(d)

    def run(name, label, compute):
        return run_pass(checkpoints, name, compute, log=progress.log, label=f"[analyze] {label}")

    moments_sums, sample = run(
        "pass1",
        "pass 1/5: moments and a row sample",
        lambda: dask.compute(
            map_reduce(blocks, chunk_moments, combine_moments, shift),
            tree_reduce(
                [
                    dask.delayed(_sample_rows)(b, s, sample_rows)
                    for b, s in zip(blocks, starts, strict=True)
                ],
                concatenate,
            ),
            scheduler=scheduler,
        ),
    )
    if moments_sums["count"] < 2:
        raise LsfError(f"fewer than 2 finite latent rows (of {n}); nothing to analyse")
    moments = finish_moments(moments_sums, shift)
    edges = robust_edges(sample, config.bins, config.bin_width)

    (hist,) = run(
        "pass2",
        "pass 2/5: per-component histograms",
        lambda: dask.compute(
            map_reduce(blocks, chunk_histograms, combine_histograms, edges), scheduler=scheduler
        ),
    )
    fits = fit_histograms(edges, hist["counts"])
    dominant = dominant_components(fits, config.dominant_mu_sigmas, config.dominant_fwhm_factor)

    facts = np.asarray(config.facts, dtype=np.float64)
    mu, fwhm, fact = fits.mu, fits.fwhm, config.trim_fact
    survivors, basis_sums = run(
        "pass3",
        "pass 3/5: trimming and the PCA basis",
        lambda: dask.compute(
            map_reduce(blocks, chunk_survivors, add, mu, fwhm, facts),
            tree_reduce(
                [
                    dask.delayed(_basis_moments, pure=True)(b, s, shift, mu, fwhm, fact, pca_rows)
                    for b, s in zip(blocks, starts, strict=True)
                ],
                combine_moments,
            ),
            scheduler=scheduler,
        ),
    )
    if survivors.max() == 0:
        raise LsfError(f"every fact in {list(facts)} removes every point; use larger facts")
    if basis_sums["count"] < 2:
        raise LsfError(
            f"trim_fact {fact} leaves {basis_sums['count']} points; choose a larger trim_fact"
        )
    basis = finish_moments(basis_sums, shift)
    pca = pca_from_covariance(basis.mean, basis.cov)
    white = whitening(pca)
    pca_edges = robust_edges(project(sample, pca.mean, pca.components), config.bins)

    (pca_pass,) = run(
        "pass4",
        "pass 4/5: PCA coordinates and Mahalanobis distances",
        lambda: dask.compute(
            tree_reduce(
                [
                    dask.delayed(_pca_pass, pure=True)(
                        b, s, pca.mean, pca.components, pca_edges, mu, fwhm, fact, pca_rows, white
                    )
                    for b, s in zip(blocks, starts, strict=True)
                ],
                _combine_pca_pass,
            ),
            scheduler=scheduler,
        ),
    )
    pca_moments = finish_moments(pca_pass["moments"], np.zeros(d))
    d2 = pca_pass["d2"]
    cover = coverage(d2, pca.rank)
    mardia_rows = sample[
        np.sort(
            np.random.default_rng(config.seed + 1).permutation(len(sample))[: config.mardia_sample]
        )
    ]
    pairs = analyse_pairs(
        blocks,
        sample,
        config,
        basis,
        moments,
        pca,
        moments.corr,
        scheduler,
        run=lambda compute: run("pass5", "pass 5/5: 2D densities of component pairs", compute),
    )
    basis_name = "full" if fact is None else f"trimmed fact {fact}"
    if pca_rows is not None:
        basis_name += f", random {len(pca_rows)} rows"
    return Analysis(
        n_samples=n,
        latent_dim=d,
        moments=moments,
        hist_edges=edges,
        hist=hist,
        fits=fits,
        dominant=dominant,
        facts=facts,
        survivors=survivors,
        pca_basis=basis_name,
        pca_rows=basis.count,
        pca=pca,
        pca_moments=pca_moments,
        pca_hist_edges=pca_edges,
        pca_hist=pca_pass["hist"],
        pca_fits=fit_histograms(pca_edges, pca_pass["hist"]["counts"]),
        mahalanobis_qq=qq_table(d2, pca.rank),
        coverage_levels=cover.levels,
        coverage_radii_squared=cover.radii_squared,
        coverage_observed=cover.observed,
        dof=pca.rank,
        mardia=mardia(mardia_rows),
        pairs=pairs,
        seconds=time.perf_counter() - started,
    )


def max_off_diagonal(matrix: np.ndarray) -> float:
    off = matrix - np.diag(np.diag(matrix))
    return float(np.nanmax(np.abs(off)))


def summary_of(result: Analysis) -> dict:
    """Headline numbers (the content of summary.json)."""
    m, pca = result.moments, result.pca
    return {
        "n_samples": result.n_samples,
        "latent_dim": result.latent_dim,
        "finite_rows": m.count,
        "non_finite_rows": m.non_finite_rows,
        "max_abs_correlation": max_off_diagonal(m.corr),
        "fits": {
            "fitted": int(result.fits.ok.sum()),
            "not_fitted": np.flatnonzero(~result.fits.ok).tolist(),
            "median_sigma": float(np.nanmedian(result.fits.sigma)),
            "median_fwhm": float(np.nanmedian(result.fits.fwhm)),
            "dominant_components": np.flatnonzero(result.dominant).tolist(),
        },
        "trimming": {
            f"{fact:g}": {"survivors": int(s), "fraction": float(s) / max(m.count, 1)}
            for fact, s in zip(result.facts, result.survivors, strict=True)
        },
        "pca": {
            "basis": result.pca_basis,
            "rows": result.pca_rows,
            "rank": pca.rank,
            "components_for": {f"{t:g}": pca.components_for(t) for t in VARIANCE_TARGETS},
            "explained_variance_ratio_first_10": pca.explained_variance_ratio[:10].tolist(),
            "max_abs_off_diagonal_correlation": max_off_diagonal(result.pca_moments.corr),
            "max_abs_diagonal_minus_one": float(
                np.nanmax(np.abs(np.diag(result.pca_moments.corr) - 1))
            ),
        },
        "normality": {
            "dof": result.dof,
            "coverage": {
                f"{level:g}": {"radius_squared": float(r), "observed": float(o)}
                for level, r, o in zip(
                    result.coverage_levels,
                    result.coverage_radii_squared,
                    result.coverage_observed,
                    strict=True,
                )
            },
            "mardia": asdict(result.mardia),
        },
        "seconds": result.seconds,
    }
