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

from lsf.stats.histograms import robust_edges
from lsf.stats.pair_counts import chunk_pair_counts, combine_pair_counts
from lsf.stats.pairs import binned_kde, confidence_ellipse, pair_shape
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
    from lsf.stats.analysis import tree_reduce

    results = []
    for start in range(0, len(pairs), block):
        part = pairs[start : start + block]
        parts = [
            dask.delayed(chunk_pair_counts, pure=True)(c, edges, part, mean, cov) for c in chunks
        ]
        results.append(tree_reduce(parts, combine_pair_counts))
    return results


def shape_table(coordinates, pairs, edges, counts, inside, rows, basis_mean, basis_cov, full_cov):
    """The per-pair rows: correlation, 1-sigma ellipse, coverage, KDE distance, score."""
    columns = {
        k: []
        for k in (
            "i",
            "j",
            "coordinates",
            "correlation",
            "centre_x",
            "centre_y",
            "semi_major_1sigma",
            "semi_minor_1sigma",
            "angle_deg",
            "coverage_1sigma",
            "coverage_2sigma",
            "coverage_3sigma",
            "total_variation",
            "peak_offset",
            "coverage_gap",
            "score",
        )
    }
    for p, (i, j) in enumerate(pairs):
        index = np.ix_([i, j], [i, j])
        mean2, cov2 = basis_mean[[i, j]], basis_cov[index]
        ellipse = confidence_ellipse(mean2, cov2, 1)
        if np.linalg.det(cov2) <= 0 or np.linalg.det(full_cov[index]) <= 0:
            # A zero-variance component: no density, no shape; ranked last (NaN score).
            corr, shape_values = np.nan, [np.nan] * 7
        else:
            widths = (edges[i, 1] - edges[i, 0], edges[j, 1] - edges[j, 0])
            density = binned_kde(counts[p], widths, full_cov[index], rows)
            centres_x = 0.5 * (edges[i, 1:] + edges[i, :-1])
            centres_y = 0.5 * (edges[j, 1:] + edges[j, :-1])
            shape = pair_shape(density, centres_x, centres_y, mean2, cov2, inside[p] / rows)
            corr = cov2[0, 1] / np.sqrt(cov2[0, 0] * cov2[1, 1])
            shape_values = [
                *shape.coverage.tolist(),
                shape.total_variation,
                shape.peak_offset,
                shape.coverage_gap,
                shape.score,
            ]
        values = (
            int(i),
            int(j),
            coordinates,
            float(corr),
            *ellipse.centre,
            ellipse.semi_major,
            ellipse.semi_minor,
            ellipse.angle_deg,
            *shape_values,
        )
        for key, value in zip(columns, values, strict=True):
            columns[key].append(value)
    return columns


def analyse_pairs(blocks, sample, config, basis, full, pca, corr, scheduler) -> list[PairResults]:
    """Both coordinate systems in one Dask computation."""
    from lsf.stats.pair_counts import select_pairs

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
    computed = dask.compute(*graphs, scheduler=scheduler)
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
