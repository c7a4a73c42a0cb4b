"""`lsf analyze` with its defaults on latents the size other people's models make: n x 1,024
and n x 2,048 (a flattened 8x16x16 VAE latent), n = 200,000 by default.

For each D: a correlated Gaussian store written by the store contract, then `lsf analyze` (defaults:
`pairs: auto` within `pair_budget_mb`) in a subprocess under /usr/bin/time -v; prints wall time,
peak RSS beside the preflight's memory estimate, the store's and the analysis's size on disk and the
pair selection from summary.json. On a small machine pass `--rows 20000` and read the extrapolation
column: every pass is linear in n (the D x D covariance, the fixed number of pair grids), so time
and disk of the row-dependent parts scale by 200,000 / n. Peak RSS does not: the row sample
(`sample_rows`, 100,000) is smaller with fewer rows, so measure at 200,000 rows for the 4 GB
goal (at 20,000 x 2,048 the peak was half the 200,000-row one).
Run: `python benchmarks/large_dim.py [--rows 200000] [--dims 1024,2048] [--work /tmp/lsf-bench]`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale import run_analyze  # noqa: E402

from lsf.core.config import AnalyzeConfig  # noqa: E402
from lsf.core.preflight import analyze_estimate  # noqa: E402
from lsf.core.store import create_store, finalize, write_chunk  # noqa: E402
from lsf.stats.pair_analysis import pair_grid_count  # noqa: E402

TARGET_ROWS = 200_000


def folder_bytes(path: str) -> int:
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(path)
        for name in names
    )


def write_store(path: str, n: int, d: int, rows_per_chunk: int = 4096, seed: int = 0) -> str:
    """Correlated Gaussian latents (a random low-rank mixing plus noise), chunk by chunk."""
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((64, d)).astype(np.float32) / 8
    means = rng.normal(0, 3, d).astype(np.float32)
    source = {"dataset": "benchmark", "image_shape": None, "fingerprint": f"bench-{n}-{d}"}
    model = {"kind": "none", "path": None, "sha256": None}
    group = create_store(path, n, d, rows_per_chunk, model=model, source=source)
    for index, start in enumerate(range(0, n, rows_per_chunk)):
        stop = min(start + rows_per_chunk, n)
        k = stop - start
        z = rng.standard_normal((k, 64), dtype=np.float32) @ mixing
        z += rng.standard_normal((k, d), dtype=np.float32) + means
        write_chunk(group, index, np.arange(start, stop), z)
    finalize(group)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=TARGET_ROWS)
    parser.add_argument("--dims", default="1024,2048")
    parser.add_argument("--work", default="/tmp/lsf-large-dim")
    parser.add_argument("--keep", action="store_true", help="keep the stores and analyses")
    args = parser.parse_args()
    scale = TARGET_ROWS / args.rows
    print(f"{'D':>6} {'rows':>8} {'wall s':>8} {'peak RSS GB':>12} {'preflight GB':>13} "
          f"{'store GB':>9} {'analysis GB':>12} {'wall s @200k':>13}  pairs")  # fmt: skip
    for d in (int(v) for v in args.dims.split(",")):
        store = os.path.join(args.work, f"z{d}.zarr")
        out = os.path.join(args.work, f"a{d}")
        if not os.path.exists(os.path.join(store, "zarr.json")):
            chunks = -(-TARGET_ROWS // 4096)  # the reduction depth of 200,000 rows
            write_store(store, args.rows, d, rows_per_chunk=-(-args.rows // chunks))
        wall, rss, _ = run_analyze(store, out, ["--quiet"])
        summary = json.loads(Path(out, "summary.json").read_text())
        selection = summary.get("pair_selection", {})
        config = AnalyzeConfig()
        estimate = analyze_estimate(args.rows, d, config, pair_grid_count(config, d)).memory
        print(
            f"{d:>6} {args.rows:>8} {wall:>8.0f} {rss:>12.2f} {estimate / 1e9:>13.2f} "
            f"{folder_bytes(store) / 1e9:>9.2f} "
            f"{folder_bytes(out) / 1e9:>12.2f} {wall * scale:>13.0f}  {selection}",
            flush=True,
        )
        if not args.keep:
            shutil.rmtree(store)
            shutil.rmtree(out)


if __name__ == "__main__":
    main()
