"""Cost benchmark of `lsf generate`'s measured table: wall time and peak RSS side by side.

Runs `lsf generate` on a finished workdir (`lsf run` output: run/model.pt, analysis/) in
subprocesses under `/usr/bin/time -v` (`scale.run_lsf`), interleaving a baseline and the
default settings and keeping the best of `--repeat` runs each, then prints the ratio. The
baseline is this code with `--repeats 1`, or, with `--baseline-code DIR`, another checkout of
lsf (e.g. the commit before the intervals) run with its own defaults. Each run prints its CPU
seconds (user + system) and the 1-minute load average before and after it (the machine may
be shared: compare the ratios).
Run: `python benchmarks/generate.py --workdir work [--baseline-code /tmp/lsf-old] [--repeat 2]
[--args "--repeats 5"] [--common "--config tiny"] [--keep DIR]`.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale import run_lsf  # noqa: E402


def run_generate(workdir: str, out: str, extra: list[str], code: str | None):
    """`(wall s, peak RSS GB, output)` of one `lsf generate` with `code` first on the path."""
    args = [
        "--model",
        f"{workdir}/run/model.pt",
        "--analysis",
        f"{workdir}/analysis",
        "--out",
        out,
        "--overwrite",
        "--quiet",
        *extra,
    ]
    saved = os.environ.get("PYTHONPATH")
    here = str(Path(__file__).resolve().parent.parent)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [code or here, saved]))
    try:
        return run_lsf("generate", args)
    finally:
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved


def cpu_seconds(output: str) -> float:
    """User plus system CPU seconds from `/usr/bin/time -v`'s report (NaN without it): less
    sensitive than wall time to other work on a shared machine."""
    found = re.findall(r"(?:User|System) time \(seconds\): ([0-9.]+)", output)
    return sum(float(v) for v in found) if len(found) == 2 else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True, help="a finished `lsf run` workdir")
    parser.add_argument("--baseline-code", help="checkout of the lsf to compare against")
    parser.add_argument("--args", default="", help="extra flags of the measured run")
    parser.add_argument("--common", default="", help="flags of both runs (e.g. --config tiny)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each, best kept")
    parser.add_argument("--keep", help="folder to keep the samples of the last runs in")
    options = parser.parse_args()
    common = shlex.split(options.common)
    baseline = (common, options.baseline_code)
    if not options.baseline_code:
        baseline = ([*common, "--repeats", "1"], None)
    variants = {"baseline": baseline, "measured": ([*common, *shlex.split(options.args)], None)}
    best: dict[str, tuple[float, float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="lsf-generate-bench-") as scratch:
        folder = options.keep or scratch
        for attempt in range(options.repeat):
            for name, (extra, code) in variants.items():
                load = os.getloadavg()[0]
                wall, rss, output = run_generate(options.workdir, f"{folder}/{name}", extra, code)
                cpu = cpu_seconds(output)
                print(
                    f"{name:9s} run {attempt + 1}: {wall:7.1f} s, CPU {cpu:7.1f} s, peak RSS "
                    f"{rss:.2f} GB (load average {load:.1f} before, "
                    f"{os.getloadavg()[0]:.1f} after)",
                    flush=True,
                )
                if name not in best or wall < best[name][0]:
                    best[name] = (wall, cpu, rss)
    (bw, bc, br), (mw, mc, mr) = best["baseline"], best["measured"]
    print(f"baseline {bw:.1f} s (CPU {bc:.1f} s) {br:.2f} GB")
    print(f"measured {mw:.1f} s (CPU {mc:.1f} s) {mr:.2f} GB")
    print(f"time ratio {mw / bw:.2f}x, CPU time ratio {mc / bc:.2f}x, memory ratio {mr / br:.2f}x")


if __name__ == "__main__":
    main()
