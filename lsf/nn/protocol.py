"""The model protocol: what `encode`, `generate` and `explore` need of an autoencoder.

A `LatentModel` wraps any encoder/decoder pair (lsf's own `Autoencoder`, TorchScript files,
a user's Python class, a pythae model; loaded by `lsf.nn.kinds`) behind one interface:
`encode(float images [N, C, H, W] in value_range) -> [N, D]` and `decode([N, D]) -> images`,
plus what the model states about itself (`config`: kind, image size, channels, latent_dim,
value range) and the sha256 of every file it was loaded from. The uint8 conversions live
here, so a model trained on [-1, 1] pixels decodes to the same uint8 images as one on [0, 1].
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from lsf.core.config import ModelConfig

if TYPE_CHECKING:  # torch is imported where a model runs, not where a store is written
    import torch


def file_sha256(path: str) -> str:
    import fsspec

    digest = hashlib.sha256()
    with fsspec.open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def combined_sha256(files: dict[str, str]) -> str:
    """One digest for a model: its only file's sha256, else the sha256 of `name sha256` lines
    (sorted), so a store of lsf's own single-file model keeps the digest it always had."""
    if len(files) == 1:
        return next(iter(files.values()))
    text = "".join(f"{name} {sha}\n" for name, sha in sorted(files.items()))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class LatentModel:
    """An autoencoder as lsf uses it. `encoder`/`decoder` take and return float tensors on
    `device`: images `(N, C, H, W)` in `config.value_range` <-> latents `(N, latent_dim)`."""

    config: ModelConfig  # kind, image_size, channels, latent_dim, value_range (as stated)
    encoder: Callable[[torch.Tensor], torch.Tensor]
    decoder: Callable[[torch.Tensor], torch.Tensor]
    device: torch.device
    label: str  # where it came from: a path, a factory, a folder
    files: dict[str, str] = field(default_factory=dict)  # weight file -> sha256

    @property
    def kind(self) -> str:
        return self.config.kind

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c = self.config
        return (c.image_size, c.image_size, c.channels)

    def describe(self) -> dict:
        """The latent store's `model` attrs: kind, path, sha256 (all files) and each file's."""
        return {
            "kind": self.kind,
            "path": self.label,
            "sha256": combined_sha256(self.files),
            "files": dict(self.files),
            "image_shape": list(self.image_shape),
            "value_range": list(self.config.value_range),
        }

    def to_tensor(self, images: np.ndarray) -> torch.Tensor:
        """uint8 `(B, H, W, C)` -> float `(B, C, H, W)` in the model's value range."""
        import torch

        low, high = self.config.value_range
        # canonical strides: numpy gives a size-1 axis any stride (`image[None]`: 0), and
        # another stride picks another convolution kernel, ~1e-7 apart for the same image
        pixels = np.ascontiguousarray(images).reshape(-1).reshape(images.shape)
        x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float().div_(255.0)
        if (low, high) != (0.0, 1.0):
            x = x.mul_(high - low).add_(low)
        return x.to(self.device)

    def to_images(self, batch: torch.Tensor) -> np.ndarray:
        """float `(B, C, H, W)` in the model's value range -> uint8 `(B, H, W, C)`."""
        import torch

        low, high = self.config.value_range
        x = batch.detach().float()
        if (low, high) != (0.0, 1.0):
            x = (x - low) / (high - low)
        scaled = x.clamp(0, 1).mul(255.0).round().to(torch.uint8)
        return scaled.permute(0, 2, 3, 1).cpu().numpy()


def as_latent_model(model) -> LatentModel:
    """`model` itself if it follows the protocol; lsf's own `Autoencoder` wrapped (no files)."""
    if isinstance(model, LatentModel):
        return model
    from lsf.nn.model import Autoencoder

    if isinstance(model, Autoencoder):
        device = next(model.parameters()).device
        return LatentModel(model.config, model.encoder, model.decoder, device, "in memory")
    raise TypeError(f"not a latent model: {type(model).__name__}")
