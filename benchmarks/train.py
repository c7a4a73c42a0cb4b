"""Benchmark `train`: Ray Train images/s against a plain single-process PyTorch loop.

Run: `python benchmarks/train.py [--n 6000] [--epochs 3]`. The same model, batch size and
data (synthetic 64-px faces); steady-state epochs only (the first epoch is warm-up).
Prints plain-loop images/s, Ray Train with 1 and 2 workers, and the ratios.
"""

import argparse
import os
import tempfile
import time

import numpy as np
import torch

from lsf.core.config import ModelConfig, PrepareConfig, TrainConfig
from lsf.core.progress import QUIET
from lsf.data.shards import read_images
from lsf.nn.model import Autoencoder, images_to_tensor
from lsf.nn.training import reconstruction_loss, train_epoch
from lsf.prepare import prepare
from lsf.train import train

MODEL = ModelConfig(widths=[16, 32, 64, 128])


def plain_loop_rate(images: np.ndarray, epochs: int, batch_size: int) -> float:
    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    model = Autoencoder(MODEL)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = reconstruction_loss("mse")
    rates = []
    for epoch in range(1, epochs + 1):
        order = np.random.default_rng(epoch).permutation(len(images))
        batches = (
            images_to_tensor(images[order[i : i + batch_size]])
            for i in range(0, len(images), batch_size)
        )
        started = time.perf_counter()
        _, count = train_epoch(
            model, batches, optimizer, loss_fn, epoch=epoch, device=torch.device("cpu")
        )
        rates.append(count / (time.perf_counter() - started))
    return float(np.mean(rates[1:]))


def ray_rate(shards: str, out: str, workers: int, epochs: int, batch_size: int) -> float:
    cpus = 0.5 if workers > 1 else 1.0
    config = TrainConfig(
        epochs=epochs, workers=workers, cpus_per_worker=cpus, batch_size=batch_size
    )
    train(MODEL, config, shards, out)
    import csv

    with open(f"{out}/metrics.csv") as f:
        rates = [float(row["images_per_second"]) for row in csv.DictReader(f)]
    return float(np.mean(rates[1:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=6000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        shards = f"{folder}/shards"
        prepare(PrepareConfig(n=args.n, val_fraction=0.05), shards, progress=QUIET)
        _, images = read_images(shards)  # images/s does not depend on the split
        plain = plain_loop_rate(images, args.epochs, args.batch_size)
        one = ray_rate(shards, f"{folder}/run1", 1, args.epochs, args.batch_size)
        two = ray_rate(shards, f"{folder}/run2", 2, args.epochs, args.batch_size)
    print(f"plain PyTorch loop, 1 process:  {plain:8.0f} img/s")
    print(
        f"Ray Train, 1 worker:            {one:8.0f} img/s  ratio {one / plain:.2f} "
        f"(Ray overhead {100 * (1 - one / plain):.0f}%, goal < 10%)"
    )
    print(f"Ray Train, 2 workers (DDP):     {two:8.0f} img/s  ratio {two / plain:.2f}")


if __name__ == "__main__":
    main()
