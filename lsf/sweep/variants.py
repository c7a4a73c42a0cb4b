"""A sweep's variants: every combination of the axis values applied to one base config.

A sweep file (YAML, read by `lsf compare`) holds `base` (a built-in pipeline config name or
a pipeline YAML), optional `pipeline` (settings applied to every variant, sections as in a
pipeline config), `axes` (`section.key: [values]`, e.g. `model.batch_norm: [false, true]`)
and optional `trials` (how Ray Tune runs them). `sweep_from_mapping` validates it into a
`Sweep` whose variants carry a readable name (`batch_norm=true,seed=1`, their folder) and a
seed group (the name without `train.seed`: variants of one group differ only by the seed).
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import re
from dataclasses import dataclass

from lsf.core.config import PipelineConfig, _opt, as_dict, config_from_mapping, validate
from lsf.core.errors import LsfError

SEED_AXIS = "train.seed"
KEYS = ("base", "pipeline", "axes", "trials")


@dataclass
class TrialsConfig:
    cpus: float = _opt(0.25, min=0.0, help="CPUs a trial holds for its driver work")
    gpus: float = _opt(0.0, min=0.0, help="GPUs a trial holds (workers ask for their own)")
    max_concurrent: int = _opt(2, min=1, help="variants running at the same time")
    max_failures: int = _opt(1, min=0, help="restarts of a trial whose process died")
    report: bool = _opt(False, help="also write each variant's `lsf report` page")


@dataclass
class Variant:
    name: str  # e.g. "batch_norm=true,seed=1": the folder WORKDIR/variants/<name>
    values: dict  # axis ("model.batch_norm") -> value, in axis order
    group: str  # the name without the seed axis ("all" when only the seed varies)
    config: PipelineConfig


@dataclass
class Sweep:
    base: str
    axes: dict[str, list]
    trials: TrialsConfig
    shared: PipelineConfig  # base + `pipeline` settings; its prepare section makes the shards
    variants: list[Variant]


def _sections() -> list[str]:
    return [f.name for f in dataclasses.fields(PipelineConfig)]


def _validated(settings: dict, where: str) -> PipelineConfig:
    try:
        return config_from_mapping(settings)
    except LsfError as exc:
        raise LsfError(f"sweep: {where}: {exc}") from None


def _apply(settings: dict, values: dict) -> dict:
    """A copy of the config mapping `settings` with `{"section.key": value}` set."""
    out = copy.deepcopy(settings)
    for axis, value in values.items():
        section, key = axis.split(".", 1)
        out[section][key] = value
    return out


def _check_axes(axes, settings: dict) -> dict[str, list]:
    if not isinstance(axes, dict) or not axes:
        raise LsfError(
            "sweep: `axes` must map settings to lists of values, e.g. "
            "`model.batch_norm: [false, true]`"
        )
    sections = _sections()
    checked = {}
    for axis, values in axes.items():
        section, _, key = str(axis).partition(".")
        if section not in sections or key not in settings.get(section, {}):
            raise LsfError(
                f"sweep: axis {axis!r} is not a setting (write section.key, e.g. "
                f"model.latent_dim; sections: {', '.join(sections)})"
            )
        if section == "prepare":
            raise LsfError(
                f"sweep: axis {axis} cannot vary: every variant shares the shards made by the "
                "sweep's prepare section; run one sweep per data set"
            )
        if not isinstance(values, list) or not values:
            raise LsfError(f"sweep: axis {axis} must be a non-empty list of values")
        seen = [json.dumps(v, sort_keys=True) for v in values]
        if len(set(seen)) != len(seen):
            raise LsfError(f"sweep: axis {axis} lists a value twice: {values}")
        for k, value in enumerate(values):
            _validated(_apply(settings, {axis: value}), f"axis {axis}[{k}]")
        checked[str(axis)] = values
    return checked


def format_value(value) -> str:
    """A value as it appears in a variant name: true/false, 0.001, 16-32-64."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "none"
    elif isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, list | tuple):
        text = "-".join(format_value(v) for v in value)
    else:
        text = str(value)
    return re.sub(r"[^A-Za-z0-9._+-]", "-", text)


def axis_labels(axes) -> dict[str, str]:
    """Short axis names for variant names: the key alone unless two sections share it."""
    keys = [a.split(".", 1)[1] for a in axes]
    return {a: (k if keys.count(k) == 1 else a) for a, k in zip(axes, keys, strict=True)}


def variant_name(values: dict, labels: dict[str, str]) -> str:
    return ",".join(f"{labels[a]}={format_value(v)}" for a, v in values.items()) or "all"


def expand_variants(settings: dict, axes: dict[str, list]) -> list[Variant]:
    """One variant per combination of axis values (the first axis varies slowest)."""
    labels = axis_labels(axes)
    variants, names = [], set()
    for combination in itertools.product(*axes.values()):
        values = dict(zip(axes, combination, strict=True))
        name = variant_name(values, labels)
        if name in names:
            raise LsfError(f"sweep: two variants would both be named {name!r}; use other values")
        names.add(name)
        config = _validated(_apply(settings, values), f"variant {name}")
        if config.model.image_size != config.prepare.size:
            raise LsfError(
                f"sweep: variant {name}: model.image_size ({config.model.image_size}) must "
                f"equal prepare.size ({config.prepare.size}), the size of the shared shards"
            )
        group = variant_name({a: v for a, v in values.items() if a != SEED_AXIS}, labels)
        variants.append(Variant(name, values, group, config))
    return variants


def _trials(data) -> TrialsConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise LsfError("sweep: `trials` must be a mapping (cpus, gpus, max_concurrent, ...)")
    known = {f.name for f in dataclasses.fields(TrialsConfig)}
    unknown = sorted(str(k) for k in set(data) - known)
    if unknown:
        known_keys = ", ".join(sorted(known))
        raise LsfError(f"sweep: unknown key trials.{unknown[0]} (known: {known_keys})")
    try:
        return validate(dataclasses.replace(TrialsConfig(), **data), "trials")
    except LsfError as exc:
        raise LsfError(f"sweep: {exc}") from None


def sweep_from_mapping(data, base: PipelineConfig, base_name: str) -> Sweep:
    """Validate a parsed sweep file against its (already loaded) `base` config."""
    if not isinstance(data, dict):
        raise LsfError("sweep: the top level must be a mapping with base, pipeline, axes, trials")
    unknown = sorted(str(k) for k in set(data) - set(KEYS))
    if unknown:
        raise LsfError(f"sweep: unknown key {unknown[0]} (known: {', '.join(KEYS)})")
    settings = as_dict(base)
    pipeline = data.get("pipeline") or {}
    if not isinstance(pipeline, dict):
        raise LsfError("sweep: `pipeline` must be a mapping of config sections")
    for section, values in pipeline.items():
        if section not in settings:
            raise LsfError(
                f"sweep: unknown section pipeline.{section} (known: {', '.join(_sections())})"
            )
        if not isinstance(values, dict):
            raise LsfError(f"sweep: pipeline.{section} must be a mapping of settings")
        settings[section] = {**settings[section], **values}
    shared = _validated(settings, "pipeline")
    settings = as_dict(shared)
    axes = _check_axes(data.get("axes"), settings)
    trials = _trials(data.get("trials"))
    return Sweep(base_name, axes, trials, shared, expand_variants(settings, axes))
