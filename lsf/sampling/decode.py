"""Decoding latents to images and re-encoding images to latents, in batches (GPU if present).

Any model of the protocol (`lsf.nn.protocol.LatentModel`: lsf's own, TorchScript, a user's
class, pythae) or lsf's `Autoencoder` itself; pixels go through the model's value range.
"""

from __future__ import annotations

import numpy as np
import torch

from lsf.nn.protocol import as_latent_model


def model_device(model) -> torch.device:
    return as_latent_model(model).device


@torch.inference_mode()
def decode(model, latents: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """uint8 images `(n, H, W, C)` from float latents `(n, D)`."""
    m = as_latent_model(model)
    parts = []
    for i in range(0, len(latents), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(latents[i : i + batch_size])).float()
        parts.append(m.to_images(m.decoder(batch.to(m.device))))
    return np.concatenate(parts)


@torch.inference_mode()
def encode_images(model, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """float32 latents `(n, D)` of uint8 images `(n, H, W, C)`."""
    m = as_latent_model(model)
    parts = [
        m.encoder(m.to_tensor(images[i : i + batch_size])).float().cpu().numpy()
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(parts)
