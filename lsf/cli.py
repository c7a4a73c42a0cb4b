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

from lsf.core.config import builtin_config_names, flag_spec, load_config, with_overrides
from lsf.core.errors import LsfError
from lsf.core.progress import QUIET, TERMINAL

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
    "import": """examples:
  lsf import --latents my_latents.npy --out work/latents.zarr
  lsf import --latents latents.parquet --out work/latents.zarr --ids image_id --split split
  lsf import --latents run.npz --key z --ids ids.npy --out work/latents.zarr --max-nonfinite 0.001
  lsf import --latents vae.h5 --key latents/mu --out work/latents.zarr   # pip install h5py
then: lsf analyze --latents work/latents.zarr --out work/analysis   (no model needed)""",
    "analyze": """examples:
  lsf analyze --latents work/latents.zarr --out work/analysis
  lsf analyze --latents work/latents.zarr --out work/study --config study   # the study's way
  lsf analyze --latents work/latents.zarr --out work/analysis --bin-width 0.25 \\
              --facts 1.25,1.5,1.8 --trim-fact 1.5 --pca-sample 80000
  lsf analyze --latents work/latents.zarr --out work/analysis --split train \\
              --trim-fact 1.7 --pca-sample 80000 --pca-rows basis --pca-bin-width 0.5
  lsf analyze --latents work/latents.zarr --out work/analysis --pairs first:10 \\
              --pca-pairs first:10 --task-memory-mb 128
  lsf analyze --latents work/latents.zarr --out work/analysis --regions-max-k 12 \\
      --regions-components 16          # fragmentation: mixture k up to 12 in 16 PCA dims
  lsf analyze --latents work/latents.zarr --out work/analysis --no-regions
  lsf analyze --latents s3://b/latents.zarr --out s3://b/analysis --address auto""",
    "generate": """examples:
  lsf generate --model work/run/model.pt --analysis work/analysis --out work/samples
  lsf generate --model work/run/model.pt --analysis work/analysis --out work/samples \\
               --sampler mvn,mvn-ellipsoid --n 2000 --level 0.95 --plane 3,7 --angle 45
  lsf generate ... --features inception.pt      # a local TorchScript feature extractor
  lsf generate ... --sampler n01,mvn,gmm,gmm:4 --repeats 5   # gmm by BIC beside a fixed 4
  lsf generate ... --real-images 2000 --gmm-max-components 20  # larger reference, wider BIC
  lsf generate ... --study-planes 4 --study-angles 0,30,60,90 --beyond-sigmas 5   # study paths
  lsf generate ... --sampler mvn,regions,regions-ellipsoid --level 0.9   # per-region normals
  lsf generate ... --gap-paths 3 --gap-steps 12   # decoded paths between regions""",
    "report": """examples:
  lsf report --analysis work/analysis --samples work/samples --out work/report
  lsf report --analysis work/analysis --out work/report --overwrite   # statistics only
  lsf report --analysis work/analysis --out work/report --ellipses fits   # the study's ellipses""",
    "explore": """examples:
  lsf explore --model work/run/model.pt --analysis work/analysis      # open the printed URL
  lsf explore --model work/run/model.pt --analysis work/analysis --latents work/latents.zarr \\
              --shards work/shards --components 12 --port 8080
  lsf explore --serve --address auto --model /shared/run/model.pt --analysis /shared/analysis \\
              --replicas 4     # Ray Serve on the cluster; reach port 8000 by port-forward""",
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
  lsf run --config celeba --workdir /data/lsf  # or --config path/to/your.yaml
  lsf run --workdir work --verbose             # with Ray's own log lines on the terminal
  lsf run --workdir work --force               # go on though the preflight says it won't fit""",
}


MODEL_HELP = (
    "RUN/model.pt from `lsf train` or a model YAML (kind: torchscript, python, pythae); "
    "default: --config's model section when its kind is not lsf"
)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit code 2) instead of a usage dump."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _verb(sub, name: str, help: str, handler: Callable) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        name,
        help=help,
        description=help,
        epilog=EXAMPLES.get(name),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(handler=handler, verb=name)
    parser.add_argument(
        "--config",
        help=f"pipeline YAML or built-in name ({', '.join(builtin_config_names())}); "
        "`study` = the original study's analysis on synthetic faces",
    )
    parser.add_argument("--address", help="Ray address ('auto' for a running cluster)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or stage lines")
    parser.add_argument(
        "--verbose", action="store_true", help="also show Ray's own messages (or LSF_VERBOSE=1)"
    )
    parser.add_argument(
        "--force", action="store_true", help="go on when the preflight says it will not fit"
    )
    return parser


def _config_flags(parser: argparse.ArgumentParser, section: str, *fields: str) -> None:
    """Flags for config fields, each `field` or `field=flag-name`; type, choices, help and
    default come from the field's declaration in `lsf.core.config` (one source of truth)."""
    for entry in fields:
        field, _, flag = entry.partition("=")
        spec = flag_spec(section, field)
        name = f"--{flag or field.replace('_', '-')}"
        parser.add_argument(name, dest=f"{section}.{field}", **spec)


def _section(args, name: str):
    """Config section `name` of `--config` with the flags that were given applied."""
    config = getattr(load_config(args.config), name)
    flags = {k.split(".", 1)[1]: v for k, v in vars(args).items() if k.startswith(f"{name}.")}
    return with_overrides(config, name, **flags)


def _progress(args):
    return QUIET if args.quiet else TERMINAL


def _preflight(args, estimate, target: str) -> None:
    """Refuse (one line) work whose output or memory will not fit, unless --force."""
    from lsf.core.preflight import check

    if estimate is not None:
        check(estimate, target, args.force, _progress(args), local=args.address is None)


def _model_ref(args, required: bool = True):
    """`--model` (RUN/model.pt or a model YAML), else the `model:` section of `--config`
    when its kind is not lsf's own (`lsf.nn.kinds`); None when not `required` and neither."""
    if args.model:
        return args.model
    model = load_config(args.config).model
    if model.kind != "lsf":
        return model
    if required:
        raise LsfError(
            "--model is required: RUN/model.pt from `lsf train`, a model YAML (kind: "
            "torchscript, python or pythae), or a --config whose model.kind is not lsf"
        )
    return None


def cmd_prepare(args) -> int:
    from lsf.preflight_stages import prepare_for
    from lsf.prepare import prepare

    config = _section(args, "prepare")
    _preflight(args, prepare_for(config), args.out)
    summary = prepare(
        config,
        args.out,
        overwrite=args.overwrite,
        address=args.address,
        progress=_progress(args),
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
    from lsf.preflight_stages import train_for
    from lsf.train import train

    model_config, config = load_config(args.config).model, _section(args, "train")
    _preflight(args, train_for(model_config, config, args.shards), args.out)
    summary = train(
        model_config,
        config,
        args.shards,
        args.out,
        overwrite=args.overwrite,
        resume=args.resume,
        address=args.address,
        progress=_progress(args),
    )
    print(summary)
    return 0


def cmd_encode(args) -> int:
    from lsf.encode import encode
    from lsf.preflight_stages import encode_for

    config = _section(args, "encode")
    model = _model_ref(args)
    _preflight(args, encode_for(config, args.shards, model), args.out)
    summary = encode(
        config,
        args.shards,
        model,
        args.out,
        overwrite=args.overwrite,
        address=args.address,
        progress=_progress(args),
    )
    print(summary)
    return 0


def cmd_import(args) -> int:
    from lsf.core.config import ImportConfig
    from lsf.import_latents import import_latents

    flags = {k.split(".", 1)[1]: v for k, v in vars(args).items() if k.startswith("import.")}
    config = with_overrides(ImportConfig(), "import", **flags)
    summary = import_latents(
        config, args.latents, args.out, overwrite=args.overwrite, progress=_progress(args)
    )
    print(summary)
    return 0


def cmd_analyze(args) -> int:
    from lsf.analyze import analyze
    from lsf.core.progress import with_eta
    from lsf.preflight_stages import analyze_for

    config = _section(args, "analyze")
    if args.no_trim:
        config = dataclasses.replace(config, trim_fact=None)
    if args.no_regions:
        config = dataclasses.replace(config, regions=False)
    _preflight(args, analyze_for(config, args.latents), args.out)
    summary = analyze(
        config,
        args.latents,
        args.out,
        overwrite=args.overwrite,
        address=args.address,
        progress=with_eta(_progress(args)),
    )
    print(summary)
    return 0


def cmd_generate(args) -> int:
    from lsf.generate import generate
    from lsf.preflight_stages import generate_for

    config = _section(args, "generate")
    model = _model_ref(args)
    _preflight(args, generate_for(config, model), args.out)
    summary = generate(
        config,
        model,
        args.analysis,
        args.out,
        overwrite=args.overwrite,
        progress=_progress(args),
    )
    print(summary)
    return 0


def cmd_report(args) -> int:
    from lsf.core.preflight import report_estimate
    from lsf.report import report

    _preflight(args, report_estimate(), args.out)
    summary = report(
        _section(args, "report"),
        args.analysis,
        args.out,
        samples=args.samples,
        overwrite=args.overwrite,
        progress=_progress(args),
    )
    print(summary)
    return 0


def cmd_run(args) -> int:
    from lsf.run import run_pipeline, timing_table

    config = load_config(args.config or "synthetic")
    result = run_pipeline(
        config, args.workdir, address=args.address, progress=_progress(args), force=args.force
    )
    for line in timing_table(result):
        print(line)
    print(f"done: ran {result.ran or 'nothing'}, skipped {result.skipped or 'nothing'}")
    print(f"report: {result.paths.report}/index.html")
    return 0


def _overwrite(parser, what: str) -> None:
    parser.add_argument("--overwrite", action="store_true", help=f"replace {what}")


def cmd_explore(args) -> int:
    from lsf.explore import deploy_on_serve, explore

    if args.serve:
        keys = ("model", "analysis", "latents", "shards", "components", "replicas")
        settings = {k: getattr(args, k) for k in keys if getattr(args, k) is not None}
        return deploy_on_serve(settings, args.address)
    return explore(
        _model_ref(args, required=False),
        args.analysis,
        latents=args.latents,
        shards=args.shards,
        host=args.host,
        port=args.port,
        components=8 if args.components is None else args.components,
        threads=args.threads,
    )


def cmd_compare(args) -> int:
    from lsf.compare import compare, load_sweep

    if not args.config:
        raise LsfError("--config SWEEP is required (a sweep file or a built-in sweep name)")
    sweep = load_sweep(args.config)
    kinds = {sweep.shared.model.kind} | {v.config.model.kind for v in sweep.variants}
    if kinds != {"lsf"}:
        other = sorted(kinds - {"lsf"})[0]
        raise LsfError(
            f"compare trains lsf's own model (model.kind lsf), not a {other} model; run "
            "encode, analyze and generate with yours"
        )
    summary = compare(
        sweep,
        args.workdir,
        config_name=args.config,
        address=args.address,
        progress=_progress(args),
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


PCA_EXAMPLES = """examples:
  lsf pca --latents work/latents.zarr --out work/pca --components 64
  lsf pca --latents work/latents.zarr --out work/pca --components 256 --split train \\
          --batch-rows 512                        # one pass, memory O(K x D + batch)
  lsf pca --latents s3://b/latents.zarr --out s3://b/pca --components 100 \\
          --method randomized --address auto      # Dask svd_compressed, Dask-on-Ray
outputs: OUT/pca.zarr (mean, components [K, D], explained_variance, explained_variance_ratio)
and OUT/pca.json (rows, method, K, total variance, the store's fingerprint)."""


def cmd_pca(args) -> int:
    from lsf.core.config import PcaConfig
    from lsf.core.preflight import pca_estimate
    from lsf.pca import pca, plan_pca

    flags = {k.split(".", 1)[1]: v for k, v in vars(args).items() if k.startswith("pca.")}
    config = with_overrides(PcaConfig(), "pca", **flags)
    plan = plan_pca(config, args.latents)
    estimate = pca_estimate(
        plan.rows, plan.latent_dim, plan.components, plan.rows_per_chunk, plan.batch_rows, config
    )
    _preflight(args, estimate, args.out)
    summary = pca(
        config,
        plan,
        args.out,
        overwrite=args.overwrite,
        address=args.address,
        progress=_progress(args),
    )
    print(summary)
    return 0


def _add_pca(sub) -> None:
    p = _verb(sub, "pca", "top K principal components of very wide latents, streamed", cmd_pca)
    p.epilog = PCA_EXAMPLES
    p.add_argument("--latents", required=True, help="complete latent store")
    p.add_argument("--out", required=True, help="output folder (pca.zarr, pca.json)")
    _config_flags(
        p,
        "pca",
        "components",
        "split",
        "batch_rows",
        "method",
        "power_iterations",
        "oversamples",
        "seed",
        "blas_threads",
    )
    _overwrite(p, "an existing output")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lsf",
        description="Latent space fragmentation: autoencoder latents of faces, at scale.",
        epilog="Run `lsf VERB --help` for each verb's options and examples.",
    )
    sub = parser.add_subparsers(title="verbs", required=True, parser_class=_Parser)

    p = _verb(sub, "prepare", "images to Parquet shards (Ray Data)", cmd_prepare)
    p.add_argument("--out", required=True, help="output shard folder (path or fsspec URL)")
    _config_flags(p, "prepare", "source", "path", "size", "n", "seed", "rows_per_shard")
    _overwrite(p, "an existing output")

    p = _verb(sub, "train", "train the autoencoder (Ray Train, DDP)", cmd_train)
    p.add_argument("--shards", required=True, help="shard folder from `lsf prepare`")
    p.add_argument("--out", required=True, help="run folder (checkpoints, model.pt, metrics)")
    _config_flags(p, "train", "epochs", "workers", "gpus_per_worker", "batch_size", "lr")
    p.add_argument("--resume", action="store_true", help="require resuming an earlier run")
    _overwrite(p, "an earlier run in --out")

    p = _verb(sub, "encode", "encode every image into the Zarr latent store (Ray Data)", cmd_encode)
    p.add_argument("--shards", required=True, help="shard folder from `lsf prepare`")
    p.add_argument("--model", help=MODEL_HELP)
    p.add_argument("--out", required=True, help="latent store (LATENTS.zarr)")
    _config_flags(p, "encode", "batch_size", "rows_per_chunk", "actors", "gpus_per_actor")
    _overwrite(p, "a store of another model")

    p = _verb(
        sub, "import", "a latent store from latents you have (.npy, .pt, Parquet, ...)", cmd_import
    )
    p.add_argument("--latents", required=True, help=".npy .npz .pt .parquet .zarr .h5 file")
    p.add_argument("--out", required=True, help="latent store (LATENTS.zarr)")
    _config_flags(p, "import", "key", "ids", "split", "rows_per_chunk", "max_nonfinite", "shards")
    _overwrite(p, "a store of other latents")

    p = _verb(sub, "analyze", "statistics of the latent store (Dask, out of core)", cmd_analyze)
    p.add_argument("--latents", required=True, help="complete latent store from `lsf encode`")
    p.add_argument("--out", required=True, help="analysis folder (analysis.zarr, summary.json)")
    _config_flags(
        p,
        "analyze",
        "split",
        "bins",
        "bin_width",
        "facts",
        "trim_fact",
        "pca_sample",
        "pca_rows",
        "pca_bin_width",
        "pairs",
        "pca_pairs",
        "task_memory_mb",
        "seed",
        "regions_components",
        "regions_max_k",
    )
    p.add_argument("--no-trim", action="store_true", help="PCA of the full set")
    p.add_argument(
        "--no-regions", action="store_true", help="skip the regions (fragmentation) pass"
    )
    _overwrite(p, "an existing analysis")

    _add_pca(sub)

    p = _verb(sub, "generate", "faces from statistical latent vectors, measured", cmd_generate)
    p.add_argument("--model", help=MODEL_HELP)
    p.add_argument("--analysis", required=True, help="ANALYSIS folder from `lsf analyze`")
    p.add_argument("--out", required=True, help="samples folder (grids, paths, metrics.json)")
    _config_flags(
        p,
        "generate",
        "samplers=sampler",
        "n",
        "level",
        "pca_sigmas",
        "gmm_components=components",
        "gmm_max_components",
        "repeats",
        "real_images",
        "features",
        "plane",
        "angle",
        "pca_axis",
        "interpolate",
        "path_steps",
        "study_planes",
        "study_angles",
        "study_sigmas",
        "beyond_sigmas",
        "seed",
        "save_images",
        "save_latents",
        "region_images",
        "gap_paths",
        "gap_steps",
    )
    _overwrite(p, "an existing samples folder")

    p = _verb(sub, "report", "the whole study on one static HTML page", cmd_report)
    p.add_argument("--analysis", required=True, help="ANALYSIS folder from `lsf analyze`")
    p.add_argument("--samples", help="SAMPLES folder from `lsf generate` (optional)")
    p.add_argument("--out", required=True, help="report folder (index.html + PNG figures)")
    _config_flags(
        p, "report", "pairs", "pca_pairs", "ellipses", "study_components", "spread_components"
    )
    _overwrite(p, "an existing report")

    p = _verb(sub, "explore", "walk the latent space in a browser (local web app)", cmd_explore)
    p.add_argument("--model", help=MODEL_HELP + "; none: no decoded views")
    p.add_argument("--analysis", required=True, help="ANALYSIS folder from `lsf analyze`")
    p.add_argument("--latents", help="latent store: real images by id, gmm, any pair's density")
    p.add_argument("--shards", help="shard folder: source images of the ids")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free)")
    p.add_argument("--components", type=int, help="PCA sliders (default 8)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1; 0: all)")
    p.add_argument("--serve", action="store_true", help="deploy on Ray Serve at --address")
    p.add_argument("--replicas", type=int, help="--serve: decoder replicas (default 1)")

    p = _verb(sub, "compare", "model variants as one Ray Tune sweep, side by side", cmd_compare)
    for action in p._actions:
        if action.dest == "config":
            action.help = "sweep YAML or built-in sweep name (synthetic-bn, celeba-bn)"
    p.add_argument("--workdir", required=True, help="folder for shards, variants and the page")

    p = _verb(sub, "run", "every stage in order; skips stages already complete", cmd_run)
    p.add_argument("--workdir", required=True, help="folder for every stage's output")
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


# The output each verb creates (`explore` creates none); `run`, `compare` and `train` write
# into a folder that may exist.
OUTPUTS = {"run": "workdir", "compare": "workdir", "explore": None}
FOLDER_OUTPUTS = ("run", "compare", "train")


def _check_output_target(args) -> None:
    """Refuse an output path that cannot be created before any work (or Ray) starts."""
    from lsf.core.preflight import check_target

    output = OUTPUTS.get(args.verb, "out")
    if output is not None:
        check_target(getattr(args, output), folder=args.verb in FOLDER_OUTPUTS)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupted)
    from lsf.core.runtime import divert_native_stderr, in_ray_job, set_verbose

    set_verbose(args.verbose)
    if argv is None or in_ray_job():  # the `lsf` program or a job entry, not a library caller
        divert_native_stderr()
    try:
        _check_output_target(args)
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
