"""The comparison table: one row per variant, read from the variant's own outputs, and the
mean ± standard deviation of each seed group (variants that differ only by `train.seed`).

`read_outputs(paths)` loads what a finished variant wrote (`analysis/summary.json`,
`analysis.zarr`, `pairs.parquet`, `samples/metrics.json`, `run/model.json`); `measures`
turns that into the row's numbers (a pure function); `seed_groups` aggregates the rows.
Used by `lsf compare`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from lsf.core.outputs import exists, join, read_json
from lsf.run import StagePaths
from lsf.stats.analysis_store import StoredAnalysis, StoredPairs, read
from lsf.stats.core_alignment import pca_core_alignment_angles

ALIGNMENT_COMPONENTS = 10  # core alignment over the PCA pairs among the first 10 components

# The fragmentation measures, in table order, with what each one is (the page's legend).
MEASURES = {
    "reconstruction_loss": "validation reconstruction loss after the last epoch (run/model.json)",
    "pca_components_80": "PCA components holding 80 % of the variance",
    "pca_components_90": "PCA components holding 90 % of the variance",
    "max_abs_correlation": "max |off-diagonal Pearson correlation| between latent components",
    "dominant_components": "components flagged dominant (|mu| or FWHM far from typical)",
    "gaussian_fit_residual": "median over components of the Gaussian fit's RMS residual / peak",
    "mardia_skewness": "Mardia's multivariate skewness b1,p (0 for a normal)",
    "mardia_kurtosis": "Mardia's multivariate kurtosis b2,p (p(p+2) for a normal)",
    "mardia_kurtosis_z": "Mardia's kurtosis as a z-score against a normal",
    "chi2_coverage_0.5": "fraction of latents inside the chi2(D) 0.5 radius (0.5 for a normal)",
    "chi2_coverage_0.9": "fraction of latents inside the chi2(D) 0.9 radius (0.9 for a normal)",
    "pair_score_median": "median non-ellipticity score of the component pairs (pairs.parquet)",
    "pca_pair_score_median": "median non-ellipticity score of the PCA pairs (pairs.parquet)",
    "core_alignment_deg": (
        "median angle between the principal axis of each PCA pair's 1-sigma core and its PCA "
        f"axis, over the pairs among the first {ALIGNMENT_COMPONENTS} components (0 for a normal)"
    ),
}
SAMPLER_MEASURES = {
    "fd": "Frechet distance to real images (pixel-PCA or given features)",
    "precision": "k-NN precision",
    "recall": "k-NN recall",
}


@dataclass
class VariantOutputs:
    """What one finished variant wrote, as far as the comparison needs it."""

    analysis: StoredAnalysis  # the variant's analysis folder
    model: dict  # run/model.json
    metrics: dict  # samples/metrics.json
    pairs: dict  # pairs.parquet as columns
    core_angles: dict = field(default_factory=dict)  # (i, j) -> degrees
    worst_pair: dict | None = None  # the least elliptic component pair and its counts
    mvn_grid: str | None = None  # samples/mvn/grid.png


def _worst_pair(stored: StoredPairs | None, pairs: dict) -> dict | None:
    """The original-coordinate pair of highest score, its 2D counts and 1-sigma ellipse."""
    rows = [
        k
        for k, (c, s) in enumerate(zip(pairs["coordinates"], pairs["score"], strict=True))
        if c == "original" and s is not None and math.isfinite(s)
    ]
    if not rows or stored is None:
        return None
    k = max(rows, key=lambda r: pairs["score"][r])
    i, j = int(pairs["i"][k]), int(pairs["j"][k])
    grid = stored.grid(i, j)
    if grid is None:
        return None
    return {
        "i": i,
        "j": j,
        "score": float(pairs["score"][k]),
        "counts": grid[0],
        "x_edges": grid[1],
        "y_edges": grid[2],
        "centre": (pairs["centre_x"][k], pairs["centre_y"][k]),
        "semi_major": pairs["semi_major_1sigma"][k],
        "semi_minor": pairs["semi_minor_1sigma"][k],
        "angle_deg": pairs["angle_deg"][k],
    }


def read_outputs(paths: StagePaths) -> VariantOutputs:
    """Read a finished variant's outputs (local paths or fsspec URLs)."""
    a = read(paths.analysis)
    pairs = a.pairs_table() or {"coordinates": [], "score": [], "i": [], "j": []}
    angles = {}
    pca_pairs = a.pairs("pca")
    if pca_pairs is not None:
        among = np.flatnonzero((pca_pairs.pairs < ALIGNMENT_COMPONENTS).all(axis=1))
        if len(among):
            counts = pca_pairs.counts.get_orthogonal_selection((among,))
            angles = pca_core_alignment_angles(
                counts,
                pca_pairs.pairs[among],
                pca_pairs.edges,
                a.pca.model.explained_variance,
                ALIGNMENT_COMPONENTS,
            )
    grid = join(paths.samples, "mvn", "grid.png")
    return VariantOutputs(
        analysis=a,
        model=read_json(join(paths.run, "model.json")),
        metrics=read_json(join(paths.samples, "metrics.json")),
        pairs=pairs,
        core_angles=angles,
        worst_pair=_worst_pair(a.pairs("original"), pairs),
        mvn_grid=grid if exists(grid) else None,
    )


def _median(values) -> float:
    finite = np.asarray([v for v in values if v is not None], dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    return float(np.median(finite)) if len(finite) else math.nan


def measures(outputs: VariantOutputs) -> dict:
    """The row of one variant: every measure of MEASURES, then FD/precision/recall per
    sampler (`fd.mvn`, `precision.mvn`, ...; `real` and `reconstruction` are the bounds)."""
    a = outputs.analysis
    h, fits, normality = a.headline, a.fits.gaussians, a.normality
    fitted = fits.residual[fits.ok]
    coverage = dict(zip(normality.coverage.levels, normality.coverage.observed, strict=True))
    scores = list(zip(outputs.pairs["coordinates"], outputs.pairs["score"], strict=True))
    row = {
        "latent_dim": a.latent_dim,
        "reconstruction_loss": float(outputs.model["summary"]["val_loss"]),
        "pca_components_80": h.components_for["0.8"],
        "pca_components_90": h.components_for["0.9"],
        "max_abs_correlation": h.max_abs_correlation,
        "dominant_components": len(h.dominant_components),
        "gaussian_fit_residual": _median(fitted),
        "mardia_skewness": float(normality.mardia.skewness),
        "mardia_kurtosis": float(normality.mardia.kurtosis),
        "mardia_kurtosis_z": float(normality.mardia.kurtosis_z),
        "chi2_coverage_0.5": float(coverage[0.5]),
        "chi2_coverage_0.9": float(coverage[0.9]),
        "pair_score_median": _median(v for c, v in scores if c == "original"),
        "pca_pair_score_median": _median(v for c, v in scores if c == "pca"),
        "core_alignment_deg": _median(outputs.core_angles.values()),
    }
    for name, values in outputs.metrics["samplers"].items():
        row[f"fd.{name}"] = float(values["frechet_distance"])
        row[f"precision.{name}"] = float(values["precision"])
        row[f"recall.{name}"] = float(values["recall"])
    return row


def is_measure(column: str) -> bool:
    return column in MEASURES or column.partition(".")[0] in SAMPLER_MEASURES


def measure_columns(rows: list[dict]) -> list[str]:
    """The measure columns of the rows (latent_dim first), in first-seen order."""
    columns = ["latent_dim"] if any("latent_dim" in r for r in rows) else []
    for row in rows:
        columns += [key for key in row if is_measure(key) and key not in columns]
    return columns


def seed_groups(rows: list[dict], columns: list[str]) -> list[dict]:
    """Per seed group (rows' `group`), over its rows with status ok: `n`, and `mean` and
    `std` (sample standard deviation, ddof 1; None below two finite values) per column."""
    order: list[str] = []
    members: dict[str, list[dict]] = {}
    for row in rows:
        if row["group"] not in members:
            order.append(row["group"])
            members[row["group"]] = []
        members[row["group"]].append(row)
    groups = []
    for name in order:
        ok = [r for r in members[name] if r["status"] == "ok"]
        mean, std = {}, {}
        for column in columns:
            values = np.array([r.get(column, math.nan) for r in ok], dtype=np.float64)
            values = values[np.isfinite(values)]
            mean[column] = float(values.mean()) if len(values) else None
            std[column] = float(values.std(ddof=1)) if len(values) >= 2 else None
        groups.append(
            {
                "group": name,
                "variants": [r["variant"] for r in members[name]],
                "n": len(ok),
                "mean": mean,
                "std": std,
            }
        )
    return groups
