"""The per-chunk steps of `lsf analyze`'s reads and how their partial results combine.

Every step gets one chunk's selected rows `x` (the rows of the analysed split) and their
store row indices `rows`, and returns small partial sums; the `combine_*` functions add two
partials (bounded: top-k lists stay k long, key lists stay `pca_sample` long). Pure NumPy;
`lsf.stats.analysis` maps them over the chunks with Dask.
- `split_rows` / `split_indices`: a chunk's rows of the selected split and their indices.
- `sample_step`: the seeded row sample (values and store rows) for robust ranges.
- `trim_step`: survivors of every fact, moments per shell of trim radius (every fact's
  survivor moments), the PCA sample's key band and smallest keys, top-k trim radius.
- `projected_chunk`: a chunk's finite rows in PCA coordinates, trim radii and basis
  membership, shared by `projection_step` and the PCA pair tasks (`pair_scores`) of a read.
- `projection_step`: PCA coordinates of the basis (or all) rows -> histograms, moments,
  d^2 grids, top-k d^2 and the rows nearest the median d^2; and the fact sweep's sums
  (`sweep_step`: core-ellipse moments and 2D counts of the sweep pairs per fact, with the
  functions of `lsf.stats.fact_sweep`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from lsf.stats.fact_sweep import (
    CoreEllipses,
    chunk_core_moments,
    chunk_fact_pair_counts,
    combine_core_moments,
)
from lsf.stats.histograms import chunk_histograms, combine_histograms
from lsf.stats.moments import chunk_moments, combine_moments
from lsf.stats.normality import combine_d2_histograms, d2_histogram
from lsf.stats.pca import PCA, project
from lsf.stats.selection import (
    KeyBand,
    in_band,
    merge_smallest,
    merge_top_k,
    row_keys,
    smallest_keys,
    split_mask,
    top_k,
)
from lsf.stats.trimming import chunk_shell_moments, combine_shell_moments, trim_radius


def split_rows(x: np.ndarray, split, code: int | None) -> np.ndarray:
    return x[split_mask(split, code, len(x))]


def split_indices(start: int, n: int, split, code: int | None) -> np.ndarray:
    return start + np.flatnonzero(split_mask(split, code, n))


def sample_step(x: np.ndarray, rows: np.ndarray, sample: np.ndarray) -> dict:
    """The finite rows of `x` whose store row is in the sorted `sample`."""
    position = np.minimum(np.searchsorted(sample, rows), max(len(sample) - 1, 0))
    picked = (sample[position] == rows) if len(sample) else np.zeros(len(rows), bool)
    picked &= np.isfinite(x).all(axis=1)
    return {"x": x[picked], "rows": rows[picked]}


def concatenate_dicts(a: dict, b: dict) -> dict:
    return {key: np.concatenate([a[key], b[key]]) for key in a}


@dataclass
class BasisRows:
    """Which rows are the PCA basis: trim radius below `bound` (inf: every finite row) and,
    with a PCA sample, row key at most `key_limit`."""

    mu: np.ndarray
    fwhm: np.ndarray
    bound: float
    key_limit: int | None
    seed: int

    def mask(self, x: np.ndarray, rows: np.ndarray, radius=None) -> np.ndarray:
        """Basis membership of rows `x` (store rows `rows`; `radius`: their trim radii)."""
        radius = trim_radius(x, self.mu, self.fwhm) if radius is None else radius
        keep = radius < self.bound
        if self.key_limit is not None:
            keep &= row_keys(rows, self.seed) <= np.uint64(self.key_limit)
        return keep


@dataclass
class TrimPlan:
    facts: np.ndarray  # the configured facts (survivor counts)
    shells: np.ndarray  # sorted shell boundaries: the facts and the basis trim fact
    bound: float  # the basis trim fact (inf: none)
    sample: int | None  # pca_sample
    band: KeyBand | None
    seed: int
    outliers: int


def trim_step(x, rows, mu, fwhm, shift, plan: TrimPlan) -> dict:
    radius = trim_radius(x, mu, fwhm)
    finite = np.isfinite(radius)
    out = {
        "survivors": np.array([(radius < f).sum() for f in plan.facts], dtype=np.int64),
        "shells": chunk_shell_moments(x, radius, plan.shells, shift),
        "top_trim": top_k(radius[finite], rows[finite], plan.outliers),
    }
    if plan.sample is not None:
        keys = row_keys(rows, plan.seed)
        survive = radius < plan.bound
        below, inside = in_band(keys, plan.band)
        band = survive & inside
        out["low"] = chunk_moments(x, shift, survive & below, higher=False)
        out["band"] = {"x": x[band], "keys": keys[band]}
        out["keys"] = smallest_keys(keys[survive], plan.sample)
    return out


def combine_trim(a: dict, b: dict, plan: TrimPlan) -> dict:
    out = {
        "survivors": a["survivors"] + b["survivors"],
        "shells": combine_shell_moments(a["shells"], b["shells"]),
        "top_trim": merge_top_k(a["top_trim"], b["top_trim"], plan.outliers),
    }
    if plan.sample is not None:
        out["low"] = combine_moments(a["low"], b["low"])
        out["band"] = concatenate_dicts(a["band"], b["band"])
        out["keys"] = merge_smallest(a["keys"], b["keys"], plan.sample)
    return out


def limited_moments(x, rows, basis: BasisRows, shift) -> dict:
    """Moments of the basis rows of a chunk (the extra read when the key band missed)."""
    return chunk_moments(x, shift, basis.mask(x, rows), higher=False)


def squared_distances(scores: np.ndarray, pca: PCA) -> np.ndarray:
    """d^2 of rows already in PCA coordinates (the whitening of the rank components)."""
    kept = scores[:, : pca.rank]
    return np.einsum("ij,ij->i", kept, kept / pca.explained_variance[: pca.rank])


@dataclass
class SweepPlan:
    """The fact sweep in chosen-basis PCA coordinates: every fact's survivors, the pairs
    among the first K components, their 1-sigma core ellipses and 2D grids."""

    facts: np.ndarray  # ascending
    pairs: np.ndarray  # [P, 2]
    ellipses: CoreEllipses
    edges: np.ndarray  # [P, 2, B+1]


@dataclass
class ProjectionPlan:
    pca: PCA
    basis: BasisRows
    use_basis: bool  # PCA histograms and d^2 grid on the basis rows (else all rows)
    edges: np.ndarray
    top: float  # d^2 grid top
    radii: np.ndarray
    outliers: int
    median: float  # estimated median d^2 of all rows (typical rows)
    sweep: SweepPlan


def sweep_step(scores: np.ndarray, radius: np.ndarray, sweep: SweepPlan) -> dict:
    """One chunk's fact-sweep sums: core-ellipse moments and 2D counts per fact and pair."""
    k = int(sweep.pairs.max()) + 1
    kept = scores[:, :k]
    return {
        "core": chunk_core_moments(kept, radius, sweep.facts, sweep.ellipses),
        "counts": chunk_fact_pair_counts(kept, radius, sweep.facts, sweep.pairs, sweep.edges),
    }


def combine_sweep(a: dict, b: dict) -> dict:
    return {"core": combine_core_moments(a["core"], b["core"]), "counts": a["counts"] + b["counts"]}


def projected_chunk(x, rows, plan: ProjectionPlan) -> dict:
    """A chunk's finite rows in PCA coordinates with their store rows, trim radii and basis
    membership: computed once per read and shared by the projection step and the PCA pair
    tasks of that read."""
    finite = np.isfinite(x).all(axis=1)
    x, rows = x[finite], rows[finite]
    radius = trim_radius(x, plan.basis.mu, plan.basis.fwhm)
    return {
        "scores": project(x, plan.pca.mean, plan.pca.components),
        "rows": rows,
        "radius": radius,
        "basis": plan.basis.mask(x, rows, radius),
    }


def projection_step(chunk: dict, plan: ProjectionPlan) -> dict:
    scores, rows, basis = chunk["scores"], chunk["rows"], chunk["basis"]
    d2 = squared_distances(scores, plan.pca)
    use = basis if plan.use_basis else np.ones(len(scores), dtype=bool)
    return {
        "sweep": sweep_step(scores, chunk["radius"], plan.sweep),
        "moments": chunk_moments(scores[basis], np.zeros(scores.shape[1])),
        "hist": chunk_histograms(scores[use], plan.edges),
        "d2": d2_histogram(d2[use], plan.top, plan.radii),
        "d2_all": d2_histogram(d2, plan.top, plan.radii),
        "top_d2": top_k(d2, rows, plan.outliers),
        "typical": top_k(-np.abs(d2 - plan.median), rows, 4 * plan.outliers, d2),
    }


def combine_projection(a: dict, b: dict, plan: ProjectionPlan) -> dict:
    return {
        "sweep": combine_sweep(a["sweep"], b["sweep"]),
        "moments": combine_moments(a["moments"], b["moments"]),
        "hist": combine_histograms(a["hist"], b["hist"]),
        "d2": combine_d2_histograms(a["d2"], b["d2"]),
        "d2_all": combine_d2_histograms(a["d2_all"], b["d2_all"]),
        "top_d2": merge_top_k(a["top_d2"], b["top_d2"], plan.outliers),
        "typical": merge_top_k(a["typical"], b["typical"], 4 * plan.outliers),
    }


def pair_scores(chunk: dict, use_basis: bool) -> np.ndarray:
    """The rows of the PCA pair pass from a `projected_chunk`: its finite rows in PCA
    coordinates (only the basis rows with `use_basis`)."""
    return chunk["scores"][chunk["basis"]] if use_basis else chunk["scores"]


def with_plan(fn, plan):
    """`fn` with its plan bound as a keyword (a picklable combine for the tree reduction)."""
    return functools.partial(fn, plan=plan)
