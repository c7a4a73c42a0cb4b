"""The files of a finished training run: `RUN/metrics.csv`, `reconstructions.png`, `model.pt`
and `model.json`.

`write_run_artifacts` renders them in a local temporary folder and moves (or uploads, for
an fsspec URL) each one into the run folder whole, `model.json` last: its presence is what
marks the run complete. Called by `lsf train` once Ray Train has finished.
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import fsspec
import numpy as np
import torch

from lsf.core.outputs import join
from lsf.data.shards import SPLIT_TRAIN, SPLIT_VALIDATION, column_images, read_table, shard_urls
from lsf.nn.model import Autoencoder, images_to_tensor, save_model, tensor_to_images

RECONSTRUCTION_COUNT = 8


def _fixed_validation_images(shards: str, manifest: dict) -> tuple[np.ndarray, np.ndarray]:
    """The first RECONSTRUCTION_COUNT validation images by id (train images if none)."""
    shape = tuple(manifest["image_shape"])
    found_ids, found = [], []
    for wanted in (SPLIT_VALIDATION, SPLIT_TRAIN):
        for url in shard_urls(shards, manifest):
            table = read_table(url, columns=["id", "split", "image"])
            keep = np.flatnonzero(table["split"].to_numpy() == wanted)
            images = column_images(table["image"], shape)
            found_ids += list(table["id"].to_numpy()[keep])
            found += list(images[keep])
            if len(found) >= RECONSTRUCTION_COUNT:
                ids = np.array(found_ids[:RECONSTRUCTION_COUNT])
                return ids, np.stack(found[:RECONSTRUCTION_COUNT])
    return np.array(found_ids), np.stack(found)


def reconstruct(model: Autoencoder, images: np.ndarray) -> np.ndarray:
    """uint8 reconstructions of uint8 images `(B, H, W, C)`."""
    with torch.inference_mode():
        return tensor_to_images(model(images_to_tensor(images)))


def write_run_artifacts(out: str, model, history, shards, manifest, summary: dict) -> None:
    """metrics.csv, reconstructions.png, model.pt, then model.json (the completion marker),
    each written locally and moved (or uploaded) into `out` whole."""
    from PIL import Image

    from lsf.data.images import image_grid

    fs, path = fsspec.core.url_to_fs(out)
    with tempfile.TemporaryDirectory(prefix="lsf-run-") as folder:
        staged = Path(folder)
        with open(staged / "metrics.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(history[0]))
            writer.writeheader()
            writer.writerows(history)
        ids, images = _fixed_validation_images(shards, manifest)
        reconstructions = reconstruct(model, images)
        grid = image_grid(np.concatenate([images, reconstructions]), columns=len(images))
        Image.fromarray(grid).save(staged / "reconstructions.png", format="PNG")
        save_model(model, staged, {**summary, "reconstruction_ids": [int(i) for i in ids]})
        for name in ("metrics.csv", "reconstructions.png", "model.pt", "model.json"):
            tmp = join(path, f".{name}.tmp")
            fs.put_file(str(staged / name), tmp)
            fs.mv(tmp, join(path, name))
