"""How much generated images look like real ones, as numbers.

Features: `PixelPCAFeatures` (PCA of real images' pixels, fitted on real images, always
available) or a user-supplied TorchScript extractor (`TorchScriptFeatures`, e.g. an exported
Inception for standard FID; never downloaded; `lsf.sampling.inception` for the cached
Inception weights). On the features: the Frechet distance between Gaussian fits; KID,
precision/recall/density/coverage and their intervals are in `lsf.sampling.quality`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from lsf.core.errors import LsfError


def check_feature_space(features: str | None) -> None:
    """Refuse in one line, before any work, a feature space that cannot be built: Inception
    weights or torch-fidelity absent (`inception[:WEIGHTS]`), or no extractor file at the
    path. None (pixel PCA) always works."""
    from lsf.core.outputs import exists
    from lsf.sampling.inception import is_inception, require_inception

    if features is None:
        return
    if is_inception(features):
        require_inception(features)
    elif not exists(features):
        raise LsfError(
            f"--features {features}: no feature extractor file there (give a TorchScript "
            "module file, inception[:WEIGHTS], or leave out --features for pixel PCA)"
        )


def frechet_distance(mu1, cov1, mu2, cov2) -> float:
    """`|mu1 - mu2|^2 + tr(C1 + C2 - 2 (C1 C2)^(1/2))` between two Gaussians."""
    diff = np.asarray(mu1, dtype=np.float64) - np.asarray(mu2, dtype=np.float64)
    root, _ = linalg.sqrtm(cov1 @ cov2, disp=False)
    if not np.isfinite(root).all():
        offset = np.eye(len(cov1)) * 1e-10
        root = linalg.sqrtm((cov1 + offset) @ (cov2 + offset))
    root = np.real(root)
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2 * np.trace(root))


def frechet_distance_of(features_a: np.ndarray, features_b: np.ndarray) -> float:
    return frechet_distance(
        features_a.mean(axis=0),
        np.cov(features_a, rowvar=False),
        features_b.mean(axis=0),
        np.cov(features_b, rowvar=False),
    )


def precision_recall(real: np.ndarray, generated: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Precision: fraction of generated points inside the k-NN ball of some real point.
    Recall: fraction of real points inside the k-NN ball of some generated point
    (`lsf.sampling.quality.neighbour_metrics`, which also gives density and coverage)."""
    from lsf.sampling.quality import neighbour_metrics

    m = neighbour_metrics(real, generated, k)
    return m.precision, m.recall


@dataclass
class PixelPCAFeatures:
    """PCA of flattened pixels in [0, 1], fitted on real images (deterministic, exact SVD)."""

    mean: np.ndarray
    components: np.ndarray  # (dims, H*W*C)

    @classmethod
    def fit(cls, images: np.ndarray, dims: int = 64) -> PixelPCAFeatures:
        flat = images.reshape(len(images), -1).astype(np.float64) / 255.0
        mean = flat.mean(axis=0)
        _, _, vt = np.linalg.svd(flat - mean, full_matrices=False)
        return cls(mean, vt[: min(dims, len(vt))])

    def __call__(self, images: np.ndarray) -> np.ndarray:
        # in blocks: a float64 copy of 20,000 64x64 images would be 2 GB
        out = np.empty((len(images), len(self.components)))
        for start in range(0, len(images), 1024):
            block = images[start : start + 1024]
            flat = block.reshape(len(block), -1).astype(np.float64) / 255.0
            out[start : start + 1024] = (flat - self.mean) @ self.components.T
        return out


class TorchScriptFeatures:
    """Features from a TorchScript module file: images (B, C, H, W) in [0, 1] -> (B, F)."""

    def __init__(self, path: str):
        import torch

        try:
            self.module = torch.jit.load(path, map_location="cpu").eval()
        except (RuntimeError, ValueError, OSError) as exc:
            raise LsfError(f"cannot load feature extractor {path}: {exc}") from None

    def __call__(self, images: np.ndarray) -> np.ndarray:
        import torch

        from lsf.nn.model import images_to_tensor

        outputs = []
        with torch.inference_mode():
            for start in range(0, len(images), 256):
                batch = images_to_tensor(np.ascontiguousarray(images[start : start + 256]))
                outputs.append(self.module(batch).reshape(len(batch), -1).double().numpy())
        return np.concatenate(outputs)
