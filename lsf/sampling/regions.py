"""The `regions` samplers: one multivariate normal per region of the analysis, weighted by size.

regions            each region's latent mean and covariance (`Fragmentation.means`,
                   `.covariances`, regularised like `mvn`), draws split between the regions
                   in proportion to their shares (largest remainder: the drawn shares equal
                   the region shares to 1/n), shuffled
regions-ellipsoid  the same, each region's draws restricted to its own confidence ellipsoid
                   d^2 <= chi2(D).ppf(level) (rejection, `--level` as for mvn-ellipsoid)
`RegionMixture.from_fragmentation(read(ANALYSIS).fragmentation)` builds it; `sample()` in
`lsf.sampling.samplers` draws from it like the fitted `gmm`. `resolve_samplers` decides
which samplers `lsf generate` runs when the analysis has no regions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from lsf.core.errors import LsfError
from lsf.sampling.samplers import regularised_covariance
from lsf.stats.quadratic import covariance_whitening, squared_mahalanobis

REGION_SAMPLERS = ("regions", "regions-ellipsoid")


@dataclass
class RegionMixture:
    weights: np.ndarray  # (R,) region shares, normalised to sum to 1
    means: np.ndarray  # (R, D)
    covariances: np.ndarray  # (R, D, D), each regularised to be positive definite
    jitters: np.ndarray  # (R,) what was added to each covariance diagonal (0 when fine)

    @property
    def regions(self) -> int:
        return len(self.weights)

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @classmethod
    def from_fragmentation(cls, fragmentation) -> RegionMixture:
        """The mixture of a `lsf.stats.fragmentation.Fragmentation` (latent coordinates)."""
        shares = np.asarray(fragmentation.shares, dtype=np.float64)
        means = np.asarray(fragmentation.means, dtype=np.float64)
        covariances = np.asarray(fragmentation.covariances, dtype=np.float64)
        # a region of fewer than 2 rows has NaN moments (the analysis warns): never drawn
        usable = np.isfinite(means).all(axis=1) & np.isfinite(covariances).all(axis=(1, 2))
        shares = np.where(usable, shares, 0.0)
        if shares.ndim != 1 or not len(shares) or shares.sum() <= 0:
            raise LsfError("regions: the analysis's regions hold no rows")
        eye = np.eye(means.shape[1])
        pairs = [
            regularised_covariance(c) if ok else (eye, 0.0)
            for c, ok in zip(covariances, usable, strict=True)
        ]
        return cls(
            weights=shares / shares.sum(),
            means=np.where(usable[:, None], means, 0.0),
            covariances=np.stack([cov for cov, _ in pairs]),
            jitters=np.array([jitter for _, jitter in pairs]),
        )

    def allocation(self, n: int) -> np.ndarray:
        """Draws per region: `n * weights` rounded by largest remainder (sums to n)."""
        exact = n * self.weights
        counts = np.floor(exact).astype(np.int64)
        order = np.argsort(-(exact - counts), kind="stable")
        counts[order[: n - counts.sum()]] += 1
        return counts

    def squared_radius(self, x: np.ndarray, region: int) -> np.ndarray:
        """Squared Mahalanobis distance of rows `x` to region `region`'s normal."""
        white = covariance_whitening(self.covariances[region])
        return squared_mahalanobis(x, self.means[region], white)

    def _normal(self, region: int, n: int, rng: np.random.Generator) -> np.ndarray:
        chol = np.linalg.cholesky(self.covariances[region])
        return self.means[region] + rng.standard_normal((n, self.dim)) @ chol.T

    def _inside(self, region: int, n: int, rng, radius: float) -> tuple[np.ndarray, int, int]:
        """`n` draws of the region's normal with d^2 <= radius, how many were drawn and how
        many of those were inside."""
        kept, drawn, accepted = [], 0, 0
        while accepted < n:
            batch = self._normal(region, max(n, 256), rng)
            inside = batch[self.squared_radius(batch, region) <= radius]
            kept.append(inside)
            drawn += len(batch)
            accepted += len(inside)
        return np.concatenate(kept)[:n], drawn, accepted

    def draw(
        self, n: int, rng: np.random.Generator, level: float | None = None
    ) -> tuple[np.ndarray, np.ndarray, dict]:
        """`(latents float64 [n, D], region of each draw [n], info)`, shuffled; `level`
        restricts each region to its chi2(D) ellipsoid."""
        counts = self.allocation(n)
        parts, labels, drawn, accepted = [], [], 0, 0
        radius = None if level is None else float(stats.chi2.ppf(level, self.dim))
        for region, count in enumerate(counts):
            if count == 0:
                continue
            if radius is None:
                part = self._normal(region, int(count), rng)
            else:
                part, tried, inside = self._inside(region, int(count), rng, radius)
                drawn, accepted = drawn + tried, accepted + inside
            parts.append(part)
            labels.append(np.full(int(count), region, dtype=np.int64))
        order = rng.permutation(n)
        x, label = np.concatenate(parts)[order], np.concatenate(labels)[order]
        info = {
            "regions": self.regions,
            "weights": [float(w) for w in self.weights],
            "drawn_per_region": [int(c) for c in counts],
        }
        if level is not None:
            info.update(level=level, accepted_fraction=accepted / drawn)
        if self.jitters.any():
            info["covariance_jitter"] = [float(j) for j in self.jitters]
        return x, label, info

    def sample(
        self, n: int, rng: np.random.Generator, level: float | None = None
    ) -> tuple[np.ndarray, dict]:
        """`(latents [n, D], info)`: what `lsf.sampling.samplers.sample` takes."""
        x, _, info = self.draw(n, rng, level)
        return x, info


def no_regions_message(analysis: str, names: list[str]) -> str:
    return (
        f"sampler {' and '.join(names)} needs the analysis's regions, and {analysis} has none "
        "(its regions pass was off or it predates regions): rerun `lsf analyze` with "
        "analyze.regions: true, or leave it out of --sampler"
    )


def resolve_samplers(
    requested: list[str], default: list[str], has_regions: bool, analysis: str
) -> tuple[list[str], list[str]]:
    """`(samplers to run, region samplers dropped)`: the default list runs the region
    samplers only when the analysis has regions; a list that names one for an analysis
    without regions is refused (`LsfError`, one line naming the fix)."""
    wanted = [name for name in requested if name in REGION_SAMPLERS]
    if has_regions or not wanted:
        return list(requested), []
    if list(requested) == list(default):
        return [name for name in requested if name not in REGION_SAMPLERS], wanted
    raise LsfError(no_regions_message(analysis, wanted))
