"""Small, real inputs for the `lsf explore` tests, built without Ray in a few seconds:
400 synthetic 32-px faces in two shards, a tiny autoencoder trained for a few epochs with
the plain PyTorch loop, its latent store and its analysis (all pairs)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

N_IMAGES = 400
MODEL = {"image_size": 32, "widths": [8, 16, 32], "latent_dim": 12}
_BUILT: dict = {}


def write_shards(
    folder: Path, images: np.ndarray, rows_per_shard: int = 256, splits: np.ndarray | None = None
) -> str:
    """Shards of `images` (ids 0..n-1); `splits` per image (0 train, 1 validation), all
    training images when None."""
    from lsf.data.shards import images_to_table, shard_name, write_table

    splits = np.zeros(len(images), dtype=np.int8) if splits is None else np.asarray(splits)
    folder.mkdir(parents=True)
    entries = []
    for index, start in enumerate(range(0, len(images), rows_per_shard)):
        part = images[start : start + rows_per_shard]
        ids = np.arange(start, start + len(part))
        table = images_to_table(ids, [str(i) for i in ids], splits[ids], part)
        write_table(table, str(folder / shard_name(index)))
        entries.append({"file": shard_name(index), "rows": len(part), "first_id": start})
    manifest = {
        "n": len(images),
        "image_shape": list(images.shape[1:]),
        "source": "synthetic",
        "fingerprint": f"explore-test-{len(images)}",
        "shards": entries,
        "splits": {
            "train": int((splits == 0).sum()),
            "validation": int((splits == 1).sum()),
            "test": int((splits == 2).sum()),
        },
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return str(folder)


def train_tiny_model(images: np.ndarray, out: Path, epochs: int = 6, seed: int = 0) -> str:
    import torch

    from lsf.core.config import ModelConfig
    from lsf.nn.model import Autoencoder, images_to_tensor, save_model
    from lsf.nn.training import reconstruction_loss, train_epoch

    torch.manual_seed(seed)
    model = Autoencoder(ModelConfig(**MODEL))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    data = images_to_tensor(images)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny convolutions: one thread is fastest, and steady under load
    try:
        for epoch in range(epochs):
            order = torch.randperm(len(data))
            batches = (data[order[k : k + 32]] for k in range(0, len(data), 32))
            train_epoch(
                model,
                batches,
                optimizer,
                reconstruction_loss("mse"),
                epoch=epoch,
                device=torch.device("cpu"),
            )
    finally:
        torch.set_num_threads(threads)
    out.mkdir(parents=True)
    save_model(model.eval(), out, {"epochs": epochs})
    return str(out / "model.pt")


def write_store(path: Path, z: np.ndarray, shards: str, rows_per_chunk: int = 128) -> str:
    from lsf.core.store import create_store, finalize, write_chunk

    n, d = z.shape
    source = {"dataset": "synthetic", "image_shape": [32, 32, 3], "fingerprint": "t"}
    group = create_store(
        str(path),
        n,
        d,
        rows_per_chunk,
        model={"path": "model.pt", "sha256": "test"},
        source={**source, "shards": shards},
    )
    for index, start in enumerate(range(0, n, rows_per_chunk)):
        stop = min(start + rows_per_chunk, n)
        write_chunk(group, index, np.arange(start, stop), z[start:stop])
    finalize(group)
    return str(path)


def explore_inputs(base: Path) -> dict:
    """`{model, shards, latents, analysis}` under `base` (built once per test session)."""
    if str(base) in _BUILT:
        return _BUILT[str(base)]
    from lsf.analyze import analyze
    from lsf.core.config import AnalyzeConfig
    from lsf.core.progress import QUIET
    from lsf.data.synthetic import synthetic_faces
    from lsf.nn.model import load_model
    from lsf.sampling.decode import encode_images

    images = synthetic_faces(0, N_IMAGES, seed=1, size=32)
    shards = write_shards(base / "shards", images)
    model_path = train_tiny_model(images, base / "run")
    model, _ = load_model(model_path)
    z = encode_images(model, images)
    latents = write_store(base / "latents.zarr", z, shards)
    analysis = str(base / "analysis")
    config = AnalyzeConfig(bins=24, pair_bins=16)
    analyze(config, latents, analysis, progress=QUIET)
    built = {"model": model_path, "shards": shards, "latents": latents, "analysis": analysis}
    _BUILT[str(base)] = built
    return built
