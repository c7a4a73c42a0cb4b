"""Regions of the latent distribution from a Gaussian mixture: the BIC sweep over k, the
ridgeline merging of components into regions and the assignment of rows to regions.

Pure NumPy/scikit-learn on PCA coordinates `[n, K]` (float64). `fit_mixtures` fits
`GaussianMixture(k, full covariance, seeded)` for k = 1..max_k and keeps the BIC curve.
`merge_components` merges two components when the mixture density along their ridgeline
(Ray & Lindsay 2005: x*(a) = [(1-a) S1^-1 + a S2^-1]^-1 [(1-a) S1^-1 m1 + a S2^-1 m2]) never
dips below `threshold` times the smaller of the two peaks on it (Hennig 2010's ridgeline
ratio), transitively (union-find). `region_normals` moment-matches each region's
components; `assign` labels rows: the region of their most likely component, -1 beyond that
region's chi2 radius. `lsf.stats.regions_pass` runs these on the analysis's row sample.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from lsf.stats.quadratic import covariance_whitening, squared_mahalanobis

RIDGE_STEPS = 201  # points of a ridgeline (and of a gap segment)


@dataclass
class Mixture:
    weights: np.ndarray  # [M]
    means: np.ndarray  # [M, K]
    covariances: np.ndarray  # [M, K, K]

    @property
    def precision_cholesky(self) -> np.ndarray:
        """[M, K, K] upper factors U with U U^T = S^-1 (scikit-learn's convention)."""
        return covariance_whitening(self.covariances)


@dataclass
class Sweep:
    bic: np.ndarray  # [max_k], NaN where not fitted
    chosen_k: int
    mixture: Mixture
    fitted_up_to: int  # largest k that was fitted (the sample or the BIC's rise stopped it)
    limited_by_rows: bool = False  # the sample, not the BIC, stopped the sweep


def fit_mixture(scores: np.ndarray, k: int, seed: int):
    from sklearn.mixture import GaussianMixture

    model = GaussianMixture(k, covariance_type="full", random_state=seed, reg_covar=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings: the BIC still compares fits
        return model.fit(scores)


def fit_mixtures(
    scores: np.ndarray, max_k: int, seed: int, min_rows_per_k: int = 1, patience: int = 2
) -> Sweep:
    """Mixtures of k = 1..max_k components (k fitted only while `len(scores) >= k *
    min_rows_per_k`), stopped once the BIC has risen above its minimum for `patience`
    consecutive k (0: never); k of the smallest BIC."""
    scores = np.asarray(scores, dtype=np.float64)
    bic = np.full(max_k, np.nan)
    models = {}
    for k in range(1, max_k + 1):
        if len(scores) < max(k * min_rows_per_k, k + 1):
            break
        best = int(np.nanargmin(bic)) + 1 if models else k
        if patience and k - best > patience:
            break
        models[k] = fit_mixture(scores, k, seed)
        bic[k - 1] = models[k].bic(scores)
    if not models:
        raise ValueError(f"{len(scores)} rows are too few for a mixture")
    chosen = int(np.nanargmin(bic)) + 1
    best = models[chosen]
    mixture = Mixture(best.weights_.copy(), best.means_.copy(), best.covariances_.copy())
    last = max(models)
    limited = last < max_k and len(scores) < max((last + 1) * min_rows_per_k, last + 2)
    return Sweep(bic, chosen, mixture, last, limited)


def component_log_densities(x: np.ndarray, mixture: Mixture) -> np.ndarray:
    """[n, M] log(w_m N(x; m_m, S_m)) (scikit-learn's `_estimate_weighted_log_prob`)."""
    x = np.asarray(x, dtype=np.float64)
    n, k = x.shape
    out = np.empty((n, len(mixture.weights)))
    for m, chol in enumerate(mixture.precision_cholesky):
        d2 = squared_mahalanobis(x, mixture.means[m], chol)
        log_det = np.log(np.diag(chol)).sum()
        out[:, m] = -0.5 * (k * np.log(2 * np.pi) + d2) + log_det
    return out + np.log(mixture.weights)


def log_density(x: np.ndarray, mixture: Mixture) -> np.ndarray:
    """[n] log of the mixture density at rows `x`."""
    return logsumexp(component_log_densities(x, mixture), axis=1)


def ridgeline(m1, s1, m2, s2, alphas: np.ndarray) -> np.ndarray:
    """[A, K] points x*(a) of the ridgeline between N(m1, S1) and N(m2, S2)."""
    p1, p2 = np.linalg.inv(s1), np.linalg.inv(s2)
    out = np.empty((len(alphas), len(m1)))
    for i, a in enumerate(alphas):
        out[i] = np.linalg.solve((1 - a) * p1 + a * p2, (1 - a) * p1 @ m1 + a * p2 @ m2)
    return out


def dip_ratio(log_profile: np.ndarray) -> float:
    """Lowest density of a profile between its two ends' peaks / the smaller peak: the
    profile's minimum over the larger of the maxima on either side of it (1: no dip)."""
    low = int(np.argmin(log_profile))
    left, right = log_profile[: low + 1].max(), log_profile[low:].max()
    return float(np.exp(log_profile[low] - min(left, right)))


def ridgeline_ratios(mixture: Mixture, steps: int = RIDGE_STEPS) -> np.ndarray:
    """[M, M] dip ratio of the mixture density along each component pair's ridgeline."""
    m = len(mixture.weights)
    alphas = np.linspace(0.0, 1.0, steps)
    ratios = np.ones((m, m))
    for i in range(m):
        for j in range(i + 1, m):
            points = ridgeline(
                mixture.means[i],
                mixture.covariances[i],
                mixture.means[j],
                mixture.covariances[j],
                alphas,
            )
            ratios[i, j] = ratios[j, i] = dip_ratio(log_density(points, mixture))
    return ratios


def merge_components(ratios: np.ndarray, threshold: float) -> tuple[np.ndarray, list]:
    """Union-find over the pairs whose dip ratio exceeds `threshold`, highest ratio first ->
    `(region of each component [M], merges [(a, b, ratio)])`; regions numbered by their
    smallest component."""
    m = len(ratios)
    parent = list(range(m))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    pairs = sorted(
        ((ratios[i, j], i, j) for i in range(m) for j in range(i + 1, m)),
        key=lambda t: (-t[0], t[1], t[2]),
    )
    merges = []
    for ratio, i, j in pairs:
        if ratio <= threshold:
            break
        a, b = root(i), root(j)
        if a != b:
            parent[max(a, b)] = min(a, b)
            merges.append((int(i), int(j), float(ratio)))
    roots = [root(i) for i in range(m)]
    order = {r: k for k, r in enumerate(sorted(set(roots)))}
    return np.array([order[r] for r in roots], dtype=np.int64), merges


def region_normals(mixture: Mixture, component_region: np.ndarray) -> Mixture:
    """Each region's weight, mean and covariance: the moments of its components' mixture."""
    regions = int(component_region.max()) + 1
    k = mixture.means.shape[1]
    weights, means, covs = np.zeros(regions), np.zeros((regions, k)), np.zeros((regions, k, k))
    for r in range(regions):
        members = component_region == r
        w = mixture.weights[members]
        mu = mixture.means[members]
        weights[r] = w.sum()
        means[r] = (w[:, None] * mu).sum(axis=0) / w.sum()
        spread = mu - means[r]
        inner = mixture.covariances[members] + spread[:, :, None] * spread[:, None, :]
        covs[r] = (w[:, None, None] * inner).sum(axis=0) / w.sum()
    return Mixture(weights, means, covs)


def squared_distances(x: np.ndarray, normals: Mixture) -> np.ndarray:
    """[n, R] squared Mahalanobis distance of rows to each region's normal."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty((len(x), len(normals.weights)))
    for r, chol in enumerate(normals.precision_cholesky):
        out[:, r] = squared_mahalanobis(x, normals.means[r], chol)
    return out


def closest_regions(x: np.ndarray, mixture: Mixture, component_region: np.ndarray):
    """[n] region of each row's most likely component (scikit-learn's `predict`, mapped)."""
    return component_region[component_log_densities(x, mixture).argmax(axis=1)]


def assign(x, mixture: Mixture, component_region, normals: Mixture, radius2) -> tuple:
    """`(labels int16 [n], closest region [n], d2 to it [n])`: a row's label is the region
    of its most likely component, or -1 when its d^2 to that region exceeds the radius."""
    closest = closest_regions(x, mixture, component_region)
    d2 = squared_distances(x, normals)[np.arange(len(x)), closest]
    labels = np.where(d2 <= np.asarray(radius2)[closest], closest, -1).astype(np.int16)
    return labels, closest, d2


def hdbscan_labels(scores: np.ndarray, min_cluster_size: int) -> np.ndarray:
    """Density-based clusters of `scores` (`sklearn.cluster.HDBSCAN`; -1: noise).

    First without `allow_single_cluster`: allowed, HDBSCAN's cluster selection keeps the
    root whenever it is the most stable, and two separated blobs then come back as one
    cluster. When that finds no cluster at all (no split of the hierarchy is worth keeping),
    the sample is one cluster: the run with `allow_single_cluster` labels it."""
    from sklearn.cluster import HDBSCAN

    x = np.asarray(scores, dtype=np.float64)
    for single in (False, True):
        model = HDBSCAN(min_cluster_size=min_cluster_size, allow_single_cluster=single, copy=True)
        found = model.fit_predict(x)
        if found.max() >= 0:
            break
    return found
