"""The regions pass of `lsf analyze`: is the latent distribution one region or several?

Before the third read (`fit_regions`, in memory): the analysis PCA's first K coordinates of a
seeded part of read 1's row sample; Gaussian mixtures for k = 1..max_k, k by BIC
(`lsf.stats.regions`); components merged into regions by the ridgeline criterion; HDBSCAN on a
smaller part of the sample as a cross-check (adjusted Rand index); each region's peak, the
gaps and separations between regions (`lsf.stats.region_gaps`); and the share of the
`uniform-box` and `mvn` samplers' draws (`lsf.sampling.samplers`) inside some region.
During the third read (`regions_graph`): every row of the store labelled and each region's
moments summed (`lsf.stats.region_steps`). After it (`finish_regions`): the `Fragmentation`.
"""

from __future__ import annotations

import math
import time

import numpy as np
from scipy import stats

from lsf.core.errors import LsfError
from lsf.stats.fragmentation import (
    COVERAGE_LEVELS,
    INSIDE_LEVEL,
    RADIUS_LEVEL,
)
from lsf.stats.graph import tree_reduce
from lsf.stats.pca import PCA, project
from lsf.stats.region_gaps import gaps, region_peaks, separations
from lsf.stats.region_steps import RegionPlan, combine_regions, region_step
from lsf.stats.regions import (
    assign,
    closest_regions,
    fit_mixtures,
    hdbscan_labels,
    merge_components,
    region_normals,
    ridgeline_ratios,
    squared_distances,
)
from lsf.stats.results import RegionsFit

MAX_COMPONENTS = 32  # default K: the components for 90 % of the variance, at most this many
MAP_ROWS = 5000  # rows of the labelled map sample


def check_settings(config, n: int, d: int) -> None:
    """Bad regions settings, before any read: one line naming the setting."""
    if not config.regions:
        return
    if config.regions_components is not None and config.regions_components > d:
        raise LsfError(
            f"regions_components {config.regions_components} exceeds the latent dimension {d}; "
            "choose at most that many (or null for the default)"
        )
    sample = min(config.regions_sample_rows, config.sample_rows, n)
    if config.regions_max_k > sample:
        raise LsfError(
            f"regions_max_k {config.regions_max_k} exceeds the mixture sample of {sample} rows "
            f"(min of regions_sample_rows, sample_rows and the {n} rows of the store); "
            "choose a smaller regions_max_k"
        )


def too_few_rows(sample: dict, config) -> str | None:
    """Why the row sample cannot carry a mixture of one component in one dimension (None:
    it can)."""
    rows = min(len(sample["x"]), config.regions_sample_rows)
    if rows < max(2, math.ceil(config.min_rows_per_dim)):
        return (
            f"regions: skipped: {rows} sample rows, fewer than min_rows_per_dim "
            f"({config.min_rows_per_dim:g}) for even one component in one dimension"
        )
    return None


def choose_components(config, pca: PCA, rows: int, warnings: list) -> int:
    """K: the configured value, else the components for 90 % of the variance (at least 2, at
    most 32), at most the PCA's rank and at most what the sample supports (min_rows_per_dim rows per
    dimension of one component)."""
    k = config.regions_components or max(2, min(MAX_COMPONENTS, pca.components_for(0.9)))
    k = max(1, min(k, max(pca.rank, 1)))
    supported = int(rows // config.min_rows_per_dim)
    if supported < k:
        warnings.append(
            f"regions: the mixture sample of {rows} rows supports at most {max(supported, 1)} "
            f"PCA components ({config.min_rows_per_dim:g} rows per dimension); K reduced "
            f"from {k}"
        )
        k = max(1, supported)
    return k


def sampler_inside(statistics, pca: PCA, normals, k: int, draws: int, seed: int) -> dict:
    """Share of `uniform-box` and `mvn` draws (from `statistics`, a `LatentStatistics`)
    inside some region's INSIDE_LEVEL radius."""
    from lsf.sampling.samplers import sample

    limit = stats.chi2.ppf(INSIDE_LEVEL, k)
    out = {}
    for name in ("uniform-box", "mvn"):
        x, _ = sample(name, statistics, draws, seed)
        scores = project(x, pca.mean, pca.components[:k])
        out[name] = float((squared_distances(scores, normals) <= limit).any(axis=1).mean())
    return out


def fit_regions(sample: dict, pca: PCA, config, shift, code, statistics) -> RegionsFit:
    """The mixture, regions and cross-checks of the row sample (`sample["x"]`, store rows
    `sample["rows"]`; at least `min_rows_per_dim` rows, see `too_few_rows`)."""
    warnings: list[str] = []
    order = np.random.default_rng(config.seed + 2).permutation(len(sample["x"]))
    # In seeded random order, not store order: HDBSCAN's rows and the map's are the first of
    # them, and a store ordered by source (one image family after another) must not show
    # them only its first families.
    picked = order[: config.regions_sample_rows]
    rows = len(picked)
    k = choose_components(config, pca, rows, warnings)
    scores = project(sample["x"][picked], pca.mean, pca.components[:k])
    per_component = int(np.ceil(config.min_rows_per_dim * k))
    sweep = fit_mixtures(scores, config.regions_max_k, config.seed, per_component)
    if sweep.limited_by_rows:
        warnings.append(
            f"regions: mixtures fitted for k <= {sweep.fitted_up_to} only: a component needs "
            f"{per_component} rows ({config.min_rows_per_dim:g} per dimension of {k}) and the "
            f"mixture sample has {rows}"
        )
    ratios = ridgeline_ratios(sweep.mixture)
    component_region, merges = merge_components(ratios, config.regions_merge_threshold)
    normals = region_normals(sweep.mixture, component_region)
    radius2 = np.full(len(normals.weights), stats.chi2.ppf(RADIUS_LEVEL, k))
    peaks = region_peaks(sweep.mixture, component_region)
    hdbscan = hdbscan_check(scores, sweep.mixture, component_region, config)
    labels, _, _ = assign(scores, sweep.mixture, component_region, normals, radius2)
    plan = RegionPlan(
        pca_mean=pca.mean,
        pca_components=pca.components[:k],
        mixture=sweep.mixture,
        component_region=component_region,
        normals=normals,
        radius2=radius2,
        coverage2=stats.chi2.ppf(COVERAGE_LEVELS, k),
        inside2=float(stats.chi2.ppf(INSIDE_LEVEL, k)),
        code=code,
        shift=shift,
        nearest=config.regions_nearest,
    )
    inside = sampler_inside(statistics, pca, normals, k, config.regions_inside_draws, config.seed)
    parameters = {
        "space": f"first {k} PCA components of the analysis PCA",
        "components": k,
        "max_k": config.regions_max_k,
        "fitted_k": sweep.fitted_up_to,
        "bic_patience": 2,
        "sweep": "k = 1, 2, ... until max_k, the sample's limit, or the BIC rose above its "
        "minimum for 2 consecutive k (NaN beyond)",
        "mixture": "sklearn GaussianMixture, full covariance, reg_covar 1e-6",
        "sample_rows": rows,
        "merge": "ridgeline ratio (Ray & Lindsay 2005, Hennig 2010)",
        "merge_threshold": config.regions_merge_threshold,
        "radius_level": RADIUS_LEVEL,
        "inside_level": INSIDE_LEVEL,
        "inside_draws": config.regions_inside_draws,
        "hdbscan_rows": hdbscan["rows"],
        "hdbscan_min_cluster_size": hdbscan["min_cluster_size"],
        "min_rows_per_dim": config.min_rows_per_dim,
        "seed": config.seed,
    }
    shown = min(MAP_ROWS, rows)
    return RegionsFit(
        plan=plan,
        components=k,
        bic=sweep.bic,
        chosen_k=sweep.chosen_k,
        ratios=ratios,
        merges=merges,
        peaks=peaks,
        gap=gaps(normals.means, sweep.mixture, peaks),
        separation=separations(normals),
        hdbscan=hdbscan,
        inside=inside,
        sample_scores=scores[:shown].astype(np.float32),
        sample_labels=labels[:shown],
        sample_rows=np.asarray(sample["rows"])[picked][:shown].astype(np.int64),
        parameters=parameters,
        warnings=warnings,
    )


def hdbscan_check(scores, mixture, component_region, config) -> dict:
    """HDBSCAN clusters of the first `regions_hdbscan_rows` sample rows and their adjusted
    Rand index with the regions (on the rows HDBSCAN does not call noise)."""
    from sklearn.metrics import adjusted_rand_score

    rows = scores[: config.regions_hdbscan_rows]
    size = max(10, len(rows) // 20)  # clusters of 5 % of the sample: a cross-check, not a census
    if len(rows) <= size:
        return {
            "clusters": 0,
            "noise_share": float("nan"),
            "adjusted_rand": float("nan"),
            "rows": len(rows),
            "min_cluster_size": size,
        }
    found = hdbscan_labels(rows, size)
    kept = found >= 0
    regions = closest_regions(rows, mixture, component_region)
    agreement = adjusted_rand_score(regions[kept], found[kept]) if kept.any() else float("nan")
    return {
        "clusters": int(found.max() + 1),
        "noise_share": float(1 - kept.mean()),
        "adjusted_rand": float(agreement),
        "rows": len(rows),
        "min_cluster_size": size,
    }


def projected_and_labelled(x, rows, raw, split, start: int, plan, regions: RegionPlan):
    """Read 3's work on one chunk: the analysed rows `x` (store rows `rows`) in PCA
    coordinates (`projected_chunk`) and the regions sums of the raw chunk `raw` (every row of
    the store's chunk, its split block `split`, first store row `start`)."""
    from lsf.stats.chunk_steps import projected_chunk

    return projected_chunk(x, rows, plan), region_step(raw, split, start, regions)


def regions_graph(steps: list, plan: RegionPlan):
    """The delayed regions sums of every chunk's `region_step` (labels in store row order)."""
    from lsf.stats.chunk_steps import with_plan

    return tree_reduce(steps, with_plan(combine_regions, plan))


def with_regions(projection: dict, regions: dict) -> dict:
    return {**projection, "regions": regions}


def regions_of(chunks, sample, pca, config, shift, fits, moments, code) -> RegionsFit | None:
    """The regions fit on the row sample of an analysis (`chunks`: its `Chunks`, for the log
    and the warnings; `code`: the analysed split's code); None when regions are off or the
    sample is too small (a warning)."""
    if not config.regions:
        return None
    started = time.perf_counter()
    from lsf.sampling.samplers import latent_statistics

    statistics = latent_statistics(
        moments.mean, moments.cov, fits.edges, fits.hist["counts"], fits.gaussians
    )
    reason = too_few_rows(sample, config)
    if reason is not None:
        chunks.warn(reason)
        return None
    fit = fit_regions(sample, pca, config, shift, code, statistics)
    regions = int(fit.plan.regions)
    chunks.log(
        f"[analyze] regions: BIC chose {fit.chosen_k} mixture component(s) in {fit.components} "
        f"PCA dimensions, merged into {regions} region(s) "
        f"({time.perf_counter() - started:.1f} s)"
    )
    for message in fit.warnings:
        chunks.log(f"[analyze] warning: {message}")
    return fit
