"""The pair pass of `lsf analyze`: 2D histograms, coverage and shape scores for all pairs.

For each coordinate system (original, PCA) the selected pairs are split into blocks; every
(row chunk, pair block) is one Dask task running the `chunk_pair_counts` kernel, and each
block is tree-reduced over the chunks. On Dask-on-Ray the tasks spread over the nodes.
Then, per pair: the binned KDE (Scott bandwidth of the full-set covariance), the coverage of
the 1/2/3-sigma ellipses of the trimmed covariance, and the non-ellipticity score.
"""

from __future__ import annotations

from dataclasses import dataclass

import dask
import numpy as np

from lsf.stats.graph import tree_reduce
from lsf.stats.histograms import robust_edges
from lsf.stats.pair_counts import chunk_pair_counts, combine_pair_counts, select_pairs
from lsf.stats.pairs import binned_kde_batch, pair_shapes
from lsf.stats.pca import project


@dataclass
class PairResults:
    coordinates: str  # "original" or "pca"
    pairs: np.ndarray  # [P, 2]
    edges: np.ndarray  # [D, B+1] per-component grid
    counts: np.ndarray  # [P, B, B] uint32
    rows: int  # finite rows counted
    table: dict  # column name -> [P] values (the rows of pairs.parquet)


def _projected(x, mean, components):
    finite = x[np.isfinite(x).all(axis=1)]
    return project(finite, mean, components)


def pair_tasks(chunks: list, edges, pairs, mean, cov, block: int) -> list:
    """One delayed reduced result per pair block."""
    results = []
    for start in range(0, len(pairs), block):
        part = pairs[start : start + block]
        parts = [
            dask.delayed(chunk_pair_counts, pure=True)(c, edges, part, mean, cov) for c in chunks
        ]
        results.append(tree_reduce(parts, combine_pair_counts))
    return results


def shape_table(
    coordinates,
    pairs,
    edges,
    counts,
    inside,
    rows,
    basis_mean,
    basis_cov,
    full_cov,
    block: int = 2048,
) -> dict:
    """The per-pair rows: correlation, 1-sigma ellipse, coverage, KDE distance, score.
    Vectorised over blocks of pairs; pairs with a zero-variance component get NaN shapes."""
    i, j = pairs[:, 0], pairs[:, 1]
    cov2 = np.stack(
        [
            np.stack([basis_cov[i, i], basis_cov[i, j]], -1),
            np.stack([basis_cov[j, i], basis_cov[j, j]], -1),
        ],
        -2,
    )
    kde_cov = np.stack(
        [
            np.stack([full_cov[i, i], full_cov[i, j]], -1),
            np.stack([full_cov[j, i], full_cov[j, j]], -1),
        ],
        -2,
    )
    mean2 = np.stack([basis_mean[i], basis_mean[j]], axis=1)
    ok = (np.linalg.det(cov2) > 0) & (np.linalg.det(kde_cov) > 0)
    values, vectors = np.linalg.eigh(np.where(ok[:, None, None], cov2, np.eye(2)))
    coverage = inside / rows
    tv, offset, gap, score = (np.full(len(pairs), np.nan) for _ in range(4))
    good = np.flatnonzero(ok)
    for start in range(0, len(good), block):
        index = good[start : start + block]
        ei, ej = edges[i[index]], edges[j[index]]
        widths = np.stack([ei[:, 1] - ei[:, 0], ej[:, 1] - ej[:, 0]], axis=1)
        density = binned_kde_batch(counts[index].astype(np.float64), widths, kde_cov[index], rows)
        shapes = pair_shapes(
            density,
            0.5 * (ei[:, 1:] + ei[:, :-1]),
            0.5 * (ej[:, 1:] + ej[:, :-1]),
            mean2[index],
            cov2[index],
            coverage[index],
        )
        tv[index], offset[index] = shapes.total_variation, shapes.peak_offset
        gap[index], score[index] = shapes.coverage_gap, shapes.score
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where(ok, cov2[:, 0, 1] / np.sqrt(cov2[:, 0, 0] * cov2[:, 1, 1]), np.nan)
    major = vectors[:, :, 1]
    return {
        "i": i.tolist(),
        "j": j.tolist(),
        "coordinates": [coordinates] * len(pairs),
        "correlation": corr.tolist(),
        "centre_x": mean2[:, 0].tolist(),
        "centre_y": mean2[:, 1].tolist(),
        "semi_major_1sigma": np.sqrt(np.clip(values[:, 1], 0, None)).tolist(),
        "semi_minor_1sigma": np.sqrt(np.clip(values[:, 0], 0, None)).tolist(),
        "angle_deg": (np.degrees(np.arctan2(major[:, 1], major[:, 0])) % 180.0).tolist(),
        "coverage_1sigma": coverage[:, 0].tolist(),
        "coverage_2sigma": coverage[:, 1].tolist(),
        "coverage_3sigma": coverage[:, 2].tolist(),
        "total_variation": tv.tolist(),
        "peak_offset": offset.tolist(),
        "coverage_gap": gap.tolist(),
        "score": score.tolist(),
    }


def analyse_pairs(
    blocks, sample, config, basis, full, pca, corr, scheduler, run=lambda compute: compute()
) -> list[PairResults]:
    """Both coordinate systems in one Dask computation (through `run`, which may resume it)."""
    d = len(corr)
    pca_chunks = [dask.delayed(_projected, pure=True)(b, pca.mean, pca.components) for b in blocks]
    pca_sample = project(sample, pca.mean, pca.components)
    pca_full_cov = pca.components @ full.cov @ pca.components.T
    systems = [
        (
            "original",
            blocks,
            robust_edges(sample, config.pair_bins),
            select_pairs(config.pairs, corr),
            basis.mean,
            basis.cov,
            full.cov,
        ),
        (
            "pca",
            pca_chunks,
            robust_edges(pca_sample, config.pair_bins),
            select_pairs(config.pca_pairs, np.eye(d)),
            np.zeros(d),
            np.diag(pca.explained_variance),
            pca_full_cov,
        ),
    ]
    graphs = [
        pair_tasks(chunks, edges, pairs, mean, cov, config.pair_block)
        for _, chunks, edges, pairs, mean, cov, _ in systems
    ]
    computed = run(lambda: dask.compute(*graphs, scheduler=scheduler))
    results = []
    for (name, _, edges, pairs, mean, cov, full_cov), blocks_out in zip(
        systems, computed, strict=True
    ):
        if len(pairs) == 0:
            continue
        counts = np.concatenate([b["counts"] for b in blocks_out])
        inside = np.concatenate([b["inside"] for b in blocks_out])
        rows = blocks_out[0]["n"]
        table = shape_table(name, pairs, edges, counts, inside, rows, mean, cov, full_cov)
        results.append(PairResults(name, pairs, edges, counts, rows, table))
    return results
