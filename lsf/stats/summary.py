"""summary.json's headline numbers of an `Analysis` (`summary_of`): moments, fits, trimming,
PCA, normality, the analysed rows and row sets, the origin, the pair coverage, the fact
sweep, the reads of the store and, last, the study comparison
(`lsf.stats.study_claims.study_comparison` of the numbers before it). Pure; run by
`lsf.analyze`.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from lsf.stats.fragmentation_store import fragmentation_summary
from lsf.stats.pca import VARIANCE_TARGETS
from lsf.stats.results import Analysis, PairResults
from lsf.stats.study_claims import study_comparison


def max_off_diagonal(matrix: np.ndarray) -> float:
    off = matrix - np.diag(np.diag(matrix))
    return float(np.nanmax(np.abs(off)))


def summary_of(result: Analysis) -> dict:
    """Headline numbers (the content of summary.json), the study comparison last."""
    summary = headline_numbers(result)
    if result.fragmentation is not None:
        summary["fragmentation"] = fragmentation_summary(result.fragmentation)
    summary["warnings"] = list(result.warnings)
    summary["study_comparison"] = study_comparison(summary)
    return summary


def headline_numbers(result: Analysis) -> dict:
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
        "rows": {
            "split": result.selection.split,
            "selected": result.selection.selected,
            "total": result.selection.total,
        },
        "row_sets": result.row_sets,
        "origin": result.origin,
        "pair_coverage": pair_coverage(result.pairs),
        "pair_selection": {p.coordinates: p.selection for p in result.pairs},
        "fact_sweep": result.sweep.summary,
        "reads": {"count": len(result.reads), "stages": result.reads},
        "seconds": result.seconds,
    }


def pair_coverage(pairs: list[PairResults]) -> dict:
    """Per coordinate system and ellipse (1/2/3 sigma): [min, median, max] coverage."""
    out = {}
    for p in pairs:
        levels = {}
        for k in ("1", "2", "3"):
            values = np.asarray(p.table[f"coverage_{k}sigma"], dtype=np.float64)
            values = values[np.isfinite(values)]
            stats_ = [values.min(), np.median(values), values.max()] if len(values) else []
            levels[k] = [float(v) for v in stats_]
        out[p.coordinates] = levels
    return out
