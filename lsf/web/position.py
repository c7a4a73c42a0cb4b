"""Where a latent sits in the measured distribution, in numbers and in words.

For a latent z: the squared Mahalanobis distance d2 to the centre of the analysis's PCA
basis set (the trimmed core), its chi2(dof) percentile, its percentile among the real
latents (the analysis's d2 quantile table), the trim radius max_j |z_j - mu_j| / FWHM_j
with the fitted Gaussians, and a verdict: inside the core, in the tail, outside the data.
Pure numpy/scipy on a `StoredAnalysis`; `lsf explore` evaluates it for every decoded point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from lsf.stats.analysis_store import StoredAnalysis
from lsf.stats.normality import whitening
from lsf.stats.pca import PCA
from lsf.stats.quadratic import basis_covariance, squared_mahalanobis
from lsf.stats.trimming import trim_radius

CORE = "inside the core"
TAIL = "in the tail"
OUTSIDE = "outside the data"
CORE_LEVEL = 0.9  # chi2 level that bounds the core (with the analysis's trim fact)


@dataclass
class LatentSpace:
    """The analysis's picture of the latent distribution, as `lsf explore` uses it."""

    pca: PCA  # of the basis set: mean = the centre, components [D, D], explained_variance
    fit_mu: np.ndarray  # (D,) fitted Gaussian centre per component (NaN where not fitted)
    fit_fwhm: np.ndarray  # (D,)
    low: np.ndarray  # (D,) smallest and largest value of the real latents per component
    high: np.ndarray
    trim_fact: float | None  # the analysis's trim fact (None: it did not trim)
    d2_probabilities: np.ndarray  # (Q,) probabilities of the real latents' d2 quantiles
    d2_quantiles: np.ndarray  # (Q,) the quantiles, ascending

    @property
    def dim(self) -> int:
        return len(self.pca.mean)

    @property
    def dof(self) -> int:
        return self.pca.rank

    @property
    def centre(self) -> np.ndarray:
        return self.pca.mean

    @property
    def sigma(self) -> np.ndarray:
        """Standard deviation along each PCA axis."""
        return np.sqrt(self.pca.explained_variance)

    def basis_covariance(self) -> np.ndarray:
        """The covariance of the basis set, `C^T diag(variance) C` (what PCA decomposed)."""
        return basis_covariance(self.pca.components, self.pca.explained_variance)


def space_from_analysis(a: StoredAnalysis) -> LatentSpace:
    """A `LatentSpace` from an analysis folder (`lsf.stats.analysis_store.read`)."""
    quantiles = np.asarray(a.normality.observed_quantiles, dtype=np.float64)
    points = len(quantiles)
    m, fits = a.moments, a.fits.gaussians
    return LatentSpace(
        pca=a.pca.model,
        fit_mu=np.asarray(fits.mu, dtype=np.float64),
        fit_fwhm=np.asarray(fits.fwhm, dtype=np.float64),
        low=np.asarray(m.min, dtype=np.float64),
        high=np.asarray(m.max, dtype=np.float64),
        trim_fact=a.trimming.trim_fact,
        d2_probabilities=(np.arange(points) + 0.5) / points,  # as `qq_table` wrote them
        d2_quantiles=quantiles,
    )


def squared_distance(z: np.ndarray, space: LatentSpace) -> np.ndarray:
    """d2 = (z - centre)^T Sigma^-1 (z - centre) of rows `z [n, D]` (Sigma of the basis set,
    through its rank-`dof` whitening)."""
    return squared_mahalanobis(np.atleast_2d(z), space.centre, whitening(space.pca))


def chi2_percentile(d2, dof: int):
    """Fraction of a dof-dimensional normal closer to its centre than d2."""
    return stats.chi2.cdf(d2, dof)


def data_percentile(d2, space: LatentSpace):
    """Fraction of the real latents with a smaller d2, read off the analysis's quantile table
    (linear between quantiles; 0 at d2 = 0, 1 beyond the largest quantile)."""
    x = np.concatenate([[0.0], space.d2_quantiles])
    y = np.concatenate([[0.0], space.d2_probabilities])
    return np.interp(d2, x, y, right=1.0)


def verdict(chi2_p: float, radius: float, beyond_data: bool, trim_fact: float | None) -> str:
    """Outside the data: beyond the largest d2 the real latents reach (the top quantile of the
    table) or outside some component's observed range. Inside the core: within the chi2 0.9
    ellipsoid and the analysis's trim box (radius < trim fact). In the tail: in between."""
    if beyond_data:
        return OUTSIDE
    if chi2_p <= CORE_LEVEL and (trim_fact is None or radius < trim_fact):
        return CORE
    return TAIL


def reason(z, d2, chi2_p, radius, space: LatentSpace) -> str:
    """Why the verdict is what it is, in a few words (the first rule that decides)."""
    beyond = np.flatnonzero((z < space.low) | (z > space.high))
    if len(beyond):
        j = int(beyond[np.argmax(np.maximum(space.low - z, z - space.high)[beyond])])
        low, high = space.low[j], space.high[j]
        return f"z{j} = {z[j]:.3g} is beyond the real latents' range [{low:.3g}, {high:.3g}]"
    if d2 > space.d2_quantiles[-1]:
        return f"d2 beyond {space.d2_probabilities[-1]:.2%} of the real latents"
    if chi2_p > CORE_LEVEL:
        return f"chi2 percentile above {CORE_LEVEL:g}"
    if space.trim_fact is not None and radius >= space.trim_fact:
        return f"trim radius at or above the trim fact {space.trim_fact:g}"
    return f"within the chi2 {CORE_LEVEL:g} ellipsoid and the trim box"


def position(z: np.ndarray, space: LatentSpace) -> dict:
    """Every number the readout shows for one latent `z [D]` (finite)."""
    z = np.asarray(z, dtype=np.float64)
    d2 = float(squared_distance(z, space)[0])
    chi2_p = float(chi2_percentile(d2, space.dof))
    radius = float(trim_radius(z[None], space.fit_mu, space.fit_fwhm)[0])
    outside_range = bool(np.any((z < space.low) | (z > space.high)))
    beyond = outside_range or d2 > space.d2_quantiles[-1]
    return {
        "d2": d2,
        "dof": space.dof,
        "d2_per_dof": d2 / max(space.dof, 1),
        "chi2_percentile": chi2_p,
        "data_percentile": float(data_percentile(d2, space)),
        "trim_radius": radius,
        "trim_fact": space.trim_fact,
        "outside_range": outside_range,
        "verdict": verdict(chi2_p, radius, beyond, space.trim_fact),
        "reason": reason(z, d2, chi2_p, radius, space),
    }
