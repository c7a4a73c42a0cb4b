"""Benchmark the regions pass of `lsf analyze`: the whole analysis with the pass on and off,
side by side, on 200,000 x 256 latents without the pair pass (one pair per coordinate
system), at the default mixture sample (`regions_sample_rows` 10,000, k = 1..8) and HDBSCAN
sample (2,000 rows).

Run: `python benchmarks/regions.py [--n 200000] [--dim 256] [--fragments 1] [--repeats 2]`.
Each run is an `lsf analyze` subprocess (wall time and peak RSS); on and off alternate and
the fastest of `--repeats` runs of each is compared. `--fragments 3` makes the latents three
separated families (the regions pass then labels three regions) instead of one.
Prints the added time (goal: at most 20 % or 5 s, whichever is larger) and the peak RSS.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from scale import run_analyze  # noqa: E402

from lsf.core.store import create_store, finalize, write_chunk  # noqa: E402

FEW_PAIRS = ["--pairs", "first:2", "--pca-pairs", "first:2", "--quiet"]


def write_store(path: str, n: int, d: int, fragments: int, rows_per_chunk: int) -> None:
    """Correlated latents (the analyze benchmark's kind), optionally in separated families."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((d, d)).astype(np.float32) / np.sqrt(d)
    offsets = 3 * rng.standard_normal((fragments, d)).astype(np.float32)
    group = create_store(
        path, n, d, rows_per_chunk, model={"path": "-", "sha256": "-"}, source={"fingerprint": "-"}
    )
    for index, start in enumerate(range(0, n, rows_per_chunk)):
        stop = min(start + rows_per_chunk, n)
        x = rng.standard_normal((stop - start, d), dtype=np.float32) @ a
        x += np.linspace(-5, 5, d, dtype=np.float32)
        x += offsets[rng.integers(0, fragments, stop - start)]
        write_chunk(group, index, np.arange(start, stop), x)
    finalize(group)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--fragments", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rows-per-chunk", type=int, default=4096)
    args = parser.parse_args()
    runs = {"on": [], "off": []}
    with tempfile.TemporaryDirectory() as folder:
        store = f"{folder}/l.zarr"
        write_store(store, args.n, args.dim, args.fragments, args.rows_per_chunk)
        for _ in range(args.repeats):
            for mode, extra in (("off", ["--no-regions"]), ("on", [])):
                out = f"{folder}/analysis-{mode}"
                wall, rss, _ = run_analyze(store, out, [*FEW_PAIRS, *extra])
                runs[mode].append((wall, rss))
        summary = json.loads(Path(folder, "analysis-on", "summary.json").read_text())
    on, off = min(runs["on"]), min(runs["off"])
    added = on[0] - off[0]
    allowed = max(0.2 * off[0], 5.0)
    fragmentation = summary["fragmentation"]
    print(f"data: {args.n} x {args.dim} float32, {args.fragments} famil(ies), no pair pass")
    print(
        f"regions: K = {fragmentation['method']['components']}, mixture sample "
        f"{fragmentation['method']['sample_rows']} rows, k = 1..{fragmentation['method']['max_k']},"
        f" HDBSCAN {fragmentation['method']['hdbscan_rows']} rows -> "
        f"{fragmentation['verdict']}"
    )
    print(f"lsf analyze, regions off: {off[0]:7.2f} s   peak RSS {off[1]:5.2f} GB")
    print(f"lsf analyze, regions on:  {on[0]:7.2f} s   peak RSS {on[1]:5.2f} GB")
    print(
        f"ratio on/off {on[0] / off[0]:5.2f}x; added {added:6.2f} s (goal <= {allowed:.1f} s: "
        f"{'met' if added <= allowed else 'NOT met'}); all runs (s): "
        f"off {[round(w, 1) for w, _ in runs['off']]}, on {[round(w, 1) for w, _ in runs['on']]}"
    )


if __name__ == "__main__":
    main()
