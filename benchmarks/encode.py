"""Benchmark `encode`: the Ray Data pipeline against the pure forward pass of the encoder.

Run: `python benchmarks/encode.py [--n 20000]`. The pure forward pass runs the same encoder
over preloaded tensors in one process with every core (the physical limit here); the
pipeline reads the shards, encodes on an actor pool and writes the Zarr store. Prints
images/s of both and the ratio (goal >= 0.8).
"""

import argparse
import os
import tempfile
import time

import torch

from lsf.core.config import EncodeConfig, ModelConfig, PrepareConfig
from lsf.core.progress import QUIET
from lsf.core.runtime import init_ray
from lsf.data.shards import read_images
from lsf.encode import encode
from lsf.nn.model import Autoencoder, images_to_tensor, save_model
from lsf.prepare import prepare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--widths", default="32,64,128,256")
    args = parser.parse_args()
    widths = [int(w) for w in args.widths.split(",")]
    torch.manual_seed(0)
    model = Autoencoder(ModelConfig(widths=widths)).eval()
    with tempfile.TemporaryDirectory() as folder:
        shards = f"{folder}/shards"
        prepare(PrepareConfig(n=args.n), shards, progress=QUIET)
        save_model(model, folder, {})
        _, images = read_images(shards)
        tensors = [
            images_to_tensor(images[i : i + args.batch_size])
            for i in range(0, len(images), args.batch_size)
        ]
        torch.set_num_threads(os.cpu_count() or 1)
        with torch.inference_mode():
            model.encoder(tensors[0])
            started = time.perf_counter()
            for batch in tensors:
                model.encoder(batch)
            pure = len(images) / (time.perf_counter() - started)
        init_ray()
        cpus = (os.cpu_count() or 2) / 2
        config = EncodeConfig(
            batch_size=args.batch_size, rows_per_chunk=1024, actors=2, cpus_per_actor=cpus / 2
        )
        summary = encode(config, shards, f"{folder}/model.pt", f"{folder}/l.zarr", progress=QUIET)
    print(f"pure encoder forward, preloaded tensors: {pure:8.0f} img/s")
    print(f"lsf encode (Ray Data -> Zarr):           {summary.images_per_second:8.0f} img/s")
    print(f"ratio: {summary.images_per_second / pure:.2f} (goal >= 0.8)")


if __name__ == "__main__":
    main()
