"""The typed result of `lsf analyze`'s regions pass: how many regions the latents fill, their
sizes, shapes and the gaps between them (the fragmentation contract, read back by generate,
report and explore as `StoredAnalysis.fragmentation` of `lsf.stats.analysis_store`).

R regions, M mixture components, K PCA components the regions live in, D latent dim, S map
sample rows. A row is in region r when its squared Mahalanobis distance to region r
(`score_means[r]`, `score_covariances[r]`, PCA coordinates) is at most `radius2[r]`; the
row labels themselves live in `regions/label` of analysis.zarr (-1: outside every region).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

COVERAGE_LEVELS = (0.5, 0.9, 0.99)
RADIUS_LEVEL = 0.999  # chi2(K) level of a region's radius (the row labels)
INSIDE_LEVEL = 0.99  # chi2(K) level of "inside some region" (the inside shares)
INSIDE_KEYS = ("uniform-box", "mvn", "real")


@dataclass
class Fragmentation:
    components: int  # K
    pca_mean: np.ndarray  # [D]
    pca_components: np.ndarray  # [K, D]: PCA coordinates = (z - pca_mean) @ pca_components.T
    bic: np.ndarray  # [max_k] BIC for k = 1..max_k (NaN where not fitted)
    chosen_k: int
    mixture_weights: np.ndarray  # [M]
    mixture_means: np.ndarray  # [M, K]
    mixture_covariances: np.ndarray  # [M, K, K]
    component_region: np.ndarray  # [M] int: region of each mixture component
    merges: list  # [(component a, component b, ridgeline dip ratio)] in merge order
    counts: np.ndarray  # [R] int64 analysed rows labelled r
    outside: int  # analysed rows labelled -1
    shares: np.ndarray  # [R] counts / rows analysed
    means: np.ndarray  # [R, D] streamed moments of the rows labelled r (latent coordinates)
    covariances: np.ndarray  # [R, D, D]
    score_means: np.ndarray  # [R, K] the region's normal in PCA coordinates (the labels' model)
    score_covariances: np.ndarray  # [R, K, K]
    radius2: np.ndarray  # [R] chi2(K).ppf(RADIUS_LEVEL)
    coverage_levels: np.ndarray  # [3] COVERAGE_LEVELS
    coverage: np.ndarray  # [R, 3] share of the rows closest to r inside each chi2(K) level
    explained_variance_ratio: np.ndarray  # [R, D] each region's own PCA
    components_80: np.ndarray  # [R] int: its components for 80 % of its variance
    extent: np.ndarray  # [R, K] std along the region's own principal axes (PCA coords, desc)
    gap: np.ndarray  # [R, R] lowest mixture density on the centre segment / smaller peak
    separation: np.ndarray  # [R, R] Mahalanobis separation of the centres
    hdbscan_clusters: int
    hdbscan_noise_share: float
    adjusted_rand: float
    inside: dict  # "uniform-box", "mvn", "real" -> share inside some region's 0.99 radius
    nearest_rows: np.ndarray  # [R, k] int64 store rows nearest each centre (-1 padding)
    nearest_ids: np.ndarray  # [R, k] int64 their source ids (-1 padding)
    sample_scores: np.ndarray  # [S, K] float32 a labelled seeded sample for maps
    sample_labels: np.ndarray  # [S] int16
    warnings: list = field(default_factory=list)
    # added beyond the contract's list
    parameters: dict = field(default_factory=dict)  # method and its parameters (summary)
    verdict: str = ""  # one line: "k regions; the largest holds x % ...; the narrowest gap ..."
    peaks: np.ndarray | None = None  # [R] mixture density peak of each region (log)
    ridgeline: np.ndarray | None = None  # [M, M] ridgeline dip ratio of every component pair
    sample_rows: np.ndarray | None = None  # [S] int64 store rows of the map sample

    @property
    def regions(self) -> int:
        return len(self.counts)

    @property
    def dim(self) -> int:
        return len(self.pca_mean)
