"""Benchmark `prepare`: synthetic rendering speed per core and Parquet shard write throughput.

Run: `python benchmarks/prepare.py [--n 20000]`. Prints images/s of the numba renderer on
one core against a plain-numpy reference renderer of the same scene kind, the shard write
throughput (MB/s), and the whole Ray Data `prepare` (images/s) on this machine.
"""

import argparse
import tempfile
import time

import numpy as np

from lsf.core.config import PrepareConfig
from lsf.core.progress import QUIET
from lsf.data.shards import images_to_table, write_table
from lsf.data.synthetic import face_parameters, render_faces, synthetic_faces
from lsf.prepare import prepare


def numpy_reference_faces(params: np.ndarray, size: int) -> np.ndarray:
    """The naive way: whole-image numpy ops per shape (background, head, two eyes, mouth)."""
    y, x = np.mgrid[0:size, 0:size]
    x = (x + 0.5) * 2 / size - 1
    y = (y + 0.5) * 2 / size - 1
    out = np.empty((len(params), size, size, 3), np.uint8)
    for k, p in enumerate(params):
        rgb = np.ones((size, size, 3)) * 0.6
        shapes = [
            (0, 0.02, 0.5 + 0.05 * p[0], 0.66 + 0.05 * p[1], (0.9, 0.7, 0.6)),
            (-0.21, -0.1, 0.1, 0.06, (1, 1, 1)),
            (0.21, -0.1, 0.1, 0.06, (1, 1, 1)),
            (0, 0.38, 0.16, 0.04, (0.8, 0.3, 0.3)),
        ]
        for cx, cy, rx, ry, color in shapes:
            f = np.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2)
            alpha = np.clip(0.5 - (f - 1) * min(rx, ry) * size / 2, 0, 1)[..., None]
            rgb = rgb * (1 - alpha) + np.array(color) * alpha
        out[k] = (rgb * 255).astype(np.uint8)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20000)
    args = parser.parse_args()

    params = face_parameters(0, 4096, seed=0)
    render_faces(params[:8], 64)  # compile
    started = time.perf_counter()
    images = render_faces(params, 64)
    numba_rate = len(params) / (time.perf_counter() - started)
    started = time.perf_counter()
    numpy_reference_faces(params[:512], 64)
    numpy_rate = 512 / (time.perf_counter() - started)
    print(f"synthetic render, 1 core, 64x64: {numba_rate:,.0f} img/s (goal >= 2,000)")
    print(f"numpy reference (4 shapes only):  {numpy_rate:,.0f} img/s")
    print(f"ratio: {numba_rate / numpy_rate:.1f}x with 20+ shapes against 4")

    with tempfile.TemporaryDirectory() as folder:
        table = images_to_table(
            np.arange(len(images)),
            [str(i) for i in range(len(images))],
            np.zeros(len(images)),
            images,
        )
        started = time.perf_counter()
        for i in range(5):
            write_table(table, f"{folder}/s{i}.parquet")
        seconds = time.perf_counter() - started
        megabytes = 5 * images.nbytes / 1e6
        print(
            f"shard write: {megabytes / seconds:,.0f} MB/s ({5 * len(images) / seconds:,.0f} img/s)"
        )

        started = time.perf_counter()
        summary = prepare(PrepareConfig(n=args.n), f"{folder}/shards", progress=QUIET)
        total = time.perf_counter() - started
        print(
            f"lsf prepare (Ray Data, {args.n} images, incl. Ray start): {summary.n / total:,.0f} "
            f"img/s, {total:.1f} s"
        )
        assert np.array_equal(synthetic_faces(0, 4, seed=0), images[:4])


if __name__ == "__main__":
    main()
