"""Latent samplers fitted from an analysis: each returns seeded float32 `[n, D]` vectors.

uniform-box        every component uniform in one common interval (the failing baseline)
independent-range  each component uniform in its own [d_low, d_high] (non-empty histogram range)
independent-normal diagonal Gaussian with the fitted per-component mu, sigma
mvn                full-covariance multivariate normal
mvn-ellipsoid      mvn restricted to the ellipsoid d^2 <= chi2(D).ppf(level) (rejection)
mvn-pca-box        the study's variant: PCA component k bounded by |t_k| <= n * sigma_k
gmm                Gaussian mixture with full covariances, fitted on a seeded store subsample;
                   its component count chosen by BIC on PCA coordinates (`gmm:K`: fixed K)
n01                the standard normal N(0, I): what a VAE's prior gives a plain AE, the floor
regions            one normal per region of the analysis, weighted by region share; with
                   regions-ellipsoid each restricted to its chi2(D) ellipsoid at `level`
                   (`lsf.sampling.regions.RegionMixture`)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from lsf.core.config import SAMPLERS as SAMPLER_NAMES
from lsf.core.errors import LsfError
from lsf.stats.quadratic import covariance_whitening, squared_mahalanobis

if TYPE_CHECKING:
    from lsf.stats.analysis_store import StoredAnalysis
    from lsf.stats.fits import GaussianFits


@dataclass
class LatentStatistics:
    mean: np.ndarray  # (D,)
    cov: np.ndarray  # (D, D), regularised to be positive definite
    mu: np.ndarray  # fitted per-component centre (moment mean where no fit)
    sigma: np.ndarray  # fitted per-component sigma (moment std where no fit)
    low: np.ndarray  # per-component range of the non-empty histogram bins
    high: np.ndarray
    jitter: float  # what was added to the covariance diagonal (0 when it was fine)

    @property
    def dim(self) -> int:
        return len(self.mean)


def regularised_covariance(cov: np.ndarray) -> tuple[np.ndarray, float]:
    """`cov` made positive definite by the smallest jitter `10^k * 1e-10 * mean variance`
    on the diagonal that lets Cholesky succeed; `(cov, jitter)`."""
    cov = 0.5 * (cov + cov.T)
    scale = max(float(np.mean(np.diag(cov))), 1e-12)
    jitter = 0.0
    for exponent in range(0, 12):
        try:
            np.linalg.cholesky(cov + jitter * np.eye(len(cov)))
            return cov + jitter * np.eye(len(cov)), jitter
        except np.linalg.LinAlgError:
            jitter = scale * 1e-10 * 10**exponent
    raise LsfError("the latent covariance cannot be regularised to positive definite")


def latent_statistics(mean, cov, edges, counts, fits: GaussianFits) -> LatentStatistics:
    """The sampler inputs from the moments `mean [D]`, `cov [D, D]`, the 1D histograms
    `edges [D, B+1]`, `counts [D, B]` and their Gaussian `fits`."""
    nonempty = counts > 0
    first = nonempty.argmax(axis=1)
    last = counts.shape[1] - 1 - nonempty[:, ::-1].argmax(axis=1)
    rows = np.arange(len(counts))
    low, high = edges[rows, first], edges[rows, last + 1]
    std = np.sqrt(np.clip(np.diag(cov), 0, None))
    ok = np.asarray(fits.ok).astype(bool)
    regular, jitter = regularised_covariance(cov)
    return LatentStatistics(
        mean=mean,
        cov=regular,
        mu=np.where(ok, fits.mu, mean),
        sigma=np.where(ok, fits.sigma, std),
        low=low,
        high=high,
        jitter=jitter,
    )


def statistics_from_analysis(a: StoredAnalysis) -> LatentStatistics:
    """The sampler inputs of an analysis folder (`lsf.stats.analysis_store.read`)."""
    hist = a.fits.hist
    return latent_statistics(
        a.moments.mean, a.moments.cov, hist.edges, hist.counts, a.fits.gaussians
    )


def _mvn(s: LatentStatistics, n: int, rng: np.random.Generator) -> np.ndarray:
    chol = np.linalg.cholesky(s.cov)
    return s.mean + rng.standard_normal((n, s.dim)) @ chol.T


def squared_radius(x: np.ndarray, s: LatentStatistics) -> np.ndarray:
    """Squared Mahalanobis distance of rows to the fitted normal (mean, cov)."""
    return squared_mahalanobis(x, s.mean, covariance_whitening(s.cov))


def sample_mvn_ellipsoid(s, n, rng, level: float) -> tuple[np.ndarray, float]:
    """Rejection sampling inside d^2 <= chi2(D).ppf(level): `(samples, accepted fraction)`."""
    radius = stats.chi2.ppf(level, s.dim)
    kept, drawn, accepted = [], 0, 0
    while accepted < n:
        batch = _mvn(s, max(n, 256), rng)
        inside = batch[squared_radius(batch, s) <= radius]
        kept.append(inside)
        drawn += len(batch)
        accepted += len(inside)
    return np.concatenate(kept)[:n], accepted / drawn


def sample_mvn_pca_box(s, n, rng, sigmas: float) -> np.ndarray:
    """PCA coordinates t_k ~ N(0, lambda_k) truncated to |t_k| <= sigmas * sqrt(lambda_k)."""
    variance, vectors = np.linalg.eigh(s.cov)
    t = stats.truncnorm.rvs(-sigmas, sigmas, size=(n, s.dim), random_state=rng)
    return s.mean + (t * np.sqrt(np.clip(variance, 0, None))) @ vectors.T


def fit_gmm(rows: np.ndarray, components: int, seed: int):
    from sklearn.mixture import GaussianMixture

    if len(rows) < 2 * components:
        raise LsfError(f"gmm: {len(rows)} rows are too few for {components} components")
    model = GaussianMixture(components, covariance_type="full", random_state=seed, reg_covar=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(rows.astype(np.float64))


def sample_gmm(gmm, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` shuffled draws of a fitted full-covariance `GaussianMixture` from `rng` (its own
    `sample` reseeds from the fit's `random_state` on every call: every draw the same)."""
    counts = rng.multinomial(n, gmm.weights_)
    parts = [
        mean + rng.standard_normal((count, len(mean))) @ np.linalg.cholesky(cov).T
        for count, mean, cov in zip(counts, gmm.means_, gmm.covariances_, strict=True)
    ]
    return np.concatenate(parts)[rng.permutation(n)]


def gmm_fixed_components(name: str) -> int | None:
    """K of a `gmm:K` sampler name, None for any other name."""
    base, _, count = name.partition(":")
    return int(count) if base == "gmm" and count.isdigit() else None


def choose_gmm_components(
    coordinates: np.ndarray, max_components: int, seed: int
) -> tuple[int, list[float]]:
    """`(k, bic)`: the component count in 1..max_components of least BIC for full-covariance
    mixtures fitted on `coordinates` (PCA coordinates: in all 256 latent dimensions the
    covariance parameters make BIC prefer k = 1 on any affordable row count), and each BIC."""
    from sklearn.mixture import GaussianMixture

    coordinates = np.asarray(coordinates, dtype=np.float64)
    top = min(max_components, len(coordinates) // 2)
    if top < 1:
        raise LsfError(f"gmm: {len(coordinates)} rows are too few to choose components by BIC")
    bic = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k in range(1, top + 1):
            model = GaussianMixture(k, covariance_type="full", random_state=seed, reg_covar=1e-5)
            bic.append(float(model.fit(coordinates).bic(coordinates)))
    return int(np.argmin(bic)) + 1, bic


def sample(
    name: str,
    s: LatentStatistics,
    n: int,
    seed: int,
    *,
    level: float = 0.9,
    pca_sigmas: float = 2.0,
    gmm=None,
    regions=None,
) -> tuple[np.ndarray, dict]:
    """`(latents float32 [n, D], info)` from sampler `name`; info holds sampler facts.
    `regions`: the analysis's `RegionMixture` (the regions samplers)."""
    if n <= 0:
        raise LsfError(f"--n must be positive, got {n}")
    rng = np.random.default_rng(seed)
    info: dict = {}
    if name == "uniform-box":
        lo, hi = float(s.low.min()), float(s.high.max())
        x = rng.uniform(lo, hi, size=(n, s.dim))
        info["interval"] = [lo, hi]
    elif name == "independent-range":
        x = rng.uniform(s.low, s.high, size=(n, s.dim))
    elif name == "independent-normal":
        x = s.mu + s.sigma * rng.standard_normal((n, s.dim))
    elif name == "mvn":
        x = _mvn(s, n, rng)
    elif name == "mvn-ellipsoid":
        x, accepted = sample_mvn_ellipsoid(s, n, rng, level)
        info.update(level=level, accepted_fraction=accepted)
    elif name == "mvn-pca-box":
        x = sample_mvn_pca_box(s, n, rng, pca_sigmas)
        info["pca_sigmas"] = pca_sigmas
    elif name == "n01":
        x = rng.standard_normal((n, s.dim))
    elif name == "gmm" or gmm_fixed_components(name):
        if gmm is None:
            raise LsfError("gmm: no fitted mixture given")
        x = sample_gmm(gmm, n, rng)
        info["components"] = int(gmm.n_components)
    elif name in ("regions", "regions-ellipsoid"):
        if regions is None:
            raise LsfError(f"{name}: the analysis has no regions (rerun `lsf analyze`)")
        x, more = regions.sample(n, rng, level if name == "regions-ellipsoid" else None)
        info.update(more)
    else:
        raise LsfError(f"unknown sampler {name!r} (known: {', '.join(SAMPLER_NAMES)})")
    if s.jitter and name in ("mvn", "mvn-ellipsoid", "mvn-pca-box"):
        info["covariance_jitter"] = s.jitter
    return x.astype(np.float32), info
