"""`lsf analyze`: every statistic of a complete latent store, written to ANALYSIS/.

Runs the streaming passes of `lsf.stats.analysis` on the store's row chunks (Dask threads,
or Dask-on-Ray with `--address`), saves each finished pass in ANALYSIS.partial/ so an
interrupted run resumes, and writes `analysis.zarr` (arrays), `summary.json` and
`pairs.parquet` atomically. `load_analysis` reads them back for generate and report.
Run: `lsf analyze --latents work/latents.zarr --out work/analysis` (or `jobs/analyze.py`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import zarr

from lsf import __version__
from lsf.core.checkpoints import PassCheckpoints
from lsf.core.config import AnalyzeConfig, as_dict
from lsf.core.errors import LsfError
from lsf.core.locks import locks_output
from lsf.core.outputs import (
    atomic_output_dir,
    check_output,
    exists,
    join,
    read_json,
    write_json_atomic,
    zarr_location,
)
from lsf.core.progress import TERMINAL, Progress
from lsf.core.store import ID, open_latents, open_split, open_store
from lsf.stats.analysis import Analysis, analyze_latents
from lsf.stats.fragmentation_store import write_fragmentation, write_labels
from lsf.stats.graph import scheduler_for
from lsf.stats.origin import pca_flank_excess
from lsf.stats.pair_analysis import check_pairs
from lsf.stats.regions_pass import check_settings
from lsf.stats.summary import summary_of

ARRAYS = "analysis.zarr"
SUMMARY = "summary.json"
PAIRS = "pairs.parquet"
PARTIAL_SUFFIX = ".partial"  # finished passes of an interrupted analysis, beside the output
STORE_IDENTITY = ("n_samples", "latent_dim", "rows_per_chunk", "model", "source")


def write_pairs_table(result: Analysis, url: str) -> None:
    """One row per pair and coordinate system, sortable by `score`."""
    import pyarrow as pa

    from lsf.data.shards import write_table

    tables = [pa.table(p.table) for p in result.pairs]
    if tables:
        write_table(pa.concat_tables(tables), url)


def top_pairs(result: Analysis, count: int = 10) -> dict:
    """The pairs that deviate most from a bivariate normal, per coordinate system."""
    top = {}
    for p in result.pairs:
        order = np.argsort(-np.asarray(p.table["score"]), kind="stable")[:count]
        top[p.coordinates] = [
            {"i": p.table["i"][k], "j": p.table["j"][k], "score": p.table["score"][k]}
            for k in order
        ]
    return top


def analysis_arrays(result: Analysis) -> dict[str, np.ndarray]:
    """Every array of analysis.zarr except the pair counts (`ZarrPairSink` streams those)."""
    m, fits, pca, normality = result.moments, result.fits, result.pca, result.normality
    arrays = {
        "count": np.array([m.count]),
        "mean": m.mean,
        "cov": m.cov,
        "corr": m.corr,
        "min": m.min,
        "max": m.max,
        "skewness": m.skewness,
        "excess_kurtosis": m.excess_kurtosis,
        "hist1d_counts": fits.hist["counts"],
        "hist1d_underflow": fits.hist["under"],
        "hist1d_overflow": fits.hist["over"],
        "hist1d_edges": fits.edges,
        "dominant": fits.dominant,
        "trim_facts": result.trimming.facts,
        "trim_survivors": result.trimming.survivors,
        "pca_mean": pca.model.mean,
        "pca_components": pca.model.components,
        "explained_variance": pca.model.explained_variance,
        "explained_variance_ratio": pca.model.explained_variance_ratio,
        "cumulative_explained_variance_ratio": pca.model.cumulative_ratio,
        "pca_corr": pca.moments.corr,
        "pca_hist1d_counts": pca.hist["counts"],
        "pca_hist1d_edges": pca.hist_edges,
        "mahalanobis_chi2_quantiles": normality.qq[0],
        "mahalanobis_observed_quantiles": normality.qq[1],
        "coverage_levels": normality.coverage.levels,
        "coverage_radii_squared": normality.coverage.radii_squared,
        "coverage_observed": normality.coverage.observed,
    }
    arrays.update(fact_arrays(result))
    arrays["pca_skewness"] = pca.moments.skewness
    arrays["pca_flank_excess"] = pca_flank_excess(pca.hist_edges, pca.hist["counts"], pca.fits)
    for pairs in result.pairs:
        prefix = "" if pairs.coordinates == "original" else "pca_"
        arrays[f"{prefix}pairs"] = pairs.pairs
        arrays[f"{prefix}pair_edges"] = pairs.edges
    for prefix, f in (("fit", fits.gaussians), ("pca_fit", pca.fits)):
        for name in ("amplitude", "mu", "sigma", "fwhm", "residual", "ok"):
            arrays[f"{prefix}_{name}"] = getattr(f, name)
    return arrays


def fact_arrays(result: Analysis) -> dict[str, np.ndarray]:
    """`fact_count [F]`, `fact_mean [F, D]`, `fact_cov [F, D, D]` (NaN where a fact keeps
    fewer than 2 rows) and the fact sweep's arrays (see DESIGN.md, analysis.zarr)."""
    d = result.latent_dim
    moments = result.trimming.fact_moments
    nan_mean, nan_cov = np.full(d, np.nan), np.full((d, d), np.nan)
    sweep = result.sweep
    return {
        "fact_count": result.trimming.survivors.astype(np.int64),
        "fact_mean": np.stack([nan_mean if m is None else m.mean for m in moments]),
        "fact_cov": np.stack([nan_cov if m is None else m.cov for m in moments]),
        "fact_explained_variance_ratio": sweep.explained_variance_ratio,
        "fact_axis_angles": sweep.axis_angles,
        "sweep_pairs": sweep.pairs,
        "core_alignment": sweep.core_alignment,
        "fact_pair_edges": sweep.pair_edges,
        "fact_pair_counts": sweep.pair_counts.astype(np.uint32),
    }


def ids_at(ids, rows: np.ndarray) -> np.ndarray:
    """Source ids of store `rows` (-1 where the row is -1)."""
    rows = np.asarray(rows, dtype=np.int64)
    out = np.full(rows.shape, -1, dtype=np.int64)
    kept = rows >= 0
    if kept.any():
        out[kept] = np.asarray(ids.get_coordinate_selection(rows[kept]))
    return out


def write_regions(group, result: Analysis, ids, rows_per_chunk: int) -> None:
    """The regions/ group of analysis.zarr: the fragmentation arrays and every row's label."""
    write_fragmentation(group, result.fragmentation)
    labels = write_labels(group, result.n_samples, rows_per_chunk)
    for start in range(0, result.n_samples, rows_per_chunk):
        labels[start : start + rows_per_chunk] = result.region_labels[
            start : start + rows_per_chunk
        ]


def outlier_arrays(result: Analysis, ids) -> dict[str, np.ndarray]:
    """Rows, source ids and values of the most extreme and the most typical rows; `ids` is
    the store's `id` array (read only at those rows)."""
    o = result.outliers

    def ids_of(rows):
        rows = np.asarray(rows, dtype=np.int64)
        return np.asarray(ids.get_coordinate_selection(rows)) if len(rows) else rows

    return {
        "outlier_rows_d2": o.rows_d2,
        "outlier_ids_d2": ids_of(o.rows_d2),
        "outlier_d2": o.d2,
        "outlier_rows_trim": o.rows_trim,
        "outlier_ids_trim": ids_of(o.rows_trim),
        "outlier_trim_radius": o.trim_radius,
        "typical_rows": o.typical_rows,
        "typical_ids": ids_of(o.typical_rows),
        "typical_d2": o.typical_d2,
    }


class ZarrPairSink:
    """Pair counts written into `pair_counts` / `pca_pair_counts` of analysis.zarr block by
    block as the pair pass finishes them (chunks of 1024 pairs)."""

    def __init__(self, group):
        self.group = group

    @staticmethod
    def name(coordinates: str) -> str:
        return "pair_counts" if coordinates == "original" else "pca_pair_counts"

    def open(self, coordinates: str, shape: tuple[int, int, int]) -> None:
        self.group.create_array(
            self.name(coordinates), shape=shape, dtype=np.uint32, chunks=(1024, *shape[1:])
        )

    def write(self, coordinates: str, start: int, counts: np.ndarray) -> None:
        self.group[self.name(coordinates)][start : start + len(counts)] = counts

    def counts(self, coordinates: str):
        return self.group[self.name(coordinates)]


@dataclass
class AnalyzeSummary:
    out: str
    n_samples: int
    seconds: float
    summary: dict

    def __str__(self) -> str:
        pca = self.summary["pca"]
        lines = [
            f"analysed {self.n_samples} latents in {self.seconds:.1f} s: PCA ({pca['basis']}) "
            f"needs {pca['components_for']['0.9']} components for 90% of the variance, max "
            f"|off-diagonal correlation| in PCA coordinates "
            f"{pca['max_abs_off_diagonal_correlation']:.1e}; {self.out}/summary.json"
        ]
        fragmentation = self.summary.get("fragmentation")
        if fragmentation:
            lines.append(f"fragmentation: {fragmentation['verdict']}")
        lines += [f"warning: {w}" for w in self.summary.get("warnings", [])]
        return "\n".join(lines)


def is_complete(out: str) -> bool:
    """An analysis is complete once its folder exists: it is written whole, then renamed."""
    return exists(join(out, SUMMARY))


@locks_output("out")
def analyze(
    config: AnalyzeConfig,
    latents: str,
    out: str,
    *,
    overwrite: bool = False,
    address: str | None = None,
    progress: Progress = TERMINAL,
) -> AnalyzeSummary:
    """Analyse the complete store `latents` and write `out/` atomically."""
    started = time.perf_counter()
    check_output(out, overwrite)
    store = open_store(latents)
    store_attrs = dict(store.attrs)
    z, split = open_latents(latents), open_split(latents)
    check_settings(config, *z.shape)  # bad regions settings: refused before any read
    check_pairs(config, z.shape[1])  # and pairs beyond the latent dimension
    checkpoints = PassCheckpoints(
        out.rstrip("/") + PARTIAL_SUFFIX,
        {
            "lsf_version": __version__,
            "store": {k: store_attrs.get(k) for k in STORE_IDENTITY},
            "config": as_dict(config),
        },
    )
    with atomic_output_dir(out, overwrite) as tmp:
        group = zarr.open_group(zarr_location(join(tmp, ARRAYS)), mode="w", zarr_format=3)
        result = analyze_latents(
            z,
            config,
            split=split,
            scheduler=scheduler_for(address),
            progress=progress,
            checkpoints=checkpoints,
            sink=ZarrPairSink(group),
        )
        if result.fragmentation is not None:
            frag = result.fragmentation
            frag.nearest_ids = ids_at(store[ID], frag.nearest_rows)
            write_regions(group, result, store[ID], int(store_attrs.get("rows_per_chunk") or 4096))
        summary = {
            "lsf_version": __version__,
            "latents": {"path": latents, "model": store_attrs.get("model")},
            "config": as_dict(config),
            **summary_of(result),
            "least_elliptic_pairs": top_pairs(result),
        }
        arrays = {**analysis_arrays(result), **outlier_arrays(result, store[ID])}
        for name, values in arrays.items():
            group.create_array(name, data=np.asarray(values), chunks="auto")
        write_pairs_table(result, join(tmp, PAIRS))
        group.attrs.update({"lsf_version": __version__, "latent_dim": result.latent_dim})
        write_json_atomic(join(tmp, SUMMARY), summary)
    checkpoints.clear()
    return AnalyzeSummary(out, result.n_samples, time.perf_counter() - started, summary)


def load_analysis(path: str) -> tuple[dict[str, np.ndarray], dict]:
    """`(arrays, summary)` of an analysis folder written by `lsf analyze`."""
    if not exists(join(path, SUMMARY)) or not exists(join(path, ARRAYS)):
        raise LsfError(f"no analysis at {path}; run `lsf analyze` first")
    group = zarr.open_group(zarr_location(join(path, ARRAYS)), mode="r")
    arrays = {name: group[name][...] for name in group.array_keys()}
    return arrays, read_json(join(path, SUMMARY))
