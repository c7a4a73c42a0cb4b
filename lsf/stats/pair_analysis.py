"""The pair pass of `lsf analyze`: 2D histograms, coverage and shape scores for all pairs.

For each coordinate system (original, PCA) the selected pairs are split into blocks sized by
`analyze.task_memory_mb`; every (row chunk, pair block) is one Dask task running the
`chunk_pair_counts` kernel, and each block is tree-reduced over the chunks. Blocks are
computed in waves (as many as the memory budget of the running tasks allows); each block is
scored in its own last task (in parallel with the other blocks' counting) and its counts go
to a `PairSink` (analysis.zarr, block by block), so memory does not grow with the number of
pairs or rows. On Dask-on-Ray the tasks spread over the nodes. Per pair: the binned KDE
(Scott bandwidth of the full-set covariance), the coverage of the 1/2/3-sigma ellipses of
the trimmed covariance, and the non-ellipticity score.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from lsf.core.pair_spec import parse_pairs
from lsf.stats.graph import map_chunks, task, tree_reduce
from lsf.stats.histograms import edges_of
from lsf.stats.pair_counts import chunk_pair_counts, combine_pair_counts, select_pairs
from lsf.stats.pairs import binned_kde_batch, pair_shapes
from lsf.stats.quadratic import pair_covariance
from lsf.stats.results import PairResults
from lsf.stats.selection import PairChoice, choose_pairs


def pair_tasks(chunks: list, edges, pairs, mean, cov, block: int) -> list:
    """One delayed reduced result per pair block."""
    results = []
    for start in range(0, len(pairs), block):
        part = pairs[start : start + block]
        parts = map_chunks(chunk_pair_counts, chunks, args=(edges, part, mean, cov))
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
    cov2, kde_cov = pair_covariance(basis_cov, i, j), pair_covariance(full_cov, i, j)
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


class PairSink(Protocol):
    """Where the pair counts of one coordinate system go, block by block as they finish."""

    def open(self, coordinates: str, shape: tuple[int, int, int]) -> None: ...
    def write(self, coordinates: str, start: int, counts: np.ndarray) -> None: ...
    def counts(self, coordinates: str): ...


class MemorySink:
    """Keeps every system's `[P, B, B]` counts in memory (tests, small analyses)."""

    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}

    def open(self, coordinates: str, shape: tuple[int, int, int]) -> None:
        self.arrays[coordinates] = np.zeros(shape, dtype=np.uint32)

    def write(self, coordinates: str, start: int, counts: np.ndarray) -> None:
        self.arrays[coordinates][start : start + len(counts)] = counts

    def counts(self, coordinates: str) -> np.ndarray:
        return self.arrays[coordinates]


BYTES_PER_PAIR_CELL = 2 + 4  # a chunk's uint16 counts and a combined uint32 sum


def pair_plan(config, pairs: int, chunks: int, workers: int) -> tuple[int, int]:
    """`(pairs per block, blocks per wave)` within `config.task_memory_mb` per task.

    A block's task holds ~`BYTES_PER_PAIR_CELL * B^2` bytes per pair; a tree
    reduction over `chunks` keeps up to ~log2(chunks) + 2 partials per block in flight, and
    a wave of blocks is computed together while `workers` tasks run at once."""
    budget = config.task_memory_mb * 2**20
    per_pair = BYTES_PER_PAIR_CELL * config.pair_bins**2
    block = max(1, min(config.pair_block, budget // per_pair, pairs or 1))
    in_flight = (np.log2(max(chunks, 1)) + 2) * block * per_pair
    return block, max(1, int(workers * budget // in_flight))


@dataclass
class PairSystem:
    name: str  # "original" or "pca"
    chunks: list  # delayed row chunks in this system's coordinates
    edges: np.ndarray
    pairs: np.ndarray
    mean: np.ndarray  # basis (trimmed) mean and covariance: ellipses and shapes
    cov: np.ndarray
    full_cov: np.ndarray  # the KDE's covariance (original: every row; PCA: its rows)
    selection: str = ""  # which pairs and why


PAIR_SETTINGS = (("pairs", "original"), ("pca_pairs", "pca"))  # setting, coordinate system


def check_pairs(config, d: int) -> None:
    """Bad `pairs` / `pca_pairs` for `d` latent components, before any read: one line
    naming the setting (a listed component beyond the dimension)."""
    for key, _ in PAIR_SETTINGS:
        parse_pairs(getattr(config, key), f"analyze.{key}").check(d)


def pair_choices(config, d: int) -> list[PairChoice]:
    """Which pairs each coordinate system counts (`choose_pairs` resolves `auto`)."""
    check_pairs(config, d)
    return [
        choose_pairs(getattr(config, key), d, system, config.pair_budget_mb, config.pair_bins)
        for key, system in PAIR_SETTINGS
    ]


def pair_grid_count(config, d: int) -> int:
    """How many pair grids the analysis counts in both systems for `d` components: the
    `len(select_pairs(...))` of each choice, from its spec alone (the preflight's count)."""
    return sum(parse_pairs(choice.chosen).count(d) for choice in pair_choices(config, d))


def pair_systems(chunks, scores, spans, config, basis, full, pca, pca_kde) -> list[PairSystem]:
    """The original system (every selected row: `chunks.blocks`) and the PCA system (the
    delayed `scores` blocks of its rows and `pca_kde`, their covariance for the KDE), each
    with its selected pairs; `spans` are the robust ranges of both (the grids)."""
    d = len(basis.mean)
    choices = pair_choices(config, d)
    original = PairSystem(
        "original",
        chunks.blocks,
        edges_of(spans[0], config.pair_bins),
        select_pairs(choices[0].chosen, full.corr),
        basis.mean,
        basis.cov,
        full.cov,
        str(choices[0]),
    )
    in_pca = PairSystem(
        "pca",
        scores,
        edges_of(spans[1], config.pair_bins),
        select_pairs(choices[1].chosen, np.eye(d)),
        np.zeros(d),
        np.diag(pca.explained_variance),
        pca_kde,
        str(choices[1]),
    )
    return [s for s in (original, in_pca) if len(s.pairs)]


def analyse_pairs(
    chunks,
    systems: list[PairSystem],
    config,
    sink: PairSink,
    log=lambda line: None,
    extra=(),
) -> tuple[list[PairResults], list]:
    """Both coordinate systems, pair block by pair block: the blocks of a wave are computed
    together (one read of the store each wave, the graphs in `extra` computed with the first
    wave), then written to `sink` and scored, so only one wave of blocks (and their partial
    sums) is ever held (`pair_plan` sizes blocks and waves). -> `(results, extra values)`."""
    jobs, wave = [], None
    for system in systems:
        block, fits = pair_plan(config, len(system.pairs), len(system.chunks), os.cpu_count() or 1)
        wave = fits if wave is None else min(wave, fits)
        sink.open(system.name, (len(system.pairs), config.pair_bins, config.pair_bins))
        jobs += [(system, start, block) for start in range(0, len(system.pairs), block)]
    tables, rows = {s.name: {} for s in systems}, {}
    waves = -(-len(jobs) // (wave or 1))
    log(f"[analyze] pairs: {len(jobs)} blocks in {waves} waves (one read of the store each)")
    extra_values = []
    for number, first in enumerate(range(0, len(jobs), wave or 1)):
        batch = jobs[first : first + (wave or 1)]
        graphs = [
            task(
                scored_block,
                pair_tasks(s.chunks, s.edges, s.pairs[a : a + b], s.mean, s.cov, b)[0],
                s.name,
                s.pairs[a : a + b],
                s.edges,
                s.mean,
                s.cov,
                s.full_cov,
            )
            for s, a, b in batch
        ]
        together = list(extra) if number == 0 else []
        values = chunks.compute(f"pairs wave {number + 1}/{waves}", *together, *graphs)
        if number == 0:
            extra_values = list(values[: len(together)])
        for (system, start, _), out in zip(batch, values[len(together) :], strict=True):
            sink.write(system.name, start, out["counts"])
            rows[system.name] = out["n"]
            for key, column in out["table"].items():
                tables[system.name].setdefault(key, []).extend(column)
    results = [
        PairResults(
            s.name,
            s.pairs,
            s.edges,
            sink.counts(s.name),
            rows[s.name],
            tables[s.name],
            s.selection,
            s.full_cov,
        )
        for s in systems
    ]
    return results, extra_values


def scored_block(reduced: dict, coordinates, pairs, edges, mean, cov, full_cov) -> dict:
    """A pair block's summed counts (uint32) and its rows of the pair table: the scoring
    runs in the block's last task, beside the other blocks' counting, not on the driver."""
    counts = reduced["counts"].astype(np.uint32, copy=False)
    table = shape_table(
        coordinates, pairs, edges, counts, reduced["inside"], reduced["n"], mean, cov, full_cov
    )
    return {"counts": counts, "n": reduced["n"], "table": table}
