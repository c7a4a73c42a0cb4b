"""The `Fragmentation` of an analysis from the regions fit (before the third read) and the
region sums of that read: per-region moments, own PCA, extent, chi2 coverage, the inside
share of real held-out latents and the one-line verdict. Pure; called by
`lsf.stats.analysis` after the third read.
"""

from __future__ import annotations

import numpy as np

from lsf.stats.fragmentation import COVERAGE_LEVELS, Fragmentation
from lsf.stats.moments import finish_moments
from lsf.stats.quadratic import projected_covariance
from lsf.stats.results import RegionsFit


def region_moments(sums: list, shift: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    """`(means [R, D], covariances [R, D, D])`; NaN for a region with fewer than 2 rows."""
    means, covs = [], []
    for s in sums:
        if s["count"] >= 2:
            m = finish_moments(s, shift)
            means.append(m.mean)
            covs.append(m.cov)
        else:
            means.append(np.full(d, np.nan))
            covs.append(np.full((d, d), np.nan))
    return np.stack(means), np.stack(covs)


def own_pca(covariances: np.ndarray, components: np.ndarray) -> tuple:
    """Each region's explained variance ratio [R, D], components for 80 % [R] and extent
    [R, K] (std along its own principal axes in the analysis's PCA coordinates)."""
    ratios, needed, extent = [], [], []
    for cov in covariances:
        if not np.isfinite(cov).all():
            ratios.append(np.full(len(cov), np.nan))
            needed.append(0)
            extent.append(np.full(len(components), np.nan))
            continue
        values = np.clip(np.linalg.eigvalsh(cov)[::-1], 0, None)
        ratio = values / values.sum() if values.sum() > 0 else np.zeros_like(values)
        ratios.append(ratio)
        needed.append(int(np.searchsorted(np.cumsum(ratio), 0.8 - 1e-12) + 1))
        inner = np.clip(np.linalg.eigvalsh(projected_covariance(cov, components))[::-1], 0, None)
        extent.append(np.sqrt(inner))
    return np.stack(ratios), np.array(needed, dtype=np.int64), np.stack(extent)


def verdict(shares: np.ndarray, gap: np.ndarray, separation: np.ndarray, fit) -> str:
    """One line: how many regions, the largest's share and the narrowest gap."""
    regions = len(shares)
    largest = 100 * float(np.max(shares)) if regions else 0.0
    if regions == 1:
        why = (
            f"BIC chose {fit.chosen_k} mixture components and no density gap separates them"
            if fit.chosen_k > 1
            else "BIC chose one mixture component"
        )
        return (
            f"1 region: the latents fill one connected region ({why}); it holds "
            f"{largest:.1f} % of the latents, {100 - largest:.1f} % lie outside its radius"
        )
    upper = np.triu_indices(regions, 1)
    best = int(np.argmax(gap[upper]))
    i, j = upper[0][best], upper[1][best]
    return (
        f"{regions} regions; the largest holds {largest:.1f} % of the latents; the narrowest "
        f"gap, between regions {i} and {j}, falls to {gap[i, j]:.2g} of the smaller peak "
        f"(Mahalanobis separation {separation[i, j]:.1f})"
    )


def finish_regions(fit: RegionsFit, sums: dict, shift: np.ndarray, d: int) -> tuple:
    """`(Fragmentation, labels int16 [n])` from the regions fit and the third read's sums."""
    plan = fit.plan
    counts = np.asarray(sums["counts"], dtype=np.int64)
    outside = int(sums["outside"])
    analysed = counts.sum() + outside
    shares = counts / max(analysed, 1)
    means, covs = region_moments(sums["moments"], shift, d)
    ratios, needed, extent = own_pca(covs, plan.pca_components)
    closest = np.maximum(np.asarray(sums["closest"]), 1)
    coverage = np.asarray(sums["covered"]) / closest[:, None]
    held, every = sums["inside_held_out"], sums["inside_analysed"]
    parameters = dict(fit.parameters)
    if held[1] > 0:
        real = held[0] / held[1]
        parameters["inside_real_rows"] = f"held-out split (validation + test), {int(held[1])} rows"
    else:
        real = every[0] / max(every[1], 1)
        parameters["inside_real_rows"] = (
            f"analysed rows ({int(every[1])}; the store has no held-out rows)"
        )
    nearest_rows = np.full((plan.regions, plan.nearest), -1, dtype=np.int64)
    for r, top in enumerate(sums["nearest"]):
        nearest_rows[r, : len(top["rows"])] = top["rows"]
    warnings = list(fit.warnings)
    minimum = int(np.ceil(fit.parameters["min_rows_per_dim"] * d))
    small = [r for r in range(plan.regions) if counts[r] < minimum]
    if small:
        warnings.append(
            f"regions {small} hold {[int(counts[r]) for r in small]} rows, fewer than the "
            f"minimum {minimum} (min_rows_per_dim x D): their covariance and own PCA in the "
            "latent space are not reliable (NaN below 2 rows)"
        )
    result = Fragmentation(
        components=fit.components,
        pca_mean=plan.pca_mean,
        pca_components=plan.pca_components,
        bic=fit.bic,
        chosen_k=fit.chosen_k,
        mixture_weights=plan.mixture.weights,
        mixture_means=plan.mixture.means,
        mixture_covariances=plan.mixture.covariances,
        component_region=plan.component_region,
        merges=fit.merges,
        counts=counts,
        outside=outside,
        shares=shares,
        means=means,
        covariances=covs,
        score_means=plan.normals.means,
        score_covariances=plan.normals.covariances,
        radius2=plan.radius2,
        coverage_levels=np.array(COVERAGE_LEVELS),
        coverage=coverage,
        explained_variance_ratio=ratios,
        components_80=needed,
        extent=extent,
        gap=fit.gap,
        separation=fit.separation,
        hdbscan_clusters=fit.hdbscan["clusters"],
        hdbscan_noise_share=fit.hdbscan["noise_share"],
        adjusted_rand=fit.hdbscan["adjusted_rand"],
        inside={**fit.inside, "real": float(real)},
        nearest_rows=nearest_rows,
        nearest_ids=np.full_like(nearest_rows, -1),
        sample_scores=fit.sample_scores,
        sample_labels=fit.sample_labels,
        warnings=warnings,
        parameters=parameters,
        peaks=fit.peaks,
        ridgeline=fit.ratios,
        sample_rows=fit.sample_rows,
    )
    result.verdict = verdict(shares, fit.gap, fit.separation, fit)
    return result, np.asarray(sums["labels"], dtype=np.int16)
