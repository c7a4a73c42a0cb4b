"""Exact PCA from a covariance matrix (one streaming pass gives the covariance; `eigh` the rest).

Components are sorted by decreasing variance and each eigenvector's sign is fixed so that
its largest-|loading| entry is positive, which makes plots and samplers reproducible.
`project` maps rows to PCA coordinates (lazily, per chunk).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

VARIANCE_TARGETS = (0.8, 0.9, 0.95)


@dataclass
class PCA:
    mean: np.ndarray  # (D,)
    components: np.ndarray  # (D, D): row k is the k-th principal axis
    explained_variance: np.ndarray  # (D,) eigenvalues, descending
    explained_variance_ratio: np.ndarray
    cumulative_ratio: np.ndarray
    rank: int  # eigenvalues above the numerical tolerance

    def components_for(self, fraction: float) -> int:
        """Fewest components whose cumulative explained variance reaches `fraction`."""
        return int(np.searchsorted(self.cumulative_ratio, fraction - 1e-12) + 1)


def fix_signs(vectors: np.ndarray) -> np.ndarray:
    """Flip each row so that its largest-|value| entry is positive."""
    biggest = np.abs(vectors).argmax(axis=1)
    signs = np.sign(vectors[np.arange(len(vectors)), biggest])
    signs[signs == 0] = 1
    return vectors * signs[:, None]


def pca_from_covariance(mean: np.ndarray, cov: np.ndarray) -> PCA:
    eigenvalues, eigenvectors = np.linalg.eigh(cov)
    order = np.argsort(eigenvalues)[::-1]
    variance = np.clip(eigenvalues[order], 0, None)
    components = fix_signs(eigenvectors[:, order].T)
    total = variance.sum()
    ratio = variance / total if total > 0 else np.zeros_like(variance)
    tolerance = max(variance.max(), 0) * len(variance) * np.finfo(np.float64).eps
    return PCA(
        mean=mean,
        components=components,
        explained_variance=variance,
        explained_variance_ratio=ratio,
        cumulative_ratio=np.cumsum(ratio),
        rank=int((variance > tolerance).sum()),
    )


def project(x: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    """Rows in PCA coordinates: `(x - mean) @ components.T`, float64 `[n, D]`."""
    centred = x.astype(np.float64)  # a copy, centred in place: one [n, D] temporary less
    centred -= mean
    return centred @ components.T
