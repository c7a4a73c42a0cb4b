"""The convolutional autoencoder: strided conv encoder to a latent vector, mirrored decoder.

Encoder: `len(widths)` blocks of Conv2d(stride 2) + activation (+ optional BatchNorm), then
a linear layer to `latent_dim`. Decoder: linear layer back to the smallest feature map,
ConvTranspose2d blocks mirroring the encoder, sigmoid output in [0, 1].
`python -m lsf.nn.model` prints the default model and its parameter count.
"""

from __future__ import annotations

import io
import json
import os
import pickle
from pathlib import Path

import torch
from torch import nn

from lsf.core.config import ModelConfig, validate
from lsf.core.errors import LsfError

__all__ = ["Autoencoder", "Decoder", "Encoder", "ModelConfig", "load_model", "save_model"]

ACTIVATIONS = {
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "selu": nn.SELU,
}


def feature_size(config: ModelConfig) -> int:
    """Side of the smallest feature map: image_size / 2**len(widths)."""
    factor = 2 ** len(config.widths)
    if config.image_size % factor:
        raise LsfError(
            f"model: image_size {config.image_size} must be divisible by 2**{len(config.widths)}"
            f" = {factor} (one halving per conv block); change model.widths or the size"
        )
    return config.image_size // factor


def _padding(kernel: int) -> tuple[int, int]:
    """(padding, output_padding) so that each conv exactly halves and each deconv doubles."""
    return (kernel - 1) // 2, kernel % 2


class Encoder(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        padding, _ = _padding(config.kernel)
        layers, channels = [], config.channels
        for width in config.widths:
            layers.append(nn.Conv2d(channels, width, config.kernel, 2, padding))
            if config.batch_norm:
                layers.append(nn.BatchNorm2d(width))
            layers.append(ACTIVATIONS[config.activation]())
            channels = width
        self.convs = nn.Sequential(*layers)
        side = feature_size(config)
        self.to_latent = nn.Linear(channels * side * side, config.latent_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # (B, C, H, W) -> (B, latent_dim)
        return self.to_latent(self.convs(images).flatten(1))


class Decoder(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        padding, output_padding = _padding(config.kernel)
        self.side = feature_size(config)
        widths = list(config.widths)[::-1]
        self.from_latent = nn.Sequential(
            nn.Linear(config.latent_dim, widths[0] * self.side * self.side),
            ACTIVATIONS[config.activation](),
        )
        layers = []
        for width_in, width_out in zip(widths, [*widths[1:], config.channels], strict=True):
            layers.append(
                nn.ConvTranspose2d(
                    width_in, width_out, config.kernel, 2, padding, output_padding=output_padding
                )
            )
            if width_out != config.channels:
                if config.batch_norm:
                    layers.append(nn.BatchNorm2d(width_out))
                layers.append(ACTIVATIONS[config.activation]())
        layers.append(nn.Sigmoid())
        self.deconvs = nn.Sequential(*layers)
        self.top_width = widths[0]

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        # (B, latent_dim) -> (B, C, H, W) in [0, 1]
        features = self.from_latent(latents).view(-1, self.top_width, self.side, self.side)
        return self.deconvs(features)


class Autoencoder(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = validate(config, "model")
        self.encoder = Encoder(self.config)
        self.decoder = Decoder(self.config)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(images))

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def describe(self) -> str:
        c = self.config
        return (
            f"Autoencoder {c.image_size}px x{c.channels}, widths {c.widths}, kernel {c.kernel}, "
            f"latent {c.latent_dim}, {c.activation}{', batch norm' if c.batch_norm else ''}: "
            f"{self.parameter_count():,} parameters"
        )


def images_to_tensor(images) -> torch.Tensor:
    """uint8 `(B, H, W, C)` numpy images -> float `(B, C, H, W)` in [0, 1]."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255.0)


def tensor_to_images(batch: torch.Tensor):
    """float `(B, C, H, W)` in [0, 1] -> uint8 `(B, H, W, C)` numpy images."""
    scaled = batch.detach().clamp(0, 1).mul(255.0).round().to(torch.uint8)
    return scaled.permute(0, 2, 3, 1).cpu().numpy()


def save_model(model: Autoencoder, folder: str | Path, summary: dict) -> None:
    """`folder/model.pt` (plain state_dict) and `folder/model.json` (config + summary)."""
    from dataclasses import asdict

    from lsf.core.outputs import write_json_atomic

    folder = Path(folder)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    tmp = folder / "model.pt.tmp"
    torch.save(state, tmp)
    tmp.replace(folder / "model.pt")
    write_json_atomic(str(folder / "model.json"), {"model": asdict(model.config), **summary})


def load_model(path: str | Path, device: str = "cpu") -> tuple[Autoencoder, dict]:
    """Load `RUN/model.pt` (+ its `model.json`) without Ray: `(model in eval mode, info)`.
    `path` is a local path or an fsspec URL."""
    import fsspec

    url = str(path)
    info_url = os.path.splitext(url)[0] + ".json"
    fs, fs_path = fsspec.core.url_to_fs(url)
    if not fs.isfile(fs_path):
        raise LsfError(f"model not found: {url}; run `lsf train` first")
    if not fs.isfile(fsspec.core.url_to_fs(info_url)[1]):
        raise LsfError(f"{info_url} is missing: {url} was not written by lsf train")
    try:
        with fsspec.open(info_url, "r") as f:
            info = json.load(f)
        model_config = validate(ModelConfig(**info["model"]), "model")
    except (ValueError, KeyError, TypeError, LsfError) as exc:
        raise LsfError(f"{info_url} is not an lsf model description ({exc})") from None
    model = Autoencoder(model_config)
    try:
        with fs.open(fs_path, "rb") as f:
            state = torch.load(io.BytesIO(f.read()), map_location=device, weights_only=True)
        model.load_state_dict(state)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as exc:
        raise LsfError(f"cannot load {url}: {str(exc).splitlines()[0]}") from None
    return model.to(device).eval(), info


if __name__ == "__main__":
    print(Autoencoder(ModelConfig()).describe())
