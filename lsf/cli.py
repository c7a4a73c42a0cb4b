"""The `lsf` command: one verb per pipeline stage, plus `run` for all of them.

Every verb takes `--config FILE` (a pipeline YAML; flags override its values), `--address`
(Ray; default: a local instance) and `--help` with examples. Bad input prints one line
`lsf VERB: error: ...` and exits with code 2. Run `lsf --help` for the list.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import signal
import sys
from collections.abc import Callable

from lsf.core.config import SOURCES, load_config, with_overrides
from lsf.core.errors import LsfError

EXAMPLES = {
    "prepare": """examples:
  lsf prepare --source synthetic --out work/shards --n 20000
  lsf prepare --source celeba --path ~/data/celeba --out work/shards --size 64
  lsf prepare --source folder --path ./faces --out s3://bucket/shards --address auto""",
    "train": """examples:
  lsf train --shards work/shards --out work/run --epochs 8
  lsf train --shards work/shards --out work/run --workers 2 --resume
  lsf train --config celeba --shards s3://b/shards --out /shared/run --workers 8 \\
            --gpus-per-worker 1 --address auto""",
    "encode": """examples:
  lsf encode --shards work/shards --model work/run/model.pt --out work/latents.zarr
  lsf encode --shards s3://b/shards --model /shared/run/model.pt --out s3://b/latents.zarr \\
             --actors 8 --gpus-per-actor 0.5 --address auto""",
    "analyze": """examples:
  lsf analyze --latents work/latents.zarr --out work/analysis
  lsf analyze --latents work/latents.zarr --out work/analysis --bin-width 0.25 \\
              --facts 1.25,1.5,1.8 --trim-fact 1.5 --pca-sample 80000
  lsf analyze --latents s3://b/latents.zarr --out s3://b/analysis --address auto""",
    "generate": """examples:
  lsf generate --model work/run/model.pt --analysis work/analysis --out work/samples
  lsf generate --model work/run/model.pt --analysis work/analysis --out work/samples \\
               --sampler mvn,mvn-ellipsoid --n 2000 --level 0.95 --plane 3,7 --angle 45
  lsf generate ... --features inception.pt      # a local TorchScript feature extractor""",
    "report": """examples:
  lsf report --analysis work/analysis --samples work/samples --out work/report
  lsf report --analysis work/analysis --out work/report --overwrite   # statistics only""",
    "compare": """examples:
  lsf compare --config synthetic-bn --workdir work-bn   # built-in sweep: batch norm x 3 seeds
  lsf compare --config sweep.yaml --workdir /shared/lsf-sweep --address auto
sweep file:
  base: synthetic                 # pipeline config: built-in name or YAML path
  pipeline: {train: {epochs: 4}}  # optional settings for every variant
  axes:                           # every combination is one variant
    model.batch_norm: [false, true]
    model.activation: [leaky_relu, selu]
    train.seed: [0, 1, 2]         # seeds give the mean +- std on the page
  trials: {cpus: 0.25, max_concurrent: 2, max_failures: 1, report: false}
outputs: WORKDIR/shards, WORKDIR/variants/<name>/, WORKDIR/compare/index.html,
compare.json, compare.parquet. Exit code 1 when a variant failed.""",
    "run": """examples:
  lsf run --workdir work                       # built-in synthetic faces (config `synthetic`)
  lsf run --config celeba --workdir /data/lsf  # or --config path/to/your.yaml""",
}


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit code 2) instead of a usage dump."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="pipeline YAML or built-in name (synthetic, celeba, tiny)")
    parser.add_argument("--address", help="Ray address ('auto' for a running cluster)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _verb(sub, name: str, help: str, handler: Callable) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        name,
        help=help,
        description=help,
        epilog=EXAMPLES.get(name),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(handler=handler, verb=name)
    _common(parser)
    return parser


def _prepare_config(args):
    config = load_config(args.config)
    return with_overrides(
        config.prepare,
        "prepare",
        source=args.source,
        path=args.path,
        size=args.size,
        n=args.n,
        seed=args.seed,
        rows_per_shard=args.rows_per_shard,
    )


def cmd_prepare(args) -> int:
    from lsf.prepare import prepare

    summary = prepare(
        _prepare_config(args),
        args.out,
        overwrite=args.overwrite,
        address=args.address,
        progress=not args.quiet,
    )
    _report_skipped(summary.skipped)
    print(summary)
    return 0


def _report_skipped(skipped: list[tuple[str, str]], shown: int = 10) -> None:
    for name, reason in skipped[:shown]:
        print(f"skipped {name}: {reason}", file=sys.stderr)
    if len(skipped) > shown:
        print(f"... and {len(skipped) - shown} more (see manifest.json)", file=sys.stderr)


def cmd_train(args) -> int:
    from lsf.train import train

    config = load_config(args.config)
    train_config = with_overrides(
        config.train,
        "train",
        epochs=args.epochs,
        workers=args.workers,
        gpus_per_worker=args.gpus_per_worker,
        batch_size=args.batch_size,
        lr=args.lr,
    )
    summary = train(
        config.model,
        train_config,
        args.shards,
        args.out,
        overwrite=args.overwrite,
        resume=args.resume,
        address=args.address,
    )
    print(summary)
    return 0


def cmd_encode(args) -> int:
    from lsf.encode import encode

    config = load_config(args.config)
    encode_config = with_overrides(
        config.encode,
        "encode",
        batch_size=args.batch_size,
        rows_per_chunk=args.rows_per_chunk,
        actors=args.actors,
        gpus_per_actor=args.gpus_per_actor,
    )
    summary = encode(
        encode_config,
        args.shards,
        args.model,
        args.out,
        overwrite=args.overwrite,
        address=args.address,
        progress=not args.quiet,
    )
    print(summary)
    return 0


def _float_list(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        message = f"expected numbers separated by commas: {text!r}"
        raise argparse.ArgumentTypeError(message) from None


def cmd_analyze(args) -> int:
    from lsf.analyze import analyze

    config = load_config(args.config)
    analyze_config = with_overrides(
        config.analyze,
        "analyze",
        bins=args.bins,
        bin_width=args.bin_width,
        facts=args.facts,
        trim_fact=args.trim_fact,
        pca_sample=args.pca_sample,
        seed=args.seed,
    )
    if args.no_trim:
        analyze_config = dataclasses.replace(analyze_config, trim_fact=None)
    summary = analyze(
        analyze_config,
        args.latents,
        args.out,
        overwrite=args.overwrite,
        address=args.address,
        log=(lambda *_: None) if args.quiet else print,
    )
    print(summary)
    return 0


def _int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        message = f"expected integers separated by commas: {text!r}"
        raise argparse.ArgumentTypeError(message) from None


def cmd_generate(args) -> int:
    from lsf.generate import generate

    config = load_config(args.config)
    samplers = [s.strip() for s in args.sampler.split(",")] if args.sampler else None
    generate_config = with_overrides(
        config.generate,
        "generate",
        samplers=samplers,
        n=args.n,
        level=args.level,
        pca_sigmas=args.pca_sigmas,
        gmm_components=args.components,
        features=args.features,
        plane=args.plane,
        angle=args.angle,
        pca_axis=args.pca_axis,
        interpolate=args.interpolate,
        seed=args.seed,
        save_images=args.save_images or None,
        save_latents=args.save_latents or None,
    )
    summary = generate(
        generate_config,
        args.model,
        args.analysis,
        args.out,
        overwrite=args.overwrite,
        log=(lambda *_: None) if args.quiet else print,
    )
    print(summary)
    return 0


def cmd_report(args) -> int:
    from lsf.report import report

    config = load_config(args.config)
    report_config = with_overrides(
        config.report, "report", pairs=args.pairs, pca_pairs=args.pca_pairs
    )
    summary = report(
        report_config, args.analysis, args.out, samples=args.samples, overwrite=args.overwrite
    )
    print(summary)
    return 0


def cmd_run(args) -> int:
    from lsf.run import run_pipeline

    config = load_config(args.config or "synthetic")
    result = run_pipeline(config, args.workdir, address=args.address, progress=not args.quiet)
    print(f"done: ran {result.ran or 'nothing'}, skipped {result.skipped or 'nothing'}")
    print(f"report: {result.paths.report}/index.html")
    return 0


def cmd_compare(args) -> int:
    from lsf.compare import compare, load_sweep

    if not args.config:
        raise LsfError("--config SWEEP is required (a sweep file or a built-in sweep name)")
    summary = compare(
        load_sweep(args.config),
        args.workdir,
        config_name=args.config,
        address=args.address,
        progress=not args.quiet,
    )
    print(summary)
    if summary.failed:
        print(
            f"lsf compare: {len(summary.failed)} of {summary.variants} variants failed (see the "
            "page); rerun the same command to retry them",
            file=sys.stderr,
        )
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lsf",
        description="Latent space fragmentation: autoencoder latents of faces, at scale.",
        epilog="Run `lsf VERB --help` for each verb's options and examples.",
    )
    sub = parser.add_subparsers(title="verbs", required=True, parser_class=_Parser)

    p = _verb(sub, "prepare", "images to Parquet shards (Ray Data)", cmd_prepare)
    p.add_argument("--source", choices=SOURCES, help="image source (default: synthetic)")
    p.add_argument("--path", help="image folder or CelebA root")
    p.add_argument("--out", required=True, help="output shard folder (path or fsspec URL)")
    p.add_argument("--size", type=int, help="square image size in pixels (default 64)")
    p.add_argument("--n", type=int, help="synthetic: images to render; others: a cap")
    p.add_argument("--seed", type=int, help="synthetic seed (default 0)")
    p.add_argument("--rows-per-shard", type=int, help="rows per Parquet file (default 4096)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")

    p = _verb(sub, "train", "train the autoencoder (Ray Train, DDP)", cmd_train)
    p.add_argument("--shards", required=True, help="shard folder from `lsf prepare`")
    p.add_argument("--out", required=True, help="run folder (checkpoints, model.pt, metrics)")
    p.add_argument("--epochs", type=int, help="total epochs (a resumed run continues to it)")
    p.add_argument("--workers", type=int, help="Ray Train workers (DDP ranks)")
    p.add_argument("--gpus-per-worker", type=float, help="GPUs per worker (0: CPU)")
    p.add_argument("--batch-size", type=int, help="images per worker step")
    p.add_argument("--lr", type=float, help="Adam learning rate")
    p.add_argument("--resume", action="store_true", help="require resuming an earlier run")
    p.add_argument("--overwrite", action="store_true", help="discard an earlier run in --out")

    p = _verb(sub, "encode", "encode every image into the Zarr latent store (Ray Data)", cmd_encode)
    p.add_argument("--shards", required=True, help="shard folder from `lsf prepare`")
    p.add_argument("--model", required=True, help="RUN/model.pt from `lsf train`")
    p.add_argument("--out", required=True, help="latent store (LATENTS.zarr)")
    p.add_argument("--batch-size", type=int, help="images per forward pass")
    p.add_argument("--rows-per-chunk", type=int, help="store chunk rows (default 4096)")
    p.add_argument("--actors", type=int, help="maximum encoder actors")
    p.add_argument("--gpus-per-actor", type=float, help="GPUs per actor (0: CPU)")
    p.add_argument("--overwrite", action="store_true", help="replace a store of another model")

    p = _verb(sub, "analyze", "statistics of the latent store (Dask, out of core)", cmd_analyze)
    p.add_argument("--latents", required=True, help="complete latent store from `lsf encode`")
    p.add_argument("--out", required=True, help="analysis folder (analysis.zarr, summary.json)")
    p.add_argument("--bins", type=int, help="histogram bins over the robust range (default 64)")
    p.add_argument("--bin-width", type=float, help="fixed histogram bin width instead of --bins")
    p.add_argument("--facts", type=_float_list, help="trimming facts, e.g. 1.25,1.5,1.8")
    p.add_argument("--trim-fact", type=float, help="fact of the trimmed set used by PCA")
    p.add_argument("--no-trim", action="store_true", help="PCA of the full set")
    p.add_argument("--pca-sample", type=int, help="PCA on a seeded random subset of rows")
    p.add_argument("--seed", type=int, help="seed of the row samples (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing analysis")

    p = _verb(sub, "generate", "faces from statistical latent vectors, measured", cmd_generate)
    p.add_argument("--model", required=True, help="RUN/model.pt from `lsf train`")
    p.add_argument("--analysis", required=True, help="ANALYSIS folder from `lsf analyze`")
    p.add_argument("--out", required=True, help="samples folder (grids, paths, metrics.json)")
    p.add_argument("--sampler", help="sampler name(s), comma separated (default: all)")
    p.add_argument("--n", type=int, help="images per sampler (default 1000)")
    p.add_argument("--level", type=float, help="mvn-ellipsoid chi2 level (default 0.9)")
    p.add_argument("--pca-sigmas", type=float, help="mvn-pca-box bound (default 2)")
    p.add_argument("--components", type=int, help="gmm mixture components (default 10)")
    p.add_argument("--features", help="TorchScript feature extractor file for the metrics")
    p.add_argument("--plane", type=_int_list, help="components i,j of the plane path")
    p.add_argument("--angle", type=float, help="angle of the plane path in degrees")
    p.add_argument("--pca-axis", type=int, help="PCA axis of the sweep path")
    p.add_argument("--interpolate", type=_int_list, help="ids a,b of the interpolated images")
    p.add_argument("--seed", type=int, help="sampling seed (default 0)")
    p.add_argument("--save-images", action="store_true", help="write every image as PNG")
    p.add_argument("--save-latents", action="store_true", help="write latents.npy")
    p.add_argument("--overwrite", action="store_true", help="replace an existing samples folder")

    p = _verb(sub, "report", "the whole study on one static HTML page", cmd_report)
    p.add_argument("--analysis", required=True, help="ANALYSIS folder from `lsf analyze`")
    p.add_argument("--samples", help="SAMPLES folder from `lsf generate` (optional)")
    p.add_argument("--out", required=True, help="report folder (index.html + PNG figures)")
    p.add_argument("--pairs", type=_int_list, help="component pairs, flattened: i1,j1,i2,j2")
    p.add_argument("--pca-pairs", type=_int_list, help="PCA component pairs, flattened")
    p.add_argument("--overwrite", action="store_true", help="replace an existing report")

    p = _verb(sub, "run", "every stage in order; skips stages already complete", cmd_run)
    p.add_argument("--workdir", required=True, help="folder for every stage's output")

    p = _verb(sub, "compare", "model variants as one Ray Tune sweep, side by side", cmd_compare)
    for action in p._actions:
        if action.dest == "config":
            action.help = "sweep YAML or built-in sweep name (synthetic-bn, celeba-bn)"
    p.add_argument("--workdir", required=True, help="folder for shards, variants and the page")
    return parser


class Interrupted(KeyboardInterrupt):
    """SIGTERM, turned into the same clean stop as Ctrl-C (SIGINT)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_interrupted(signum, frame):
    raise Interrupted(signum)


# Disk full, read-only or permission errors are the user's to fix: one line, not a traceback.
USER_OS_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        return args.handler(args)
    except LsfError as exc:
        print(f"lsf {args.verb}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno not in USER_OS_ERRORS:
            raise
        where = f" ({exc.filename})" if exc.filename else ""
        print(
            f"lsf {args.verb}: error: {exc.strerror}{where}; nothing was marked complete",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        name = signal.Signals(signum).name
        print(
            f"lsf {args.verb}: interrupted ({name}); completed work is kept, rerun the same "
            "command to resume",
            file=sys.stderr,
        )
        return 128 + signum


if __name__ == "__main__":
    sys.exit(main())
