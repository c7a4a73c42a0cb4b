"""`lsf pca` on latents too wide for `lsf analyze`'s D x D matrices: wall time and peak RSS
(`/usr/bin/time -v`) at 50,000 x 4,096 and 20,000 x 16,384 by default.

For each size: a correlated Gaussian store written by the store contract
(`large_dim.write_store`: a rank-64 mixing plus unit noise and means), then `lsf pca
--components K` in a subprocess; prints wall time, CPU time (user + system) and peak RSS beside
the preflight's memory estimate, the store's size and the explained variance ratio of the K
components. With `--keep` the complete stores stay in --work, so a rerun measures only `lsf pca`.
Run: `python benchmarks/pca_incremental.py [--sizes 50000x4096,20000x16384] [--components 64]
[--method incremental] [--work /tmp/lsf-pca-bench]`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from large_dim import folder_bytes, write_store  # noqa: E402
from scale import run_lsf  # noqa: E402

from lsf.core.config import PcaConfig  # noqa: E402
from lsf.core.preflight import pca_estimate  # noqa: E402
from lsf.core.store import is_complete  # noqa: E402
from lsf.pca import MIN_BATCH_ROWS  # noqa: E402

CHUNK_BYTES = 32 << 20  # rows per store chunk: ~32 MB of float32 rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50000x4096,20000x16384")
    parser.add_argument("--components", type=int, default=64)
    parser.add_argument("--method", default="incremental", choices=("incremental", "randomized"))
    parser.add_argument("--batch-rows", type=int, default=None)
    parser.add_argument("--work", default="/tmp/lsf-pca-bench")
    parser.add_argument("--keep", action="store_true", help="keep the stores and outputs")
    args = parser.parse_args()
    k = args.components
    config = PcaConfig(components=k, method=args.method, batch_rows=args.batch_rows)
    batch = args.batch_rows or max(4 * k, MIN_BATCH_ROWS)
    print("| n x D | K | method | wall | CPU | peak RSS | preflight | store | variance in K |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size in args.sizes.split(","):
        n, d = (int(v) for v in size.split("x"))
        rows_per_chunk = max(1, CHUNK_BYTES // (4 * d))
        store = os.path.join(args.work, f"z{n}x{d}.zarr")
        out = os.path.join(args.work, f"pca{n}x{d}-{args.method}")
        if not is_complete(store):  # none, or one cut short
            write_store(store, n, d, rows_per_chunk=rows_per_chunk)
        flags = ["--latents", store, "--out", out, "--components", str(k), "--overwrite"]
        flags += ["--method", args.method, "--quiet"]
        if args.batch_rows:
            flags += ["--batch-rows", str(args.batch_rows)]
        wall, rss, output = run_lsf("pca", flags)
        cpu = sum(
            float(v) for v in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", output)
        )
        summary = json.loads(Path(out, "pca.json").read_text())
        estimate = pca_estimate(n, d, k, rows_per_chunk, batch, config).memory
        print(
            f"| {n:,} x {d:,} | {k} | {args.method} | {wall:.0f} s | {cpu:.0f} s | {rss:.2f} GB | "
            f"{estimate / 2**30:.2f} GB | {folder_bytes(store) / 1e9:.2f} GB | "
            f"{summary['cumulative_explained_variance_ratio']:.3f} |",
            flush=True,
        )
        if not args.keep:
            shutil.rmtree(store)
            shutil.rmtree(out)


if __name__ == "__main__":
    main()
