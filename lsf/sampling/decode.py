"""Decoding latents to images and re-encoding images to latents, in batches (GPU if present)."""

from __future__ import annotations

import numpy as np
import torch

from lsf.nn.model import Autoencoder, images_to_tensor, tensor_to_images


def model_device(model: Autoencoder) -> torch.device:
    return next(model.parameters()).device


@torch.inference_mode()
def decode(model: Autoencoder, latents: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """uint8 images `(n, H, W, C)` from float latents `(n, D)`."""
    device = model_device(model)
    parts = [
        tensor_to_images(model.decoder(torch.from_numpy(latents[i : i + batch_size]).to(device)))
        for i in range(0, len(latents), batch_size)
    ]
    return np.concatenate(parts)


@torch.inference_mode()
def encode_images(model: Autoencoder, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """float32 latents `(n, D)` of uint8 images `(n, H, W, C)`."""
    device = model_device(model)
    parts = [
        model.encoder(images_to_tensor(np.ascontiguousarray(images[i : i + batch_size])).to(device))
        .float()
        .cpu()
        .numpy()
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(parts)
