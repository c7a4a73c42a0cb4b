"""`lsf run`: every stage in order under one work folder, skipping stages already complete.

Layout: WORKDIR/shards (prepare), WORKDIR/run (train), WORKDIR/latents.zarr (encode),
WORKDIR/analysis (analyze), WORKDIR/samples (generate), WORKDIR/report (report).
A stage is skipped when its module's `is_complete(output)` says so (manifest.json, model.json,
the store's `complete` attribute, ...); an interrupted train or encode stage resumes.
Run: `lsf run --workdir work` (built-in synthetic faces) or `--config celeba`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from lsf.core.config import PipelineConfig
from lsf.core.errors import LsfError
from lsf.core.locks import output_lock
from lsf.core.outputs import join, makedirs
from lsf.core.preflight import Estimate, check
from lsf.core.progress import TERMINAL, Progress, clock, with_eta

RUN_LOCK = ".lsf-run"  # WORKDIR/.lsf-run.lock while `lsf run` works in WORKDIR


@dataclass
class StagePaths:
    shards: str
    run: str
    model: str  # RUN/model.pt, or the `model:` section (a ModelConfig) of another kind
    latents: str
    analysis: str
    samples: str
    report: str

    @classmethod
    def under(cls, workdir: str, shards: str | None = None) -> StagePaths:
        """The stage outputs under `workdir`; `shards` elsewhere when given (shared)."""
        root = str(workdir).rstrip("/")
        return cls(
            shards=shards or f"{root}/shards",
            run=f"{root}/run",
            model=f"{root}/run/model.pt",
            latents=f"{root}/latents.zarr",
            analysis=f"{root}/analysis",
            samples=f"{root}/samples",
            report=f"{root}/report",
        )


@dataclass
class PipelineResult:
    paths: StagePaths
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of each stage that ran


def timing_table(result: PipelineResult) -> list[str]:
    """The per-stage timing table printed at the end of `lsf run`."""
    if not result.seconds:
        return []
    total = sum(result.seconds.values())
    lines = [f"{'stage':<10}{'time':>10}{'share':>8}"]
    for name, seconds in result.seconds.items():
        lines.append(f"{name:<10}{clock(seconds):>10}{100 * seconds / max(total, 1e-9):>7.0f}%")
    lines.append(f"{'total':<10}{clock(total):>10}{100:>7.0f}%")
    return lines


def run_pipeline(
    config: PipelineConfig,
    workdir: str,
    *,
    address: str | None = None,
    progress: Progress = TERMINAL,
    force: bool = False,
    shards: str | None = None,
    report: bool = True,
) -> PipelineResult:
    """Run every stage (prepare, train, encode, analyze, generate, report) under `workdir`;
    returns what ran and what was skipped. Holds WORKDIR/.lsf-run.lock while it works.
    A preflight first refuses a run whose stages will not fit the work folder's disk or
    this machine's memory (unless `force`). `shards`: a shard folder outside `workdir`
    (shared by several runs, `lsf compare`); `report=False` leaves out the report stage."""
    if config.model.image_size != config.prepare.size:
        raise LsfError(
            f"config: model.image_size ({config.model.image_size}) must equal prepare.size "
            f"({config.prepare.size})"
        )
    paths = StagePaths.under(workdir, shards)
    if config.model.kind != "lsf":  # the user's own model: nothing to train
        paths.model = config.model
    makedirs(workdir)
    with output_lock(join(workdir, RUN_LOCK), what=f"work folder {workdir}"):
        return _run_stages(config, paths, str(workdir), address, progress, force, report)


STAGE_OUTPUTS = {
    "prepare": "shards",
    "train": "run",
    "encode": "latents",
    "analyze": "analysis",
    "generate": "samples",
    "report": "report",
}


def stage_complete(paths: StagePaths, stage: str) -> bool:
    """Whether `stage`'s output under `paths` is complete (what `lsf run` skips on)."""
    import importlib

    module = importlib.import_module(f"lsf.{stage}")
    return module.is_complete(getattr(paths, STAGE_OUTPUTS[stage]))


def _stages(config: PipelineConfig, paths: StagePaths, address, progress: Progress) -> list:
    """`(name, stage module, output, action)` in pipeline order; each module's
    `is_complete(output)` says whether its stage can be skipped."""
    from lsf import analyze, encode, generate, prepare, report, train

    return [
        (
            "prepare",
            prepare,
            paths.shards,
            lambda: prepare.prepare(
                config.prepare, paths.shards, address=address, progress=progress
            ),
        ),
        (
            "train",
            train,
            paths.run,
            lambda: train.train(
                config.model,
                config.train,
                paths.shards,
                paths.run,
                address=address,
                progress=progress,
            ),
        ),
        (
            "encode",
            encode,
            paths.latents,
            lambda: encode.encode(
                config.encode,
                paths.shards,
                paths.model,
                paths.latents,
                address=address,
                progress=progress,
            ),
        ),
        (
            "analyze",
            analyze,
            paths.analysis,
            lambda: analyze.analyze(
                config.analyze,
                paths.latents,
                paths.analysis,
                address=address,
                progress=with_eta(progress),
            ),
        ),
        (
            "generate",
            generate,
            paths.samples,
            lambda: generate.generate(
                config.generate, paths.model, paths.analysis, paths.samples, progress=progress
            ),
        ),
        (
            "report",
            report,
            paths.report,
            lambda: report.report(
                config.report,
                paths.analysis,
                paths.report,
                samples=paths.samples,
                progress=progress,
            ),
        ),
    ]


def _preflight(config, stages, workdir: str, force: bool, local: bool, progress) -> dict:
    """Check the stages still to run together (their outputs share the work folder's disk);
    returns each stage's estimate for its own line."""
    from lsf.preflight_stages import pipeline_estimates

    estimates = {e.stage: e for e in pipeline_estimates(config)}
    pending = [
        estimates[name] for name, module, output, _ in stages if not module.is_complete(output)
    ]
    if pending:
        total = Estimate(
            "run",
            sum(e.disk for e in pending),
            max(e.memory for e in pending),
            f"{len(pending)} stages, {estimates['prepare'].detail}",
        )
        check(total, workdir, force, progress, local)
    return estimates


def _run_stages(config, paths: StagePaths, workdir: str, address, progress, force, report):
    result = PipelineResult(paths)
    stages = _stages(config, paths, address, progress)
    if not report:
        stages = [stage for stage in stages if stage[0] != "report"]
    if config.model.kind != "lsf":
        stages = [stage for stage in stages if stage[0] != "train"]
    local = address is None
    estimates = _preflight(config, stages, workdir, force, local, progress)
    for name, module, output, action in stages:
        if module.is_complete(output):
            progress.log(f"[{name}] complete, skipped")
            result.skipped.append(name)
            continue
        check(estimates[name], workdir, force, progress, local)
        progress.log(f"[{name}] running")
        started = time.perf_counter()
        summary = action()
        result.seconds[name] = time.perf_counter() - started
        progress.log(f"[{name}] {summary}")
        result.ran.append(name)
    return result
