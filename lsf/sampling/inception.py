"""Inception-v3 pool features (2048-d, the FID/KID network) from weights already on disk.

`--features inception` looks for the weights torch-fidelity keeps in torch's hub cache
(`torch.hub.get_dir()/checkpoints`, i.e. `$TORCH_HOME/hub/checkpoints`, by default
`~/.cache/torch/hub/checkpoints`); `--features inception:PATH` names the file. The network is
torch-fidelity's `FeatureExtractorInceptionV3` (optional: install torch-fidelity and its
torchvision yourself, built for the installed torch). lsf never downloads: without the
package or the weights `lsf generate` stops with one line saying what is missing.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from lsf.core.errors import LsfError

NAME = "inception"
WEIGHTS = (
    "weights-inception-2015-12-05-6726825d.pth",  # torch-fidelity
    "pt_inception-2015-12-05-6726825d.pth",  # pytorch-fid: the same network and layout
)


def is_inception(features: str | None) -> bool:
    return features is not None and (features == NAME or features.startswith(f"{NAME}:"))


def cache_folders() -> list[Path]:
    import torch

    folders = [Path(torch.hub.get_dir()) / "checkpoints"]
    home = os.environ.get("TORCH_HOME")
    if home:
        folders.append(Path(home) / "hub" / "checkpoints")
    folders.append(Path.home() / ".cache" / "torch" / "hub" / "checkpoints")
    return list(dict.fromkeys(folders))


def resolve_weights(features: str) -> Path:
    """The weights file of `inception` (the caches) or `inception:PATH`; `LsfError` naming
    where it looked when there is none."""
    _, _, given = features.partition(":")
    if given:
        path = Path(os.path.expanduser(given))
        if not path.is_file():
            raise LsfError(f"--features {features}: no weights file at {path}")
        return path
    folders = cache_folders()
    for folder in folders:
        for name in WEIGHTS:
            if (folder / name).is_file():
                return folder / name
    raise LsfError(
        f"--features inception: no Inception weights on disk (looked for {WEIGHTS[0]} in "
        f"{', '.join(str(f) for f in folders)}); lsf never downloads them: copy the file "
        "there, give --features inception:PATH, or leave out --features for pixel-PCA"
    )


def require_inception(features: str) -> Path:
    """The weights file, after checking the optional torch-fidelity is importable; `LsfError`
    in one line when either is absent (lsf generate calls it before any work)."""
    weights = resolve_weights(features)
    if importlib.util.find_spec("torch_fidelity") is None:
        raise LsfError(
            f"--features {features} needs the optional package torch-fidelity (and its "
            "torchvision, built for the installed torch); lsf does not install it: "
            "`pip install torch-fidelity --no-deps` beside a matching torchvision"
        )
    return weights


class InceptionFeatures:
    """uint8 images `(n, H, W, 3)` -> float64 pool features `(n, 2048)`."""

    def __init__(self, weights: Path, batch_size: int = 64):
        try:
            from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
        except ImportError as exc:
            raise LsfError(
                "--features inception needs the optional package torch-fidelity (and its "
                f"torchvision, built for the installed torch): {exc}"
            ) from None
        self.network = FeatureExtractorInceptionV3(
            "inception-v3-compat", ["2048"], feature_extractor_weights_path=str(weights)
        )
        self.batch_size = batch_size

    def __call__(self, images: np.ndarray) -> np.ndarray:
        import torch

        if images.shape[-1] != 3:
            raise LsfError("--features inception needs RGB images (3 channels)")
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                batch = np.ascontiguousarray(images[start : start + self.batch_size])
                x = torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous()  # (B, 3, H, W) uint8
                outputs.append(self.network(x)[0].double().numpy())
        return np.concatenate(outputs)
