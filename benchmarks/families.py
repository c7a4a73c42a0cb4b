"""Fragmentation on latents of visibly different image families (issue 28's measurement).

Writes a folder of PNGs from two families - the built-in synthetic faces and procedurally drawn
striped tiles (random colours, angles and frequencies) - runs `lsf run` on it with the folder
source (prepare, train, encode, analyze, generate, report) and prints the analysis's
fragmentation verdict, its regions and how they line up with the families.
Run: `python benchmarks/families.py --workdir /tmp/families [--per-family 2000]`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from lsf.data.synthetic import synthetic_faces


def striped_tiles(n: int, size: int, seed: int) -> np.ndarray:
    """`n` uint8 images [n, size, size, 3]: two-colour stripes at a random angle and frequency."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    for k in range(n):
        angle, cycles = rng.uniform(0, np.pi), rng.uniform(1.5, 5.0)
        a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        wave = 0.5 + 0.5 * np.sin(2 * np.pi * cycles * (x * np.cos(angle) + y * np.sin(angle)))
        out[k] = (a * wave[..., None] + b * (1 - wave[..., None])).astype(np.uint8)
    return out


def write_folder(folder: Path, per_family: int, size: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    families = {"face": synthetic_faces(0, per_family, seed=0, size=size)}
    families["tile"] = striped_tiles(per_family, size, seed=1)
    for name, images in families.items():
        for k, image in enumerate(images):
            Image.fromarray(image).save(folder / f"{name}_{k:05d}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--per-family", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args()
    work = Path(args.workdir)
    images = work / "images"
    if not images.exists():
        write_folder(images, args.per_family, 32)
    config = {
        "prepare": {"source": "folder", "path": str(images), "size": 32, "rows_per_shard": 512},
        "model": {"image_size": 32, "widths": [16, 32, 64], "latent_dim": 32},
        "train": {"epochs": args.epochs, "lr": 0.003, "batch_size": 64, "cpus_per_worker": 0.5},
        "encode": {"rows_per_chunk": 512, "batch_size": 128, "actors": 2},
        "analyze": {"pairs": "first:8", "pca_pairs": "first:8"},
        "generate": {"n": 500, "real_images": 300, "feature_dims": 16, "repeats": 2},
    }
    path = work / "families.yaml"
    path.write_text(yaml.safe_dump(config))
    run = [sys.executable, "-m", "lsf.cli", "run", "--config", str(path), "--workdir", str(work)]
    subprocess.run(run, check=True)
    summary = json.loads((work / "analysis" / "summary.json").read_text())
    fragmentation = summary.get("fragmentation", {})
    print("verdict:", fragmentation.get("verdict"))
    print("regions:", fragmentation.get("regions"), "sizes:", fragmentation.get("sizes"))
    print("hdbscan:", fragmentation.get("hdbscan"), "inside:", fragmentation.get("inside"))
    family_of_id = _families_by_id(work / "shards")
    labels = _labels(work / "analysis")
    for region in sorted(set(labels.tolist())):
        share = {f: float(np.mean(family_of_id[labels == region] == f)) for f in ("face", "tile")}
        print(f"region {region}: {int(np.sum(labels == region))} rows, families {share}")


def _families_by_id(shards: Path) -> np.ndarray:
    """The family of each shard id, from the manifest's sorted file list (ids follow it)."""
    files = sorted(p.name for p in (shards.parent / "images").glob("*.png"))
    return np.array([name.split("_")[0] for name in files])


def _labels(analysis: Path) -> np.ndarray:
    from lsf.stats.analysis_store import read

    return np.asarray(read(str(analysis)).region_labels()[...])


if __name__ == "__main__":
    main()
