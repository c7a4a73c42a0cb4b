"""`lsf compare`: model variants as one Ray Tune sweep, their latent spaces side by side.

A sweep file names a base pipeline config and the axes to vary (`lsf.sweep.variants`).
Every combination is a variant: a full `lsf run` pipeline (train, encode, analyze,
generate; report on request) in `WORKDIR/variants/<name>`, all sharing `WORKDIR/shards`
(prepared once). Each unfinished variant is one Tune trial with its own resource request;
finished variants are skipped without a trial, a variant that fails is reported and the
others go on, a trial whose process dies is restarted (`trials.max_failures`) and resumes
from its completed stages. `WORKDIR/compare/` then holds the table and the page.
Run: `lsf compare --config synthetic-bn --workdir work-bn` (or `jobs/compare.py`).
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lsf.core.config import (
    BUILTIN_CONFIGS,
    as_dict,
    builtin_config_names,
    load_config,
    read_yaml,
)
from lsf.core.errors import LsfError, from_worker
from lsf.core.locks import output_lock
from lsf.core.outputs import (
    exists,
    is_local,
    join,
    local_path,
    makedirs,
    read_json,
    write_json_atomic,
)
from lsf.core.progress import TERMINAL, Progress
from lsf.run import RUN_LOCK, StagePaths, stage_complete
from lsf.sweep.variants import Sweep, Variant, sweep_from_mapping

COMPARE_LOCK = ".lsf-compare"  # WORKDIR/.lsf-compare.lock while a comparison runs
VARIANT_RECORD = "variant.json"  # the settings a variant folder was made with
TRIALS_RECORD = "trials.json"  # one entry per trial started on the variant (pid, compare run)
STAGES = ("train", "encode", "analyze", "generate")
RESTART_WAIT_S = 120.0  # how long a restarted trial waits for its predecessor's pipeline


@dataclass
class CompareSummary:
    out: str
    variants: int
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # variant -> one-line error
    seconds: float = 0.0

    def __str__(self) -> str:
        lines = [
            f"compared {self.variants} variants in {self.seconds:.0f} s: ran "
            f"{len(self.ran)}, skipped {len(self.skipped)} (complete), failed {len(self.failed)}"
        ]
        lines += [f"failed {name}: {error}" for name, error in self.failed.items()]
        lines.append(f"comparison: {self.out}/index.html")
        return "\n".join(lines)


# ---- the sweep file ------------------------------------------------------------------------


def builtin_sweep_names() -> list[str]:
    """Built-in configs that are sweeps (they have `axes`), e.g. synthetic-bn."""
    names = []
    for name in builtin_config_names():
        data = yaml.safe_load((BUILTIN_CONFIGS / f"{name}.yaml").read_text(encoding="utf-8"))
        if isinstance(data, dict) and "axes" in data:
            names.append(name)
    return names


def load_sweep(path: str | Path) -> Sweep:
    """Read and validate a sweep file (a path, or a built-in name such as `synthetic-bn`).
    Its `base` is a built-in pipeline config name or a YAML path relative to the file."""
    path, data = read_yaml(path, "sweep", builtin_sweep_names())
    if not isinstance(data, dict) or "axes" not in data:
        raise LsfError(
            f"sweep: {path} has no `axes`; a pipeline config runs with `lsf run --config`"
        )
    base = data.get("base")
    if not isinstance(base, str) or not base:
        raise LsfError(
            "sweep: `base` must name a pipeline config (a built-in name such as synthetic, or "
            "a YAML path relative to the sweep file)"
        )
    if base in builtin_config_names():
        base_config = load_config(base)
    else:
        base_path = Path(os.path.expanduser(base))
        base_config = load_config(base_path if base_path.is_absolute() else path.parent / base)
    return sweep_from_mapping(data, base_config, base)


# ---- variant folders -----------------------------------------------------------------------


def shards_of(workdir: str) -> str:
    return join(workdir, "shards")


def variant_folder(workdir: str, name: str) -> str:
    return join(workdir, "variants", name)


def variant_paths(workdir: str, name: str) -> StagePaths:
    return StagePaths.under(variant_folder(workdir, name), shards=shards_of(workdir))


def variant_complete(workdir: str, name: str, report: bool) -> bool:
    """Whether every stage of the variant has its completion marker."""
    paths = variant_paths(workdir, name)
    return all(stage_complete(paths, s) for s in (*STAGES, *(("report",) if report else ())))


def check_variant_record(workdir: str, variant: Variant) -> None:
    """Record the variant's settings in its folder, or refuse a folder made with others
    (its outputs would not be this variant's)."""
    folder = variant_folder(workdir, variant.name)
    record = join(folder, VARIANT_RECORD)
    settings = as_dict(variant.config)
    if exists(record):
        previous = read_json(record).get("config", {})
        changed = [
            f"{section}.{key}"
            for section, values in settings.items()
            for key, value in values.items()
            if previous.get(section, {}).get(key) != value
        ]
        if changed:
            raise LsfError(
                f"variant {variant.name} in {folder} was run with other settings "
                f"({', '.join(changed[:5])} differ); remove that folder or use another --workdir"
            )
        return
    makedirs(folder)
    write_json_atomic(record, {"name": variant.name, "values": variant.values, "config": settings})


# ---- Ray Tune ------------------------------------------------------------------------------


def _run_variant_pipeline(name: str, settings: dict, folder: str, shards: str, address, report):
    """The variant's pipeline (a Ray task next to its trial; see `variant_trial`)."""
    from lsf.core.config import config_from_mapping
    from lsf.run import run_pipeline

    def log(line: str) -> None:
        print(f"[{name}] {line}", flush=True)

    result = run_pipeline(
        config_from_mapping(settings),
        folder,
        address=address,
        progress=Progress(sink=log, bars=False),
        shards=shards,
        report=report,
    )
    return {"ran": result.ran, "skipped": result.skipped}


def variant_trial(trial_config: dict, plan: dict) -> None:
    """A Tune trial: one variant's pipeline. Tune captures a trial's child tasks in the
    trial's placement group, where the pipeline's Ray Train workers, Ray Data tasks and
    encoder actors would not fit; so the pipeline runs in a task pinned to the trial's node
    outside that group, and its own requests are scheduled on the cluster as in `lsf run`.
    An `LsfError` (bad data, a model that does not fit the images) is reported as the
    variant's failure without a retry; anything else (a killed process) fails the trial,
    and Tune restarts it up to `trials.max_failures` times."""
    import ray
    from ray import tune
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    name = trial_config["variant"]
    started = time.perf_counter()
    folder = plan["folders"][name]
    record_trial_start(folder, plan["run"])
    if trial_starts(folder, plan["run"]) > 1:
        wait_for_lock(join(folder, RUN_LOCK), RESTART_WAIT_S)
    task = ray.remote(_run_variant_pipeline).options(
        num_cpus=0,
        max_retries=0,
        scheduling_strategy=NodeAffinitySchedulingStrategy(
            ray.get_runtime_context().get_node_id(), soft=False
        ),
    )
    ref = task.remote(
        name,
        plan["settings"][name],
        plan["folders"][name],
        plan["shards"],
        plan["address"],
        plan["report"],
    )
    try:
        outcome = ray.get(ref)
    except Exception as exc:
        cause = getattr(exc, "cause", exc)
        if not isinstance(cause, LsfError):
            raise
        tune.report({"status": "failed", "error": str(cause), "seconds": _since(started)})
        return
    tune.report({"status": "ok", "ran": ",".join(outcome["ran"]), "seconds": _since(started)})


def record_trial_start(folder: str, run: str) -> None:
    """Append this trial (its pid and the compare run) to the variant's trials.json."""
    record = join(folder, TRIALS_RECORD)
    entries = read_json(record) if exists(record) else []
    entry = {"run": run, "pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
    write_json_atomic(record, [*entries, entry])


def wait_for_lock(url: str, timeout: float) -> None:
    """Wait until no one holds the lock of `url`. A restarted trial waits for the pipeline
    of the trial it replaces: Ray ends that orphaned task a moment after its trial died."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with output_lock(url):
                return
        except LsfError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def trial_starts(folder: str, run: str) -> int:
    """Trials started on the variant by the compare run `run` (restarts included)."""
    record = join(folder, TRIALS_RECORD)
    return sum(e.get("run") == run for e in read_json(record)) if exists(record) else 0


def _since(started: float) -> float:
    return time.perf_counter() - started


def _storage(url: str) -> tuple[str, object | None]:
    """Tune's `(storage_path, storage_filesystem)` for `url` (a path or fsspec URL)."""
    if is_local(url):
        return os.path.abspath(local_path(url)), None
    import fsspec
    import pyarrow.fs

    fs, path = fsspec.core.url_to_fs(url)
    return path, pyarrow.fs.PyFileSystem(pyarrow.fs.FSSpecHandler(fs))


def run_trials(sweep: Sweep, variants: list[Variant], workdir: str, address, run: str, log) -> dict:
    """Run `variants` as Tune trials; returns variant -> None (ok) or a one-line error."""
    from ray import tune

    os.environ.setdefault("TUNE_DISABLE_SIGINT_HANDLER", "1")  # Ctrl-C stops lsf as usual
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    trials = sweep.trials
    plan = {
        "settings": {v.name: as_dict(v.config) for v in variants},
        "folders": {v.name: variant_folder(workdir, v.name) for v in variants},
        "shards": shards_of(workdir),
        "address": "auto" if address else None,
        "report": trials.report,
        "run": run,
    }
    tune_url = join(workdir, "tune")
    storage_path, storage_filesystem = _storage(tune_url)
    if exists(join(tune_url, "compare")):  # Tune's own state: not needed to resume
        import fsspec

        fs, path = fsspec.core.url_to_fs(join(tune_url, "compare"))
        fs.rm(path, recursive=True)
    resources = {"cpu": trials.cpus, "gpu": trials.gpus}
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(variant_trial, plan=plan), resources),
        param_space={"variant": tune.grid_search([v.name for v in variants])},
        tune_config=tune.TuneConfig(
            max_concurrent_trials=trials.max_concurrent,
            trial_name_creator=lambda trial: trial.config["variant"],
            trial_dirname_creator=lambda trial: trial.config["variant"],
        ),
        run_config=tune.RunConfig(
            name="compare",
            storage_path=storage_path,
            storage_filesystem=storage_filesystem,
            failure_config=tune.FailureConfig(max_failures=trials.max_failures),
            verbose=0,
        ),
    )
    log(f"[compare] running {len(variants)} variants as Ray Tune trials")
    grid = tuner.fit()
    outcomes = {}
    for result in grid:
        name = result.config["variant"]
        if result.error is not None:
            outcomes[name] = str(from_worker(result.error, f"variant {name}"))
        elif (result.metrics or {}).get("status") == "ok":
            outcomes[name] = None
        else:
            outcomes[name] = (result.metrics or {}).get("error") or "the trial reported nothing"
        log(f"[compare] {name}: {'complete' if outcomes[name] is None else outcomes[name]}")
    return outcomes


# ---- the verb ------------------------------------------------------------------------------


def _prepare_shards(sweep: Sweep, workdir: str, address, progress: Progress, log) -> None:
    from lsf.prepare import prepare

    shards = shards_of(workdir)
    if stage_complete(StagePaths.under(workdir, shards), "prepare"):
        log("[prepare] complete, skipped")
        return
    log("[prepare] running (shared by every variant)")
    log(f"[prepare] {prepare(sweep.shared.prepare, shards, address=address, progress=progress)}")


def _rows(sweep: Sweep, workdir: str, errors: dict[str, str], run: str):
    from lsf.sweep.table import measures, read_outputs

    rows, outputs = [], {}
    for v in sweep.variants:
        row = {"variant": v.name, "group": v.group, "values": v.values, "status": "ok"}
        row["folder"] = variant_folder(workdir, v.name)
        row["trial_starts"] = trial_starts(row["folder"], run)
        if v.name in errors:
            row.update(status="failed", error=errors[v.name])
        elif not variant_complete(workdir, v.name, sweep.trials.report):
            row.update(status="incomplete", error="not every stage finished")
        else:
            try:
                outputs[v.name] = read_outputs(variant_paths(workdir, v.name))
                row.update(error=None, **measures(outputs[v.name]))
            except (LsfError, OSError, KeyError, ValueError) as exc:
                row.update(status="failed", error=f"cannot read its outputs: {exc}")
        rows.append(row)
    return rows, outputs


def compare(
    sweep: Sweep,
    workdir: str,
    *,
    config_name: str = "",
    address: str | None = None,
    progress: Progress = TERMINAL,
) -> CompareSummary:
    """Run every unfinished variant of `sweep` under `workdir` and write WORKDIR/compare/."""
    log = progress.log
    from lsf.core.runtime import init_ray
    from lsf.sweep.page import write_comparison
    from lsf.sweep.table import measure_columns, seed_groups

    started = time.perf_counter()
    if is_local(workdir):
        workdir = os.path.abspath(local_path(workdir))  # trials run in other processes
    makedirs(workdir)
    summary = CompareSummary(join(workdir, "compare"), len(sweep.variants))
    run = uuid.uuid4().hex[:12]  # this comparison's id in each variant's trials.json
    with output_lock(join(workdir, COMPARE_LOCK), what=f"work folder {workdir}"):
        for variant in sweep.variants:
            check_variant_record(workdir, variant)
        _prepare_shards(sweep, workdir, address, progress, log)
        pending = []
        for v in sweep.variants:
            if variant_complete(workdir, v.name, sweep.trials.report):
                log(f"[compare] {v.name}: complete, skipped")
                summary.skipped.append(v.name)
            else:
                pending.append(v)
        errors = {}
        if pending:
            init_ray(address)
            outcomes = run_trials(sweep, pending, workdir, address, run, log)
            summary.ran = [v.name for v in pending]
            errors = {name: error for name, error in outcomes.items() if error is not None}
        rows, outputs = _rows(sweep, workdir, errors, run)
        summary.failed = {r["variant"]: r["error"] for r in rows if r["status"] != "ok"}
        columns = measure_columns([r for r in rows if r["status"] == "ok"])
        header = {
            "sweep": {
                "config": config_name,
                "base": sweep.base,
                "axes": sweep.axes,
                "trials": dataclasses.asdict(sweep.trials),
            },
            "workdir": workdir,
            "run": run,
        }
        write_comparison(
            summary.out,
            header,
            rows,
            seed_groups(rows, columns),
            list(sweep.axes),
            columns,
            outputs,
        )
    summary.seconds = time.perf_counter() - started
    return summary
