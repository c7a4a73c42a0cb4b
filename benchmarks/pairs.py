"""Benchmark the pair analysis: N = 200,000, D = 256, B = 32 (all 32,640 pairs).

Run: `python benchmarks/pairs.py [--n 200000] [--dim 256] [--bins 32]`. Prints, in one run:
all-pairs 2D histograms (+ ellipse coverage) with the numba kernel over Dask chunks against
`np.histogram2d` per pair (timed on a sample of pairs, scaled to all pairs), and the binned
KDE per pair against `scipy.stats.gaussian_kde` on 80,000 points (with their L1 difference).
"""

import argparse
import time

import dask
import dask.array as da
import numpy as np
from scipy.stats import gaussian_kde

from lsf.core.config import AnalyzeConfig
from lsf.stats.histograms import robust_edges
from lsf.stats.pair_analysis import pair_tasks
from lsf.stats.pair_counts import chunk_pair_counts, select_pairs
from lsf.stats.pairs import binned_kde, binned_kde_batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--bins", type=int, default=32)
    parser.add_argument("--rows-per-chunk", type=int, default=4096)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    a = rng.standard_normal((args.dim, args.dim)) / np.sqrt(args.dim)
    x = (rng.standard_normal((args.n, args.dim)) @ a).astype(np.float32)
    edges = robust_edges(x[::2], args.bins)
    pairs = select_pairs("all", np.eye(args.dim))
    mean, cov = x.mean(axis=0).astype(np.float64), np.cov(x, rowvar=False)
    chunk_pair_counts(x[:64], edges, pairs[:4], mean, cov)  # compile

    z = da.from_array(x, chunks=(args.rows_per_chunk, args.dim))
    chunks = list(z.to_delayed().ravel())
    started = time.perf_counter()
    block = AnalyzeConfig().pair_block
    blocks = dask.compute(pair_tasks(chunks, edges, pairs, mean, cov, block))[0]
    kernel_seconds = time.perf_counter() - started
    counts = np.concatenate([b["counts"] for b in blocks])

    sample = rng.choice(len(pairs), 40, replace=False)
    started = time.perf_counter()
    for p in sample:
        i, j = pairs[p]
        reference, _, _ = np.histogram2d(x[:, i], x[:, j], bins=[edges[i], edges[j]])
        assert np.array_equal(reference, counts[p])
    per_pair = (time.perf_counter() - started) / len(sample)
    numpy_seconds = per_pair * len(pairs)

    points = x[:80000, :2].astype(np.float64)
    e = robust_edges(points, args.bins)
    hist, _, _ = np.histogram2d(points[:, 0], points[:, 1], bins=[e[0], e[1]])
    widths = (e[0, 1] - e[0, 0], e[1, 1] - e[1, 0])
    points_cov = np.cov(points, rowvar=False)
    density = binned_kde(hist, widths, points_cov, len(points))
    batch = 2048  # as lsf runs it: one batched FFT per block of pairs
    started = time.perf_counter()
    binned_kde_batch(
        np.repeat(hist[None], batch, 0),
        np.tile(widths, (batch, 1)),
        np.repeat(points_cov[None], batch, 0),
        len(points),
    )
    binned_seconds = (time.perf_counter() - started) / batch
    cx, cy = (0.5 * (edge[1:] + edge[:-1]) for edge in e)
    gx, gy = np.meshgrid(cx, cy, indexing="ij")
    started = time.perf_counter()
    reference = gaussian_kde(points.T)(np.vstack([gx.ravel(), gy.ravel()])).reshape(gx.shape)
    kde_seconds = time.perf_counter() - started
    l1 = np.abs(density - reference).sum() / reference.sum()

    print(f"data: {args.n} x {args.dim}, {len(pairs)} pairs, {args.bins} bins per axis")
    print(f"all-pairs kernel (counts + coverage): {kernel_seconds:8.1f} s")
    print(
        f"np.histogram2d per pair (scaled):     {numpy_seconds:8.1f} s   "
        f"ratio {numpy_seconds / kernel_seconds:6.1f}x (goal 30x, all pairs < 15 s)"
    )
    print(f"binned KDE per pair (batched):        {binned_seconds * 1e3:8.3f} ms")
    print(
        f"gaussian_kde, 80,000 points:          {kde_seconds * 1e3:8.0f} ms   "
        f"ratio {kde_seconds / binned_seconds:8.0f}x (goal 1000x), L1 difference {l1:.2%}"
    )


if __name__ == "__main__":
    main()
