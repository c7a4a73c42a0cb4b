"""Fragmentation results built from generated data with known regions, for the tests of what
reads them (generate, report, explore): `separated_normals` draws k well-separated normals,
`fragmentation_of` computes every field of the contract with numpy from rows and their true
labels (one mixture component per region), `add_regions` writes it into an analysis folder
with the contract's writer, as `lsf analyze` would."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import zarr
from scipy import stats

from lsf.stats.fragmentation import COVERAGE_LEVELS, RADIUS_LEVEL, Fragmentation
from lsf.stats.fragmentation_store import (
    fragmentation_summary,
    write_fragmentation,
    write_labels,
)


def separated_normals(n: int, d: int, centres: int, distance: float = 8.0, seed: int = 0):
    """`(rows float32 [n, d], labels [n])`: `centres` normals (unit-ish covariances) whose
    means lie `distance` apart along different axes; shares 0.5, 0.3, 0.2, ... renormalised."""
    rng = np.random.default_rng(seed)
    shares = np.array([0.5, 0.3, 0.2, 0.15, 0.1][:centres])
    shares = shares / shares.sum()
    labels = np.repeat(np.arange(centres), np.round(shares * n).astype(int))[:n]
    labels = np.concatenate([labels, np.zeros(n - len(labels), dtype=int)])
    rng.shuffle(labels)
    means = np.zeros((centres, d))
    for r in range(1, centres):
        means[r, (r - 1) % d] = distance
    mixing = np.eye(d) + 0.2 * rng.standard_normal((d, d))
    z = means[labels] + rng.standard_normal((n, d)) @ mixing + 1.5
    return z.astype(np.float32), labels


def fragmentation_of(
    z: np.ndarray, labels: np.ndarray, k: int = 4, nearest: int = 5, sample: int = 300, seed=0
):
    """Every contract field from rows and their region labels (numpy only)."""
    z = np.asarray(z, dtype=np.float64)
    regions = int(labels.max()) + 1
    mean = z.mean(axis=0)
    variance, vectors = np.linalg.eigh(np.cov(z, rowvar=False))
    axes = vectors[:, ::-1][:, :k].T
    scores = (z - mean) @ axes.T
    counts = np.array([(labels == r).sum() for r in range(regions)], dtype=np.int64)
    means = np.stack([z[labels == r].mean(axis=0) for r in range(regions)])
    covariances = np.stack([np.cov(z[labels == r], rowvar=False) for r in range(regions)])
    score_means = np.stack([scores[labels == r].mean(axis=0) for r in range(regions)])
    score_covs = np.stack([np.cov(scores[labels == r], rowvar=False) for r in range(regions)])
    shares = counts / len(z)
    ratios = np.stack([np.linalg.eigvalsh(c)[::-1] / np.trace(c) for c in covariances])
    own = [np.linalg.eigvalsh(c)[::-1] for c in score_covs]
    separation = np.zeros((regions, regions))
    for a in range(regions):
        for b in range(regions):
            diff = score_means[a] - score_means[b]
            pooled = 0.5 * (score_covs[a] + score_covs[b])
            separation[a, b] = np.sqrt(diff @ np.linalg.solve(pooled, diff))
    d2 = np.stack(
        [
            np.einsum("ij,ij->i", (scores - m) @ np.linalg.inv(c), scores - m)
            for m, c in zip(score_means, score_covs, strict=True)
        ],
        axis=1,
    )
    coverage = np.array(
        [
            [(d2[labels == r, r] <= stats.chi2.ppf(q, k)).mean() for q in COVERAGE_LEVELS]
            for r in range(regions)
        ]
    )
    distance = np.linalg.norm(z[:, None, :] - means[None], axis=2)
    nearest_rows = np.argsort(distance, axis=0)[:nearest].T.astype(np.int64)
    picks = np.sort(np.random.default_rng(seed).choice(len(z), min(sample, len(z)), False))
    weights = shares / shares.sum()

    def density(points):
        return sum(
            w * stats.multivariate_normal(m, c).pdf(points)
            for w, m, c in zip(weights, score_means, score_covs, strict=True)
        )

    peaks = np.atleast_1d(density(score_means))
    t = np.linspace(0, 1, 201)[:, None]
    gap = np.ones((regions, regions))
    for a in range(regions):
        for b in range(regions):
            if a != b:
                segment = (1 - t) * score_means[a] + t * score_means[b]
                gap[a, b] = density(segment).min() / min(peaks[a], peaks[b])
    bic = np.full(regions + 2, np.nan)
    bic[:regions] = np.linspace(100.0, 10.0, regions)
    return Fragmentation(
        components=k,
        pca_mean=mean,
        pca_components=axes,
        bic=bic,
        chosen_k=regions,
        mixture_weights=weights,
        mixture_means=score_means,
        mixture_covariances=score_covs,
        component_region=np.arange(regions),
        merges=[],
        counts=counts,
        outside=0,
        shares=shares,
        means=means,
        covariances=covariances,
        score_means=score_means,
        score_covariances=score_covs,
        radius2=np.full(regions, stats.chi2.ppf(RADIUS_LEVEL, k)),
        coverage_levels=np.array(COVERAGE_LEVELS),
        coverage=coverage,
        explained_variance_ratio=ratios,
        components_80=(np.cumsum(ratios, axis=1) < 0.8).sum(axis=1) + 1,
        extent=np.sqrt(np.clip(np.stack(own), 0, None)),
        gap=gap,
        separation=separation,
        hdbscan_clusters=regions,
        hdbscan_noise_share=0.0,
        adjusted_rand=1.0,
        inside={"uniform-box": 0.0, "mvn": 0.5, "real": 0.99},
        nearest_rows=nearest_rows,
        nearest_ids=nearest_rows.copy(),
        sample_scores=scores[picks].astype(np.float32),
        sample_labels=labels[picks].astype(np.int16),
        warnings=[],
        parameters={"components": k, "max_k": regions + 2, "merge_threshold": 0.5},
        verdict=f"{regions} regions; the largest holds {100 * shares.max():.0f} % of the latents",
        sample_rows=picks.astype(np.int64),
        peaks=np.log(peaks),
    )


def add_regions(analysis: str | Path, result: Fragmentation, labels: np.ndarray) -> None:
    """Write `result` and the row labels into an analysis folder (replacing any regions)."""
    analysis = Path(analysis)
    group = zarr.open_group(str(analysis / "analysis.zarr"), mode="r+")
    if "regions" in group.group_keys():
        del group["regions"]
    write_fragmentation(group, result)
    write_labels(group, len(labels), 4096)[:] = labels.astype(np.int16)
    summary = json.loads((analysis / "summary.json").read_text())
    summary["fragmentation"] = fragmentation_summary(result)
    (analysis / "summary.json").write_text(json.dumps(summary, allow_nan=False))


def remove_regions(analysis: str | Path) -> None:
    """An analysis as written before regions (or with the pass off)."""
    analysis = Path(analysis)
    group = zarr.open_group(str(analysis / "analysis.zarr"), mode="r+")
    if "regions" in group.group_keys():
        del group["regions"]
    summary = json.loads((analysis / "summary.json").read_text())
    summary.pop("fragmentation", None)
    (analysis / "summary.json").write_text(json.dumps(summary, allow_nan=False))
