"""The result types of `lsf analyze` (`lsf.stats.analysis.analyze_latents` returns an
`Analysis`): fits, trimming, PCA basis and result, normality, outliers, the fact sweep, the
pair results, the regions fit and the row selection, each as computed from the store's three
reads. Plain dataclasses of NumPy arrays; `lsf.stats.summary` and `lsf.stats.analysis_store`
turn them into summary.json and analysis.zarr. They sit below the passes and the graph code:
this module imports only the statistics' own types.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lsf.stats.chunk_steps import BasisRows
from lsf.stats.fits import GaussianFits
from lsf.stats.fragmentation import Fragmentation
from lsf.stats.moments import Moments
from lsf.stats.normality import Coverage, Mardia
from lsf.stats.pca import PCA
from lsf.stats.region_steps import RegionPlan


@dataclass
class Fits:
    edges: np.ndarray  # [D, B+1]
    hist: dict  # counts [D, B], under [D], over [D]
    gaussians: GaussianFits
    dominant: np.ndarray


@dataclass
class Trimming:
    facts: np.ndarray
    survivors: np.ndarray  # per fact
    fact_moments: list  # per fact: Moments of its survivors (None: fewer than 2)
    top_radius: dict  # rows and trim radii of the rows of largest trim radius


@dataclass
class Basis:
    """The rows the PCA is computed on, and how to recognise them in any chunk."""

    moments: Moments
    name: str
    rows: BasisRows
    survivors: int  # rows surviving the basis trim fact (the PCA sample is drawn from them)
    extra_read: bool  # the PCA sample's key band missed and one more read was needed


@dataclass
class PcaResult:
    model: PCA
    basis: str  # which rows the basis was computed on
    rows: int
    moments: Moments  # moments of the basis rows in PCA coordinates
    hist_edges: np.ndarray
    hist: dict
    fits: GaussianFits
    hist_rows: int  # rows of the PCA-coordinate histograms


@dataclass
class Normality:
    dof: int
    qq: tuple[np.ndarray, np.ndarray]  # chi2 quantiles, observed d^2 quantiles
    coverage: Coverage
    mardia: Mardia
    rows: int


@dataclass
class Outliers:
    rows_d2: np.ndarray
    d2: np.ndarray
    rows_trim: np.ndarray
    trim_radius: np.ndarray
    typical_rows: np.ndarray
    typical_d2: np.ndarray


@dataclass
class PairResults:
    coordinates: str  # "original" or "pca"
    pairs: np.ndarray  # [P, 2]
    edges: np.ndarray  # [D, B+1] per-component grid
    counts: object  # [P, B, B] uint32: an array, or the sink's (e.g. Zarr) array
    rows: int  # finite rows counted (the KDE's n)
    table: dict  # column name -> [P] values (the rows of pairs.parquet)
    selection: str = ""  # which pairs and why (`lsf.stats.selection.choose_pairs`)
    kde_cov: np.ndarray | None = None  # [D, D] whose 2x2 blocks shape the KDE kernels


@dataclass
class RegionsFit:
    """Everything the regions pass (`lsf.stats.regions_pass`) knows before the third read;
    `lsf.stats.region_results` turns it and the read's region sums into a `Fragmentation`."""

    plan: RegionPlan
    components: int
    bic: np.ndarray
    chosen_k: int
    ratios: np.ndarray
    merges: list
    peaks: np.ndarray
    gap: np.ndarray
    separation: np.ndarray
    hdbscan: dict
    inside: dict
    sample_scores: np.ndarray
    sample_labels: np.ndarray
    sample_rows: np.ndarray
    parameters: dict
    warnings: list = field(default_factory=list)


@dataclass
class Selection:
    split: str
    selected: int  # rows of the split (finite or not)
    total: int  # rows of the store


@dataclass
class FactSweep:
    """Every fact's survivor PCA against the chosen basis, and its core alignment per pair."""

    pairs: np.ndarray  # [P, 2] sweep pairs among the first K basis PCA components
    explained_variance_ratio: np.ndarray  # [F, D]
    axis_angles: np.ndarray  # [F, K] degrees
    core_alignment: np.ndarray  # [F, P] degrees
    pair_edges: np.ndarray  # [P, 2, B+1]
    pair_counts: np.ndarray  # [F, P, B, B] uint32
    summary: dict  # summary.json's fact_sweep block


@dataclass
class Analysis:
    n_samples: int
    latent_dim: int
    moments: Moments
    fits: Fits
    trimming: Trimming
    pca: PcaResult
    normality: Normality
    pairs: list[PairResults]  # per coordinate system
    seconds: float
    selection: Selection
    outliers: Outliers
    origin: dict
    row_sets: dict
    sweep: FactSweep
    reads: list = field(default_factory=list)  # one label per read of the store
    fragmentation: Fragmentation | None = None  # the regions pass (None: off)
    region_labels: np.ndarray | None = None  # int16 [n] region of every store row (-1: none)
    warnings: list = field(default_factory=list)  # results resting on too few rows, fallbacks
