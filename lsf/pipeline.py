"""`lsf run`: every stage in order under one work folder, skipping stages already complete.

Layout: WORKDIR/shards (prepare), WORKDIR/run (train), WORKDIR/latents.zarr (encode),
WORKDIR/analysis (analyze), WORKDIR/samples (generate), WORKDIR/report (report).
A stage counts as complete when its completion marker exists (manifest.json, model.json,
the store's `complete` attribute); a train or encode stage that was interrupted resumes.
Run: `lsf run --workdir work` (built-in synthetic faces) or `--config celeba`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lsf.core.config import PipelineConfig
from lsf.core.errors import LsfError
from lsf.core.locks import output_lock
from lsf.core.outputs import exists, join, makedirs
from lsf.core.store import is_complete

RUN_LOCK = ".lsf-run"  # WORKDIR/.lsf-run.lock while `lsf run` works in WORKDIR


@dataclass
class StagePaths:
    shards: str
    run: str
    model: str
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


def stage_complete(paths: StagePaths, stage: str) -> bool:
    """Whether `stage`'s completion marker exists (what `lsf run` skips on)."""
    markers = {
        "prepare": lambda: exists(join(paths.shards, "manifest.json")),
        "train": lambda: exists(join(paths.run, "model.json")),
        "encode": lambda: is_complete(paths.latents),
        "analyze": lambda: exists(join(paths.analysis, "summary.json")),
        "generate": lambda: exists(join(paths.samples, "metrics.json")),
        "report": lambda: exists(join(paths.report, "index.html")),
    }
    return markers[stage]()


@dataclass
class PipelineResult:
    paths: StagePaths
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def run_pipeline(
    config: PipelineConfig,
    workdir: str,
    *,
    address: str | None = None,
    progress: bool = True,
    log=print,
    shards: str | None = None,
    report: bool = True,
) -> PipelineResult:
    """Run every stage (prepare, train, encode, analyze, generate, report) under `workdir`;
    returns what ran and what was skipped. Holds WORKDIR/.lsf-run.lock while it works.
    `shards`: a shard folder outside `workdir` (shared by several runs); `report=False`
    leaves out the report stage."""
    if config.model.image_size != config.prepare.size:
        raise LsfError(
            f"config: model.image_size ({config.model.image_size}) must equal prepare.size "
            f"({config.prepare.size})"
        )
    paths = StagePaths.under(workdir, shards)
    makedirs(workdir)
    with output_lock(join(workdir, RUN_LOCK), what=f"work folder {workdir}"):
        return _run_stages(config, paths, address, progress, log, report)


def _run_stages(config: PipelineConfig, paths: StagePaths, address, progress, log, with_report):
    from lsf.prepare import prepare
    from lsf.encode import encode
    from lsf.generate import generate
    from lsf.report import report
    from lsf.analyze import analyze
    from lsf.train import train

    result = PipelineResult(paths)

    def stage(name: str, done: bool, action) -> None:
        if done:
            log(f"[{name}] complete, skipped")
            result.skipped.append(name)
            return
        log(f"[{name}] running")
        summary = action()
        log(f"[{name}] {summary}")
        result.ran.append(name)

    stage(
        "prepare",
        stage_complete(paths, "prepare"),
        lambda: prepare(config.prepare, paths.shards, address=address, progress=progress),
    )
    stage(
        "train",
        stage_complete(paths, "train"),
        lambda: train(config.model, config.train, paths.shards, paths.run, address=address),
    )
    stage(
        "encode",
        stage_complete(paths, "encode"),
        lambda: encode(
            config.encode,
            paths.shards,
            paths.model,
            paths.latents,
            address=address,
            progress=progress,
        ),
    )
    stage(
        "analyze",
        stage_complete(paths, "analyze"),
        lambda: analyze(config.analyze, paths.latents, paths.analysis, address=address, log=log),
    )
    stage(
        "generate",
        stage_complete(paths, "generate"),
        lambda: generate(config.generate, paths.model, paths.analysis, paths.samples, log=log),
    )
    if with_report:
        stage(
            "report",
            stage_complete(paths, "report"),
            lambda: report(config.report, paths.analysis, paths.report, samples=paths.samples),
        )
    return result
