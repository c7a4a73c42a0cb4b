"""The analysis folder contract: what `lsf analyze` writes to ANALYSIS/ and how every reader
reads it back, as typed views.

ANALYSIS/ holds `analysis.zarr` (arrays, each with `dimension_names`, so
`xarray.open_zarr(ANALYSIS/analysis.zarr)` opens it), `summary.json` (headline numbers) and
`pairs.parquet` (one row per pair). `write_analysis` writes an `Analysis`; `read(path)` gives
a `StoredAnalysis` whose views (`.moments`, `.fits`, `.trimming`, `.pca`, `.pairs(system)`,
`.normality`, `.fact_sweep`, `.outliers`, `.origin`, `.fragmentation`) carry what the
analysis computed *and what it used* (the rows and the KDE covariance of each pair system),
so no reader re-derives them from the config copy. A folder of another format (one written
before this contract) is refused in one line. README "The analysis folder" is the prose.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import zarr

from lsf.core.config import AnalyzeConfig
from lsf.core.errors import LsfError
from lsf.core.outputs import exists, join, read_json, write_json_atomic, zarr_location
from lsf.stats.fits import GaussianFits
from lsf.stats.fragmentation import Fragmentation
from lsf.stats.fragmentation_store import (
    read_fragmentation,
    read_labels,
    write_fragmentation,
    write_labels,
)
from lsf.stats.moments import Moments
from lsf.stats.normality import Coverage, Mardia
from lsf.stats.pairs import scott_factor
from lsf.stats.pca import PCA
from lsf.stats.quadratic import basis_covariance, pair_covariance, projected_covariance
from lsf.stats.results import Analysis

ARRAYS = "analysis.zarr"
SUMMARY = "summary.json"
PAIRS = "pairs.parquet"
FORMAT_KEY = "analysis_format"  # analysis.zarr attribute
FORMAT = 2  # 1 (no attribute): written before this contract, without the pair KDE inputs
SYSTEMS = ("original", "pca")  # the coordinate systems of the pair grids
PREFIX = {"original": "", "pca": "pca_"}  # the arrays of the PCA system start with `pca_`

# Every array of analysis.zarr (the `regions/` group: lsf.stats.fragmentation_store) and its
# dimension names; one name per axis meaning, so names of equal meaning have equal lengths.
# component/component_j: latent components (D); pca_component/pca_component_j: PCA axes (D);
# bin/bin_edge: the 1D histograms (B, B+1); pca_bin/pca_bin_edge: those in PCA coordinates;
# pair/pca_pair: the counted pairs of each system; pair_bin/pair_bin_j/pair_bin_edge: the
# pair grids (pair_bins); end: the two components of a pair; fact: the trimming facts;
# sweep_pair/sweep_component: the fact sweep's pairs and first components; level: coverage
# levels; quantile: the Q-Q grid; outlier/trim_outlier/typical: the rows of largest d^2, of
# largest trim radius and of d^2 nearest the median.
DIMENSIONS: dict[str, tuple[str, ...]] = {
    "count": (),
    "mean": ("component",),
    "cov": ("component", "component_j"),
    "corr": ("component", "component_j"),
    "min": ("component",),
    "max": ("component",),
    "skewness": ("component",),
    "excess_kurtosis": ("component",),
    "hist1d_counts": ("component", "bin"),
    "hist1d_underflow": ("component",),
    "hist1d_overflow": ("component",),
    "hist1d_edges": ("component", "bin_edge"),
    "dominant": ("component",),
    **{f"fit_{n}": ("component",) for n in ("amplitude", "mu", "sigma", "fwhm", "residual", "ok")},
    "trim_facts": ("fact",),
    "trim_survivors": ("fact",),
    "fact_count": ("fact",),
    "fact_mean": ("fact", "component"),
    "fact_cov": ("fact", "component", "component_j"),
    "fact_explained_variance_ratio": ("fact", "pca_component"),
    "fact_axis_angles": ("fact", "sweep_component"),
    "sweep_pairs": ("sweep_pair", "end"),
    "core_alignment": ("fact", "sweep_pair"),
    "fact_pair_edges": ("sweep_pair", "end", "pair_bin_edge"),
    "fact_pair_counts": ("fact", "sweep_pair", "pair_bin", "pair_bin_j"),
    "pca_mean": ("component",),
    "pca_components": ("pca_component", "component"),
    "explained_variance": ("pca_component",),
    "explained_variance_ratio": ("pca_component",),
    "cumulative_explained_variance_ratio": ("pca_component",),
    "pca_corr": ("pca_component", "pca_component_j"),
    "pca_skewness": ("pca_component",),
    "pca_flank_excess": ("pca_component",),
    "pca_hist1d_counts": ("pca_component", "pca_bin"),
    "pca_hist1d_edges": ("pca_component", "pca_bin_edge"),
    **{
        f"pca_fit_{n}": ("pca_component",)
        for n in ("amplitude", "mu", "sigma", "fwhm", "residual", "ok")
    },
    "mahalanobis_chi2_quantiles": ("quantile",),
    "mahalanobis_observed_quantiles": ("quantile",),
    "coverage_levels": ("level",),
    "coverage_radii_squared": ("level",),
    "coverage_observed": ("level",),
    "pairs": ("pair", "end"),
    "pair_edges": ("component", "pair_bin_edge"),
    "pair_counts": ("pair", "pair_bin", "pair_bin_j"),
    "pair_rows": (),
    "pair_kde_cov": ("component", "component_j"),
    "pca_pairs": ("pca_pair", "end"),
    "pca_pair_edges": ("pca_component", "pair_bin_edge"),
    "pca_pair_counts": ("pca_pair", "pair_bin", "pair_bin_j"),
    "pca_pair_rows": (),
    "pca_pair_kde_cov": ("pca_component", "pca_component_j"),
    **{f"outlier_{n}": ("outlier",) for n in ("rows_d2", "ids_d2", "d2")},
    **{f"outlier_{n}": ("trim_outlier",) for n in ("rows_trim", "ids_trim", "trim_radius")},
    **{f"typical_{n}": ("typical",) for n in ("rows", "ids", "d2")},
}
FIT_FIELDS = ("amplitude", "mu", "sigma", "fwhm", "residual", "ok")


# ---- the typed views ----------------------------------------------------------------------


@dataclass
class Histograms:
    edges: np.ndarray  # [D, B+1] per-component grid (robust range)
    counts: np.ndarray  # [D, B] int64
    underflow: np.ndarray | None = None  # [D] rows below the first edge (original only)
    overflow: np.ndarray | None = None  # [D] rows above the last edge


@dataclass
class StoredFits:
    hist: Histograms
    gaussians: GaussianFits  # per component
    dominant: np.ndarray  # [D] bool


@dataclass
class StoredTrimming:
    facts: np.ndarray  # [F] ascending
    survivors: np.ndarray  # [F] rows inside mu_j +- fact * FWHM_j for every j
    mean: np.ndarray  # [F, D] survivor mean (NaN where a fact keeps fewer than 2 rows)
    cov: np.ndarray  # [F, D, D] survivor covariance (same)
    trim_fact: float | None  # the fact of the PCA basis (None: all rows)


@dataclass
class StoredPca:
    model: PCA  # fitted on the basis rows
    basis: str  # which rows, in words
    rows: int  # rows of the basis
    corr: np.ndarray  # [D, D] correlation in PCA coordinates (of those rows)
    skewness: np.ndarray  # [D] per PCA component
    flank_excess: np.ndarray  # [D]
    hist: Histograms
    fits: GaussianFits


@dataclass
class StoredNormality:
    dof: int  # the PCA rank
    chi2_quantiles: np.ndarray  # [Q]
    observed_quantiles: np.ndarray  # [Q] of d^2
    coverage: Coverage
    mardia: Mardia


@dataclass
class StoredPairs:
    """One coordinate system's pair grids and the KDE inputs the analysis scored them with:
    kernel covariance of (i, j) = `scott_factor(rows)^2 * kde_covariance(i, j)`."""

    system: str  # "original" or "pca"
    pairs: np.ndarray  # [P, 2] counted pairs, i < j
    edges: np.ndarray  # [D, B+1] per-component grid
    counts: object  # [P, B, B] uint32 zarr array (read a pair at a time)
    rows: int  # rows behind the counts (the KDE's n)
    kde_cov: np.ndarray  # [D, D] covariance whose 2x2 blocks shape the kernels

    @cached_property
    def _index(self) -> dict:
        return {(int(i), int(j)): k for k, (i, j) in enumerate(self.pairs)}

    @property
    def factor(self) -> float:
        """Scott bandwidth factor of the counted rows."""
        return scott_factor(self.rows)

    def find(self, i: int, j: int) -> int | None:
        """Index of the pair {i, j} in `pairs`, or None when it was not counted."""
        return self._index.get((min(i, j), max(i, j)))

    def grid(self, i: int, j: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """`(counts [B, B] with i along axis 0, edges of i, edges of j)`, or None."""
        k = self.find(i, j)
        if k is None:
            return None
        counts = np.asarray(self.counts[k])
        return (counts.T if i > j else counts), self.edges[i], self.edges[j]

    def kde_covariance(self, i: int, j: int) -> np.ndarray:
        """The 2x2 covariance the analysis's KDE of (i, j) used."""
        return pair_covariance(self.kde_cov, i, j)


@dataclass
class StoredFactSweep:
    facts: np.ndarray  # [F]
    count: np.ndarray  # [F] survivors
    pairs: np.ndarray  # [P, 2] among the first K basis PCA components
    explained_variance_ratio: np.ndarray  # [F, D] of each fact's survivor PCA
    axis_angles: np.ndarray  # [F, K] degrees
    core_alignment: np.ndarray  # [F, P] degrees
    pair_edges: np.ndarray  # [P, 2, B+1]
    pair_counts: object  # [F, P, B, B] uint32 zarr array
    summary: dict  # summary.json's fact_sweep block


@dataclass
class StoredOutliers:
    rows_d2: np.ndarray  # store rows of largest d^2
    ids_d2: np.ndarray  # their source ids
    d2: np.ndarray
    rows_trim: np.ndarray  # store rows of largest trim radius
    ids_trim: np.ndarray
    trim_radius: np.ndarray
    typical_rows: np.ndarray  # store rows of d^2 nearest the median
    typical_ids: np.ndarray
    typical_d2: np.ndarray


@dataclass
class Headline:
    """summary.json's headline numbers."""

    finite_rows: int  # rows with every component finite (the moments' count)
    non_finite_rows: int  # selected rows skipped for a NaN or inf
    max_abs_correlation: float  # max |off-diagonal| of the correlation between components
    fitted: int  # components whose Gaussian fit converged
    dominant_components: list[int]
    components_for: dict[str, int]  # "0.8" -> PCA components holding 80 % of the variance
    max_abs_off_diagonal_correlation: float  # in PCA coordinates (0 for a perfect PCA)


@dataclass
class RowSelection:
    split: str  # "all", "train", "validation" or "test"
    selected: int  # rows of the split (finite or not)
    total: int  # rows of the store


@dataclass
class StudyClaim:
    claim: str
    study: object  # the study's value (a number, a range or a list)
    this_run: object  # this run's value (None when it has none)
    tolerance: str
    agrees: bool | None  # None without a value


@dataclass
class PairScore:
    i: int
    j: int
    score: float | None  # non-ellipticity (None: a pair with a zero-variance component)


# ---- the writer ---------------------------------------------------------------------------


def _fits_arrays(prefix: str, fits: GaussianFits) -> dict:
    return {f"{prefix}_{name}": getattr(fits, name) for name in FIT_FIELDS}


def analysis_arrays(result: Analysis) -> dict[str, np.ndarray]:
    """Every array of analysis.zarr except the pair counts (`ZarrPairSink` streams those)
    and the outliers (`outlier_arrays`)."""
    from lsf.stats.origin import pca_flank_excess

    m, fits, pca, normality = result.moments, result.fits, result.pca, result.normality
    arrays = {
        "count": np.asarray(m.count, dtype=np.int64),
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
        "pca_skewness": pca.moments.skewness,
        "pca_flank_excess": pca_flank_excess(pca.hist_edges, pca.hist["counts"], pca.fits),
        **fact_arrays(result),
        **_fits_arrays("fit", fits.gaussians),
        **_fits_arrays("pca_fit", pca.fits),
    }
    for pairs in result.pairs:
        prefix = PREFIX[pairs.coordinates]
        arrays[f"{prefix}pairs"] = pairs.pairs
        arrays[f"{prefix}pair_edges"] = pairs.edges
        arrays[f"{prefix}pair_rows"] = np.asarray(pairs.rows, dtype=np.int64)
        arrays[f"{prefix}pair_kde_cov"] = pairs.kde_cov
    return arrays


def fact_arrays(result: Analysis) -> dict[str, np.ndarray]:
    """`fact_count [F]`, `fact_mean [F, D]`, `fact_cov [F, D, D]` (NaN where a fact keeps
    fewer than 2 rows) and the fact sweep's arrays."""
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
    """Source ids of store `rows` from the store's `id` array (-1 where the row is -1)."""
    rows = np.asarray(rows, dtype=np.int64)
    out = np.full(rows.shape, -1, dtype=np.int64)
    kept = rows >= 0
    if kept.any():
        out[kept] = np.asarray(ids.get_coordinate_selection(rows[kept]))
    return out


def outlier_arrays(result: Analysis, ids) -> dict[str, np.ndarray]:
    """Rows, source ids and values of the most extreme and the most typical rows; `ids` is
    the store's `id` array (read only at those rows)."""
    o = result.outliers
    return {
        "outlier_rows_d2": o.rows_d2,
        "outlier_ids_d2": ids_at(ids, o.rows_d2),
        "outlier_d2": o.d2,
        "outlier_rows_trim": o.rows_trim,
        "outlier_ids_trim": ids_at(ids, o.rows_trim),
        "outlier_trim_radius": o.trim_radius,
        "typical_rows": o.typical_rows,
        "typical_ids": ids_at(ids, o.typical_rows),
        "typical_d2": o.typical_d2,
    }


def write_array(group, name: str, values) -> None:
    """One array of analysis.zarr with its `dimension_names`."""
    group.create_array(
        name, data=np.asarray(values), chunks="auto", dimension_names=DIMENSIONS[name]
    )


class ZarrPairSink:
    """Pair counts written into `pair_counts` / `pca_pair_counts` of analysis.zarr block by
    block as the pair pass finishes them (chunks of 1024 pairs)."""

    def __init__(self, group):
        self.group = group

    @staticmethod
    def name(coordinates: str) -> str:
        return f"{PREFIX[coordinates]}pair_counts"

    def open(self, coordinates: str, shape: tuple[int, int, int]) -> None:
        name = self.name(coordinates)
        self.group.create_array(
            name,
            shape=shape,
            dtype=np.uint32,
            chunks=(1024, *shape[1:]),
            dimension_names=DIMENSIONS[name],
        )

    def write(self, coordinates: str, start: int, counts: np.ndarray) -> None:
        self.group[self.name(coordinates)][start : start + len(counts)] = counts

    def counts(self, coordinates: str):
        return self.group[self.name(coordinates)]


def open_for_writing(folder: str):
    """The new analysis.zarr group of `folder` (the pair sink writes into it first)."""
    return zarr.open_group(zarr_location(join(folder, ARRAYS)), mode="w", zarr_format=3)


def write_pairs_table(result: Analysis, url: str) -> None:
    """pairs.parquet: one row per pair and coordinate system, sortable by `score`."""
    import pyarrow as pa

    from lsf.data.shards import write_table

    tables = [pa.table(p.table) for p in result.pairs]
    if tables:
        write_table(pa.concat_tables(tables), url)


def write_analysis(
    folder: str, group, result: Analysis, summary: dict, ids, rows_per_chunk: int, version: str
) -> None:
    """Everything but the pair counts (already in `group`): the arrays, the regions group
    and row labels, pairs.parquet, summary.json, and last the format attributes."""
    if result.fragmentation is not None:
        write_fragmentation(group, result.fragmentation)
        labels = write_labels(group, result.n_samples, rows_per_chunk)
        for start in range(0, result.n_samples, rows_per_chunk):
            stop = start + rows_per_chunk
            labels[start:stop] = result.region_labels[start:stop]
    for name, values in {**analysis_arrays(result), **outlier_arrays(result, ids)}.items():
        write_array(group, name, values)
    write_pairs_table(result, join(folder, PAIRS))
    group.attrs.update(
        {"lsf_version": version, "latent_dim": result.latent_dim, FORMAT_KEY: FORMAT}
    )
    write_json_atomic(join(folder, SUMMARY), summary)


# ---- the reader ---------------------------------------------------------------------------


def _config_of(block: dict) -> AnalyzeConfig:
    names = {f.name for f in dataclasses.fields(AnalyzeConfig)}
    return AnalyzeConfig(**{k: v for k, v in block.items() if k in names})


class StoredAnalysis:
    """An analysis folder opened for reading (`read`): arrays are read when a view is first
    asked for; pair counts stay on disk and are read a pair at a time."""

    def __init__(self, path: str, group, summary: dict):
        self.path, self.group, self.summary = path, group, summary
        self.config = _config_of(summary.get("config", {}))  # the settings it ran with
        self.n_samples = int(summary["n_samples"])
        self.latent_dim = int(group.attrs["latent_dim"])
        self.latents_path = str(summary["latents"]["path"])  # the latent store analysed
        self.model = summary["latents"].get("model") or {}  # the store's model record

    @classmethod
    def from_views(cls, latent_dim: int, summary: dict | None = None, **views) -> StoredAnalysis:
        """An analysis held in memory (tests, tools): the given views, e.g. `moments=`,
        `fits=`, `pca=`, and `pairs={"original": StoredPairs, "pca": None}`."""
        a = cls.__new__(cls)
        a.path, a.group, a.summary = "", None, summary or {}
        a.config = _config_of(a.summary.get("config", {}))
        a.n_samples, a.latent_dim, a.latents_path, a.model = 0, latent_dim, "", {}
        if "pairs" in views:
            given = views.pop("pairs")
            views["_pairs"] = {system: given.get(system) for system in SYSTEMS}
        a.__dict__.update(views)  # cached_property views read the instance dict first
        return a

    def _get(self, name: str) -> np.ndarray:
        return self.group[name][...]

    def has(self, name: str) -> bool:
        return name in self.group.array_keys()

    def _fits(self, prefix: str) -> GaussianFits:
        values = {n: self._get(f"{prefix}_{n}") for n in FIT_FIELDS}
        values["ok"] = values["ok"].astype(bool)
        return GaussianFits(**values)

    @cached_property
    def moments(self) -> Moments:
        """Moments of every finite selected row (float64)."""
        names = ("mean", "cov", "corr", "min", "max", "skewness", "excess_kurtosis")
        return Moments(
            count=int(self._get("count")),
            **{n: self._get(n) for n in names},
            non_finite_rows=int(self.summary.get("non_finite_rows", 0)),
        )

    @cached_property
    def fits(self) -> StoredFits:
        hist = Histograms(
            self._get("hist1d_edges"),
            self._get("hist1d_counts"),
            self._get("hist1d_underflow"),
            self._get("hist1d_overflow"),
        )
        return StoredFits(hist, self._fits("fit"), self._get("dominant").astype(bool))

    @cached_property
    def trimming(self) -> StoredTrimming:
        return StoredTrimming(
            self._get("trim_facts"),
            self._get("trim_survivors"),
            self._get("fact_mean"),
            self._get("fact_cov"),
            self.config.trim_fact,
        )

    @cached_property
    def pca(self) -> StoredPca:
        block = self.summary["pca"]
        model = PCA(
            mean=self._get("pca_mean"),
            components=self._get("pca_components"),
            explained_variance=self._get("explained_variance"),
            explained_variance_ratio=self._get("explained_variance_ratio"),
            cumulative_ratio=self._get("cumulative_explained_variance_ratio"),
            rank=int(block["rank"]),
        )
        return StoredPca(
            model=model,
            basis=str(block["basis"]),
            rows=int(block["rows"]),
            corr=self._get("pca_corr"),
            skewness=self._get("pca_skewness"),
            flank_excess=self._get("pca_flank_excess"),
            hist=Histograms(self._get("pca_hist1d_edges"), self._get("pca_hist1d_counts")),
            fits=self._fits("pca_fit"),
        )

    @cached_property
    def normality(self) -> StoredNormality:
        block = self.summary["normality"]
        return StoredNormality(
            dof=int(block["dof"]),
            chi2_quantiles=self._get("mahalanobis_chi2_quantiles"),
            observed_quantiles=self._get("mahalanobis_observed_quantiles"),
            coverage=Coverage(
                self._get("coverage_levels"),
                self._get("coverage_radii_squared"),
                self._get("coverage_observed"),
            ),
            mardia=Mardia(**block["mardia"]),
        )

    def pairs(self, system: str) -> StoredPairs | None:
        """The pair grids of `system` ("original" or "pca"), or None when none were counted."""
        if system not in SYSTEMS:
            raise ValueError(f"system must be one of {SYSTEMS}, got {system!r}")
        return self._pairs[system]

    @cached_property
    def _pairs(self) -> dict:
        out = {}
        for system in SYSTEMS:
            p = PREFIX[system]
            if not self.has(f"{p}pairs"):
                out[system] = None
                continue
            out[system] = StoredPairs(
                system,
                np.asarray(self._get(f"{p}pairs"), dtype=np.int64).reshape(-1, 2),
                self._get(f"{p}pair_edges"),
                self.group[f"{p}pair_counts"],
                int(self._get(f"{p}pair_rows")),
                self._get(f"{p}pair_kde_cov"),
            )
        return out

    @cached_property
    def fact_sweep(self) -> StoredFactSweep:
        return StoredFactSweep(
            facts=self._get("trim_facts"),
            count=self._get("fact_count"),
            pairs=self._get("sweep_pairs"),
            explained_variance_ratio=self._get("fact_explained_variance_ratio"),
            axis_angles=self._get("fact_axis_angles"),
            core_alignment=self._get("core_alignment"),
            pair_edges=self._get("fact_pair_edges"),
            pair_counts=self.group["fact_pair_counts"],
            summary=self.summary.get("fact_sweep") or {},
        )

    @cached_property
    def outliers(self) -> StoredOutliers:
        names = [f.name for f in dataclasses.fields(StoredOutliers)]
        return StoredOutliers(
            **{n: self._get(n if n.startswith("typical") else f"outlier_{n}") for n in names}
        )

    def all_rows(self, system: str) -> tuple[np.ndarray, np.ndarray]:
        """`(mean [D], covariance [D, D])` of every analysed row in `system`'s coordinates
        (PCA: `(z - pca mean) @ components.T`)."""
        m = self.moments
        if system == "original":
            return m.mean, m.cov
        c = self.pca.model.components
        return c @ (m.mean - self.pca.model.mean), projected_covariance(m.cov, c)

    def basis_rows(self, system: str) -> tuple[np.ndarray, np.ndarray]:
        """`(mean [D], covariance [D, D])` of the PCA basis rows in `system`'s coordinates:
        `C^T diag(v) C` around the PCA mean, or diagonal around 0 in PCA coordinates."""
        model = self.pca.model
        if system == "pca":
            return np.zeros(len(model.explained_variance)), np.diag(model.explained_variance)
        return model.mean, basis_covariance(model.components, model.explained_variance)

    @property
    def origin(self) -> dict:
        """Where the origin sits relative to the bulk (summary.json's `origin` block)."""
        return self.summary.get("origin") or {}

    @cached_property
    def headline(self) -> Headline:
        s, fits, pca = self.summary, self.summary["fits"], self.summary["pca"]
        return Headline(
            finite_rows=int(s["finite_rows"]),
            non_finite_rows=int(s["non_finite_rows"]),
            max_abs_correlation=float(s["max_abs_correlation"]),
            fitted=int(fits["fitted"]),
            dominant_components=[int(k) for k in fits["dominant_components"]],
            components_for={k: int(v) for k, v in pca["components_for"].items()},
            max_abs_off_diagonal_correlation=float(pca["max_abs_off_diagonal_correlation"]),
        )

    @property
    def rows(self) -> RowSelection:
        """Which store rows were selected (the split)."""
        return RowSelection(**self.summary["rows"])

    @property
    def row_sets(self) -> dict[str, str]:
        """Which rows each group of numbers used, in words (group -> rows)."""
        return dict(self.summary["row_sets"])

    @property
    def pair_selection(self) -> dict[str, str]:
        """system -> which pairs were counted and why."""
        return dict(self.summary.get("pair_selection") or {})

    @property
    def pair_coverage(self) -> dict[str, dict[str, list[float]]]:
        """system -> sigma ("1", "2", "3") -> [min, median, max] coverage over its pairs."""
        return dict(self.summary.get("pair_coverage") or {})

    def least_elliptic(self, system: str) -> list[PairScore]:
        """The pairs of `system` of highest non-ellipticity score, highest first."""
        rows = (self.summary.get("least_elliptic_pairs") or {}).get(system, [])
        return [PairScore(int(p["i"]), int(p["j"]), p["score"]) for p in rows]

    @property
    def study_comparison(self) -> list[StudyClaim]:
        """Each numeric claim of the original study beside this run's value."""
        return [StudyClaim(**row) for row in self.summary["study_comparison"]]

    @property
    def warnings(self) -> list[str]:
        return list(self.summary.get("warnings") or [])

    @cached_property
    def fragmentation(self) -> Fragmentation | None:
        """The regions pass's result, or None when it was off."""
        return read_fragmentation(self.group, self.summary)

    def region_labels(self):
        """The lazy `regions/label` int16 [n] zarr array (None without regions)."""
        return read_labels(self.group)

    def pairs_table(self) -> dict:
        """pairs.parquet as columns (empty when no pairs were counted)."""
        if not exists(join(self.path, PAIRS)):
            return {}
        from lsf.data.shards import read_table

        return read_table(join(self.path, PAIRS)).to_pydict()


def is_analysis(path: str) -> bool:
    return exists(join(path, SUMMARY)) and exists(join(path, ARRAYS))


def read(path: str) -> StoredAnalysis:
    """The analysis folder `path` written by `lsf analyze`; refuses a missing folder and one
    of another format, in one line that says what to run."""
    if not is_analysis(path):
        raise LsfError(f"no analysis at {path}; run `lsf analyze` first")
    group = zarr.open_group(zarr_location(join(path, ARRAYS)), mode="r")
    found = group.attrs.get(FORMAT_KEY, 1)
    if found != FORMAT:
        raise LsfError(
            f"the analysis at {path} has format {found}, this lsf reads format {FORMAT} (it "
            "records the rows and covariance its pair densities used): rerun `lsf analyze` "
            "to rewrite it"
        )
    return StoredAnalysis(path, group, read_json(join(path, SUMMARY)))
