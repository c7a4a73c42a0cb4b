"""Scale benchmark of `lsf analyze`: wall time, time per row, peak RSS and store reads.

Builds seeded synthetic latent stores by the store contract (`create_store`, `write_chunk`,
`finalize`), chunk by chunk so that no store is ever whole in memory, then runs
`lsf analyze` (defaults: all pairs, original + PCA) on each in a subprocess under
`/usr/bin/time -v` (or `resource.getrusage(RUSAGE_CHILDREN)` in a fresh wrapper process),
taking the best of `--repeat` runs. Reads of the store per stage come from summary.json's
`reads`: three passes (the projection together with the first wave of pair blocks) plus
one read per further wave.
Run: `python benchmarks/scale.py [--sizes 250000 1000000 4000000] [--dim 256]
[--folder /tmp/lsf-scale] [--repeat 2] [--keep]`. A store of 4M x 256 is ~4 GB on disk.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lsf.core.store import create_store, finalize, open_latents, write_chunk


def chunk_latents(index: int, rows: int, mix: np.ndarray, seed: int = 0) -> np.ndarray:
    """Rows of chunk `index`: correlated normals with heavy tails in the first 8 columns,
    seeded per chunk so that any store size is built out of core."""
    rng = np.random.default_rng([seed, index])
    d = len(mix)
    x = rng.standard_normal((rows, d), dtype=np.float32) @ mix
    x += np.linspace(-5, 5, d, dtype=np.float32)
    x[:, :8] += rng.standard_t(3, size=(rows, 8)).astype(np.float32)
    return x.astype(np.float32)


def build_store(path: str, n: int, d: int, rows_per_chunk: int, seed: int = 0) -> None:
    mix = np.random.default_rng(seed).standard_normal((d, d)).astype(np.float32) / np.sqrt(d)
    group = create_store(
        path, n, d, rows_per_chunk, model={"path": "-", "sha256": "-"}, source={"fingerprint": "-"}
    )
    for index, start in enumerate(range(0, n, rows_per_chunk)):
        stop = min(start + rows_per_chunk, n)
        write_chunk(group, index, np.arange(start, stop), chunk_latents(index, stop - start, mix))
    finalize(group)


def plain_read_seconds(path: str) -> float:
    """Seconds to read every chunk of the store once (Dask threads, nothing kept)."""
    z = open_latents(path)
    started = time.perf_counter()
    z.sum(axis=0).compute()
    return time.perf_counter() - started


def run_lsf(verb: str, args: list[str]) -> tuple[float, float, str]:
    """`(wall seconds, peak RSS in GB, output)` of one `lsf VERB ARGS` subprocess."""
    command = [sys.executable, "-m", "lsf.cli", verb, *args]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    started = time.perf_counter()
    if shutil.which("time") and Path("/usr/bin/time").exists():
        done = subprocess.run(
            ["/usr/bin/time", "-v", *command], capture_output=True, text=True, env=env
        )
        wall = time.perf_counter() - started
        match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
        rss_kb = int(match.group(1)) if match else 0
    else:
        wrapper = (
            "import resource, subprocess, sys; subprocess.run(sys.argv[1:]); "
            "print('maxrss', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
        )
        done = subprocess.run(
            [sys.executable, "-c", wrapper, *command], capture_output=True, text=True, env=env
        )
        wall = time.perf_counter() - started
        rss_kb = int(re.findall(r"maxrss (\d+)", done.stdout)[-1])
    if done.returncode != 0:
        raise SystemExit(f"lsf {verb} failed:\n{done.stdout}\n{done.stderr}")
    return wall, rss_kb / 2**20, done.stdout + done.stderr


def run_analyze(store: str, out: str, extra: list[str]) -> tuple[float, float, str]:
    """`run_lsf` of `lsf analyze --latents STORE --out OUT --overwrite EXTRA`."""
    return run_lsf("analyze", ["--latents", store, "--out", out, "--overwrite", *extra])


def reads_per_stage(out: str) -> str:
    """Reads of the store from the analysis' summary.json: the three passes (the projection
    with the first pair wave) plus the further pair waves and any extra read."""
    stages = json.loads(Path(out, "summary.json").read_text())["reads"]["stages"]
    waves = sum(1 for s in stages if s.startswith("pairs wave"))
    extra = [s for s in stages if not s.startswith("pairs wave")]
    return f"{len(stages)} = {len(extra)} passes + {waves} pair waves (1st with the projection)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[250_000, 1_000_000, 4_000_000])
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--rows-per-chunk", type=int, default=4096)
    parser.add_argument("--folder", default=None, help="where the stores go (default: temp)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per size (best is kept)")
    parser.add_argument("--keep", action="store_true", help="keep the stores")
    parser.add_argument("extra", nargs="*", help="extra `lsf analyze` flags after --")
    args = parser.parse_args()
    folder = Path(args.folder or tempfile.mkdtemp(prefix="lsf-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    print("| latents x dim | store | plain read | analyze wall | per 1M rows | peak RSS | reads |")
    print("|---|---|---|---|---|---|---|")
    try:
        for n in args.sizes:
            store = str(folder / f"latents-{n}x{args.dim}.zarr")
            if not Path(store, "zarr.json").exists():
                build_store(store, n, args.dim, args.rows_per_chunk)
            size = sum(f.stat().st_size for f in Path(store).rglob("*") if f.is_file())
            read = min(plain_read_seconds(store) for _ in range(args.repeat))
            runs = [
                run_analyze(store, str(folder / "analysis"), args.extra) for _ in range(args.repeat)
            ]
            wall, rss, output = min(runs)
            reads = reads_per_stage(str(folder / "analysis"))
            print(
                f"| {n:,} x {args.dim} | {size / 1e9:.2f} GB | {read:.2f} s | {wall:.1f} s "
                f"| {wall / n * 1e6:.1f} s | {min(r[1] for r in runs):.2f} GB "
                f"| {reads} |",
                flush=True,
            )
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
