"""Peak RSS and wall time of every `lsf` stage at two sizes: does memory grow with the data?

Each stage runs as an `lsf` CLI subprocess (built-in `tiny` config) under `/usr/bin/time -v`;
peak RSS is its "Maximum resident set size": the largest single process among the CLI
process (the driver; for `encode` the only store writer) and the children it reaped, not a
sum. `prepare` and `encode` run on two shard sets (images); `analyze`, `generate` and
`report` on two seeded latent stores of the tiny model's latent dimension, built chunk by
chunk by the store contract (rows of `scale.chunk_latents`) and pointing at the trained model
and the small shards, so that `lsf generate` accepts them.
Run: `python benchmarks/stage_memory.py [--images 2000 16000] [--rows 250000 1000000]
[--folder /tmp/lsf-stage-memory] [--keep]` (about 4 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import chunk_latents, run_analyze, run_lsf  # noqa: E402

from lsf.core.store import create_store, finalize, is_complete, write_chunk  # noqa: E402
from lsf.data.shards import read_manifest  # noqa: E402
from lsf.encode import file_sha256  # noqa: E402
from lsf.nn.model import load_model  # noqa: E402

GROWTH = 1.10  # RSS ratio (large / small) above which a stage is flagged as growing


def run_verb(verb: str, args: list[str]) -> tuple[float, float, str]:
    """`scale.run_lsf` of `lsf VERB --quiet ARGS`: wall seconds, peak RSS in GiB, output."""
    return run_lsf(verb, ["--quiet", *args])


def build_model_store(
    path: str, n: int, model_path: str, shards: str, rows_per_chunk: int, seed: int = 0
) -> None:
    """A complete seeded store of `n` rows in the model's latent dimension whose attributes
    name the model (path, sha256) and the shards, as `lsf encode` writes them."""
    d = load_model(model_path)[0].config.latent_dim
    manifest = read_manifest(shards)
    model = {"path": model_path, "sha256": file_sha256(model_path)}
    source = {
        "dataset": manifest["source"],
        "image_shape": manifest["image_shape"],
        "fingerprint": manifest["fingerprint"],
        "shards": shards,
    }
    mix = np.random.default_rng(seed).standard_normal((d, d)).astype(np.float32) / np.sqrt(d)
    group = create_store(path, n, d, rows_per_chunk, model=model, source=source)
    for index, start in enumerate(range(0, n, rows_per_chunk)):
        stop = min(start + rows_per_chunk, n)
        write_chunk(group, index, np.arange(start, stop), chunk_latents(index, stop - start, mix))
    finalize(group)


def measure(folder: Path, images: list[int], rows: list[int], rows_per_chunk: int) -> dict:
    """`{stage: [(size, wall s, peak RSS GiB), ...]}` for every stage, sizes in order."""
    results: dict[str, list] = {}

    def record(stage: str, size: int, run: tuple[float, float, str]) -> None:
        results.setdefault(stage, []).append((size, run[0], run[1]))
        print(f"  {stage} {size:,}: {run[0]:.1f} s, {run[1] * 1024:.0f} MiB", flush=True)

    tiny = ["--config", "tiny", "--overwrite"]
    shards = {n: str(folder / f"shards-{n}") for n in images}
    for n in images:
        record("prepare", n, run_verb("prepare", [*tiny, "--out", shards[n], "--n", str(n)]))
    run, small = folder / "run", shards[images[0]]
    record("train", images[0], run_verb("train", [*tiny, "--shards", small, "--out", str(run)]))
    model = str(run / "model.pt")
    for n in images:
        out = ["--out", str(folder / f"latents-{n}.zarr")]
        record(
            "encode", n, run_verb("encode", [*tiny, "--shards", shards[n], "--model", model, *out])
        )
    for n in rows:
        store, analysis = str(folder / f"store-{n}.zarr"), str(folder / f"analysis-{n}")
        samples, report = str(folder / f"samples-{n}"), str(folder / f"report-{n}")
        if not is_complete(store):
            started = time.perf_counter()
            build_model_store(store, n, model, small, rows_per_chunk)
            print(f"  store {n:,} rows built in {time.perf_counter() - started:.1f} s", flush=True)
        pairs = ["--config", "tiny", "--quiet", "--pairs", "first:8", "--pca-pairs", "first:8"]
        record("analyze", n, run_analyze(store, analysis, pairs))
        gen = ["--model", model, "--analysis", analysis, "--out", samples]
        record("generate", n, run_verb("generate", [*tiny, *gen]))
        record(
            "report",
            n,
            run_verb(
                "report", [*tiny, "--analysis", analysis, "--samples", samples, "--out", report]
            ),
        )
    return results


def table(results: dict) -> list[str]:
    """The markdown table: one line per stage, the two sizes side by side."""
    lines = [
        "| stage | small | large | peak RSS small | peak RSS large | RSS ratio | wall small "
        "| wall large |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for stage, runs in results.items():
        unit = "rows" if stage in ("analyze", "generate", "report") else "images"
        (n_a, wall_a, rss_a), (n_b, wall_b, rss_b) = runs[0], runs[-1]
        if len(runs) == 1:
            lines.append(
                f"| {stage} | {n_a:,} {unit} | - | {rss_a * 1024:.0f} MiB | - | - "
                f"| {wall_a:.1f} s | - |"
            )
            continue
        ratio = rss_b / rss_a
        flag = " (grows)" if ratio > GROWTH else ""
        lines.append(
            f"| {stage} | {n_a:,} {unit} | {n_b:,} {unit} | {rss_a * 1024:.0f} MiB "
            f"| {rss_b * 1024:.0f} MiB | {ratio:.2f}{flag} | {wall_a:.1f} s | {wall_b:.1f} s |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        usage="python benchmarks/stage_memory.py [--images A B] [--rows A B] [--folder DIR] "
        "[--keep]",
    )
    parser.add_argument(
        "--images", type=int, nargs=2, default=[2000, 16000], help="synthetic images per shard set"
    )
    parser.add_argument(
        "--rows", type=int, nargs=2, default=[250_000, 1_000_000], help="rows per latent store"
    )
    parser.add_argument("--rows-per-chunk", type=int, default=4096, help="rows per store chunk")
    parser.add_argument("--folder", default=None, help="work folder (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    if not Path("/usr/bin/time").exists():
        raise SystemExit("needs GNU time at /usr/bin/time (apt-get install time)")
    folder = Path(args.folder or tempfile.mkdtemp(prefix="lsf-stage-memory-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        results = measure(folder.resolve(), args.images, args.rows, args.rows_per_chunk)
        print("\n".join(table(results)))
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
