"""Benchmark the fact sweep's per-chunk steps on one store chunk: 4096 rows x D = 256,
F = 6 facts, the pairs of the first K = 10 PCA components (45), B = 32 bins per axis.

Run: `python benchmarks/fact_sweep.py [--rows 4096] [--dim 256] [--repeat 20]`. Prints the
median seconds per chunk of `chunk_shell_moments` (the per-shell float32 GEMM), of
`chunk_core_moments`, of `chunk_fact_pair_counts`, of the float64 `chunk_moments` that an
analysis pass already does per chunk (for scale), and the rows per second of the three sweep
steps together.
"""

import argparse
import statistics
import time

import numpy as np

from lsf.stats.fact_sweep import (
    chunk_core_moments,
    chunk_fact_pair_counts,
    chunk_shell_moments,
    core_ellipses,
    fact_moments,
    sweep_pairs,
)
from lsf.stats.histograms import robust_edges
from lsf.stats.moments import chunk_moments
from lsf.stats.pca import pca_from_covariance, project
from lsf.stats.trimming import trim_radius

FACTS = [1.25, 1.35, 1.45, 1.55, 1.7, 1.8]


def _median_seconds(step, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--components", type=int, default=10)
    parser.add_argument("--bins", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    mix = rng.standard_normal((args.dim, args.dim)) / np.sqrt(args.dim)
    x = (rng.standard_t(5, size=(args.rows, args.dim)) @ mix).astype(np.float32)
    mu, fwhm = np.median(x, axis=0), 2.0 * x.std(axis=0)
    radius = trim_radius(x, mu, fwhm)
    shift = x.mean(axis=0).astype(np.float64)
    fm = fact_moments(chunk_shell_moments(x, shift, radius, FACTS), shift)
    basis = pca_from_covariance(fm.mean[-1], fm.cov[-1])
    pairs = sweep_pairs(args.components)
    ellipses = core_ellipses(fm, basis.mean, basis.components, pairs)
    scores = project(x, basis.mean, basis.components[: args.components])
    sample_edges = robust_edges(scores, args.bins)
    edges = np.stack([sample_edges[pairs[:, 0]], sample_edges[pairs[:, 1]]], axis=1)
    chunk_fact_pair_counts(scores[:64], radius[:64], FACTS, pairs, edges)  # numba compile

    steps = {
        "chunk_shell_moments": lambda: chunk_shell_moments(x, shift, radius, FACTS),
        "chunk_core_moments": lambda: chunk_core_moments(scores, radius, FACTS, ellipses),
        "chunk_fact_pair_counts": lambda: chunk_fact_pair_counts(
            scores, radius, FACTS, pairs, edges
        ),
        "chunk_moments (float64, for scale)": lambda: chunk_moments(x, shift),
    }
    seconds = {name: _median_seconds(step, args.repeat) for name, step in steps.items()}
    print(f"chunk {args.rows} x {args.dim}, F={len(FACTS)}, P={len(pairs)}, B={args.bins}")
    for name, value in seconds.items():
        print(f"  {name:36s} {value * 1000:8.2f} ms")
    sweep = sum(v for k, v in seconds.items() if "for scale" not in k)
    print(f"  sweep steps together: {args.rows / sweep:,.0f} rows/s")


if __name__ == "__main__":
    main()
