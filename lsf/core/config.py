"""Typed configuration for every stage, loaded from YAML and validated in one place.

`load_config(path)` reads a pipeline YAML (sections `prepare`, `model`, `train`, `encode`)
with `yaml.safe_load` into a `PipelineConfig`; `with_overrides(section, **flags)` applies CLI
flags on top (None means "not given"). Unknown keys, wrong types and out-of-range values
raise `LsfError` naming the key, e.g. `config: train.epochs must be >= 1, got 0`.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lsf.core.errors import LsfError
from lsf.core.pair_spec import parse_pairs

SOURCES = ("synthetic", "celeba", "folder")
ELLIPSE_SOURCES = ("fits", "trimmed", "moments")
SPLITS = ("all", "train", "validation", "test")
MODEL_KINDS = ("lsf", "torchscript", "python", "pythae")


def _opt(
    default, *, min=None, max=None, choices=None, counted=(), help="", path=False, grammar=None
):
    """A dataclass field with validation metadata (bounds are inclusive; `counted`: choices
    that also take a count, `NAME:K` with K >= 1; `path`: a file or folder that a config file
    may give relative to the working directory, not above it; `grammar(value, key)`: raises
    `LsfError` for a malformed value)."""
    meta = {
        "min": min,
        "max": max,
        "choices": choices,
        "counted": counted,
        "help": help,
        "path": path,
        "grammar": grammar,
    }
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class PrepareConfig:
    source: str = _opt("synthetic", choices=SOURCES, help="image source")
    path: str | None = _opt(None, help="image folder or CelebA root (not for synthetic)", path=True)
    size: int = _opt(64, min=16, max=512, help="square output size in pixels")
    n: int | None = _opt(
        None, min=1, max=100_000_000, help="images: synthetic count (default 20000), else a cap"
    )
    seed: int = _opt(0, min=0, help="synthetic seed")
    rows_per_shard: int = _opt(4096, min=1, help="rows per Parquet file")
    val_fraction: float = _opt(0.05, min=0.0, max=0.5, help="used when no partition file")


@dataclass
class ModelConfig:
    image_size: int = _opt(64, min=16, max=512)
    channels: int = _opt(3, min=1, max=4)
    widths: list[int] = _opt([32, 64, 128, 256], help="channels of each strided conv block")
    kernel: int = _opt(4, min=2, max=7)
    latent_dim: int = _opt(256, min=2)
    activation: str = _opt("leaky_relu", choices=("leaky_relu", "relu", "elu", "selu"))
    batch_norm: bool = _opt(False)
    # Your own model (lsf.nn.kinds): lsf trains and uses its own autoencoder only for `lsf`.
    kind: str = _opt(
        "lsf",
        choices=MODEL_KINDS,
        help="lsf (trained here), torchscript (encoder + decoder files), python (factory + "
        "weights) or pythae (a pythae model folder)",
    )
    encoder: str | None = _opt(None, help="torchscript: encoder file, images -> [N, D]", path=True)
    decoder: str | None = _opt(None, help="torchscript: decoder file, [N, D] -> images", path=True)
    factory: str | None = _opt(
        None, help="python: package.module:function or path/file.py:function returning the model"
    )
    weights: str | None = _opt(None, help="python: state_dict file (weights only)", path=True)
    path: str | None = _opt(None, help="pythae: the folder written by its model.save", path=True)
    value_range: list[float] = _opt(
        [0.0, 1.0], help="pixel values the model takes and makes (low, high), e.g. -1,1"
    )


@dataclass
class TrainConfig:
    epochs: int = _opt(8, min=1, max=100_000, help="total epochs (a resumed run continues to it)")
    batch_size: int = _opt(128, min=1, help="images per worker step")
    lr: float = _opt(1e-3, min=1e-7, max=1.0, help="Adam learning rate")
    loss: str = _opt("mse", choices=("mse", "bce"))
    lr_schedule: str = _opt("cosine", choices=("none", "cosine"))
    workers: int = _opt(1, min=1, max=4096, help="Ray Train workers (DDP ranks)")
    cpus_per_worker: float = _opt(1.0, min=0.1, help="fractional: leave CPUs for data reads")
    threads_per_worker: int = _opt(0, min=0, help="torch threads; 0 = node cores / workers")
    gpus_per_worker: float = _opt(0.0, min=0.0, help="GPUs per worker (0: CPU)")
    mixed_precision: bool = _opt(True, help="bf16/fp16 autocast, used only on GPUs")
    cache_dataset: bool = _opt(True, help="hold decoded shards in the object store")
    max_failures: int = _opt(2, min=0, help="worker failures retried from the checkpoint")
    seed: int = _opt(0, min=0)


@dataclass
class EncodeConfig:
    batch_size: int = _opt(512, min=1, help="images per forward pass")
    rows_per_chunk: int = _opt(4096, min=1, help="latent store chunk rows")
    actors: int = _opt(
        2, min=1, max=4096, help="maximum encoder actors (the pool autoscales from 1)"
    )
    cpus_per_actor: float = _opt(0.5, min=0.1)
    gpus_per_actor: float = _opt(0.0, min=0.0, help="GPUs per actor (0: CPU)")


@dataclass
class ImportConfig:
    rows_per_chunk: int = _opt(4096, min=1, help="latent store chunk rows")
    key: str | None = _opt(
        None, help="the latents' array, tensor, list column or dataset (needed when several)"
    )
    ids: str | None = _opt(
        None, help="source ids: a .npy/.txt file or a column/key/array beside the latents"
    )
    split: str | None = _opt(
        None,
        help="split per row (0/1/2 or train/validation/test): a .npy/.txt file or a column",
    )
    max_nonfinite: float = _opt(
        0.0, min=0.0, max=1.0, help="largest share of rows with NaN/inf, dropped (else refused)"
    )
    shards: str | None = _opt(
        None, help="shard folder whose image ids the rows are (for generate's metrics, explore)"
    )


@dataclass
class PcaConfig:
    components: int | None = _opt(None, min=1, help="K: principal components to compute")
    split: str = _opt(
        "all", choices=SPLITS, help="rows used, by the store's split (stores without one: train)"
    )
    method: str = _opt(
        "incremental",
        choices=("incremental", "randomized"),
        help="incremental: sklearn IncrementalPCA, one pass; randomized: Dask svd_compressed",
    )
    batch_rows: int | None = _opt(
        None, min=1, help="incremental: rows per partial_fit, at least K (default 4 K, >= 256)"
    )
    power_iterations: int = _opt(4, min=0, max=20, help="randomized: power iterations")
    oversamples: int = _opt(10, min=0, help="randomized: extra columns of the random projection")
    seed: int = _opt(0, min=0, help="randomized: seed of the random projection")
    blas_threads: int = _opt(
        1, min=0, help="BLAS threads per SVD (0: BLAS's own default; 1 suits a shared machine)"
    )


@dataclass
class AnalyzeConfig:
    bins: int = _opt(64, min=4, max=4096, help="histogram bins over the robust range")
    bin_width: float | None = _opt(None, min=1e-9, help="fixed bin width instead of bins")
    split: str = _opt(
        "all",
        choices=SPLITS,
        help="rows analysed, by the store's split array (stores without one are all train)",
    )
    facts: list[float] = _opt(
        [1.25, 1.35, 1.45, 1.55, 1.7, 1.8], min=0.01, help="trimming facts (mu +- fact FWHM)"
    )
    trim_fact: float | None = _opt(
        1.5, min=0.01, help="fact of the trimmed set used by PCA; null: all"
    )
    pca_sample: int | None = _opt(
        None, min=2, help="PCA on a seeded random subset of the trimmed rows (null: all of them)"
    )
    pca_rows: str = _opt(
        "basis",
        choices=("basis", "all"),
        help="rows of the PCA-coordinate histograms, fits and pairs: the PCA basis rows or all",
    )
    pca_bin_width: float | None = _opt(
        None, min=1e-9, help="fixed bin width of the PCA-coordinate histograms instead of bins"
    )
    sample_rows: int = _opt(100000, min=100, help="rows sampled for robust histogram ranges")
    mardia_sample: int = _opt(2000, min=10, help="rows for Mardia's O(n^2) skewness")
    pairs: str = _opt(
        "auto",
        grammar=parse_pairs,
        help="pairs for 2D densities: auto (all while they fit pair_budget_mb, else the most "
        "correlated), all, top:K, first:K or i,j;k,l",
    )
    pca_pairs: str = _opt(
        "auto",
        grammar=parse_pairs,
        help="pairs of PCA components, same forms (auto beyond the budget: first:K)",
    )
    pair_budget_mb: int = _opt(
        256, min=1, help="MiB of uint32 pair grids per coordinate system that `auto` allows"
    )
    pair_bins: int = _opt(32, min=4, max=256, help="bins per axis of the pair grids")
    pair_block: int = _opt(8192, min=1, help="pairs per Dask task (at most)")
    task_memory_mb: int = _opt(
        256, min=16, help="memory per analysis task in MiB; sizes the pair blocks and waves"
    )
    dominant_rule: str = _opt(
        "relative",
        choices=("relative", "study"),
        help="relative: |mu| or FWHM far above the median component; study: |mu| away from 0 "
        "and half width above a bound",
    )
    dominant_mu_sigmas: float = _opt(2.0, min=0.0, help="relative rule: |mu| in median sigmas")
    dominant_fwhm_factor: float = _opt(2.0, min=1.0, help="relative rule: FWHM / median FWHM")
    dominant_min_abs_mu: float = _opt(0.5, min=0.0, help="study rule: smallest |mu|")
    dominant_min_half_width: float = _opt(1.0, min=0.0, help="study rule: smallest FWHM / 2")
    sweep_components: int = _opt(
        10, min=2, max=64, help="first PCA components whose pairs the fact sweep measures"
    )
    outliers: int = _opt(
        16, min=1, max=1000, help="most extreme and most typical rows recorded for the gallery"
    )
    seed: int = _opt(0, min=0, help="seed of the row samples")
    regions: bool = _opt(
        True, help="fragmentation: the regions the latents fill (mixture + ridgeline merging)"
    )
    regions_components: int | None = _opt(
        None,
        min=1,
        help="PCA components the regions live in (null: those for 90%% of the variance, "
        "at most 32)",
    )
    regions_max_k: int = _opt(8, min=1, max=64, help="largest mixture k of the BIC sweep")
    regions_sample_rows: int = _opt(
        5000, min=10, help="rows of the mixture sweep (a seeded part of the row sample)"
    )
    regions_merge_threshold: float = _opt(
        0.5,
        min=0.0,
        max=1.0,
        help="merge two components unless the density on their ridgeline dips below this "
        "fraction of the smaller peak",
    )
    regions_hdbscan_rows: int = _opt(
        2000, min=10, help="rows of the HDBSCAN cross-check (the first of the mixture sample)"
    )
    regions_inside_draws: int = _opt(
        10000, min=100, help="uniform-box and mvn draws whose share inside a region is measured"
    )
    regions_nearest: int = _opt(8, min=1, max=256, help="store rows kept nearest each centre")
    min_rows_per_dim: float = _opt(
        5.0,
        min=1.0,
        help="fewest rows per dimension behind a PCA basis, fit or mixture before a warning "
        "(and the PCA basis falls back to all rows)",
    )


SAMPLERS = (
    "uniform-box",
    "independent-range",
    "independent-normal",
    "mvn",
    "mvn-ellipsoid",
    "mvn-pca-box",
    "gmm",
    "n01",
    "regions",
    "regions-ellipsoid",
)
# The default samplers: regions runs only where the analysis has regions (lsf.generate drops
# it otherwise); regions-ellipsoid is asked for by name.
DEFAULT_SAMPLERS = tuple(name for name in SAMPLERS if name != "regions-ellipsoid")


@dataclass
class GenerateConfig:
    samplers: list[str] = _opt(
        list(DEFAULT_SAMPLERS),
        choices=SAMPLERS,
        counted=("gmm",),
        help="sampler names (gmm:K: a mixture of K components instead of the BIC choice; "
        "regions: only where the analysis has regions)",
    )
    n: int = _opt(
        1000, min=1, max=10_000_000, help="generated images per sampler draw (metrics use all)"
    )
    grid: int = _opt(64, min=1, max=1024, help="images in each sampler's grid.png")
    level: float = _opt(
        0.9, min=0.001, max=0.999999, help="mvn-ellipsoid and regions-ellipsoid chi2 level"
    )
    pca_sigmas: float = _opt(2.0, min=0.1, help="mvn-pca-box bound per PCA component")
    gmm_components: int = _opt(
        10, min=1, help="mixture components where one count is fixed (lsf explore's gmm)"
    )
    gmm_max_components: int = _opt(
        10, min=1, max=100, help="gmm: most components; BIC picks from 1 to this"
    )
    gmm_pca_dims: int = _opt(
        10, min=1, help="leading PCA coordinates the BIC choice of gmm's components is fitted on"
    )
    gmm_rows: int = _opt(20000, min=10, help="store rows the mixture is fitted on")
    repeats: int = _opt(
        3,
        min=1,
        max=100,
        help="fresh seeded draws per table row; the 95 percent intervals use them",
    )
    real_images: int = _opt(
        1000, min=10, help="real images in the reference set and in each real (noise floor) draw"
    )
    holdout_images: int = _opt(
        5000,
        min=2,
        help="held-out (validation/test) images read for the noise floor, the "
        "memorisation threshold and the interpolation rows (a seeded subset when more)",
    )
    memorisation_images: int = _opt(
        20000, min=10, help="training images searched for each generated image's nearest"
    )
    memorised_pairs: int = _opt(
        8, min=0, max=64, help="closest generated/training pairs shown per sampler"
    )
    feature_dims: int = _opt(64, min=2, help="pixel-PCA feature dimensions")
    knn: int = _opt(3, min=1, help="k of the k-NN precision/recall/density/coverage")
    kid_subsets: int = _opt(100, min=1, help="KID: subsets averaged (when sets exceed the size)")
    kid_subset_size: int = _opt(1000, min=2, help="KID: rows per subset")
    features: str | None = _opt(
        None,
        help="feature space: a TorchScript extractor file, or inception[:WEIGHTS] (Inception-v3 "
        "pool features from weights on disk, never downloaded); default pixel PCA",
        path=True,
    )
    plane: list[int] = _opt([0, 1], min=0, help="components (i, j) of the plane path")
    angle: float = _opt(30.0, help="angle of the plane path in degrees")
    pca_axis: int = _opt(0, min=0, help="PCA axis of the sweep path")
    interpolate: list[int] = _opt([0, 1], min=0, help="ids of the two interpolated images")
    path_steps: int = _opt(9, min=2, max=64)
    study_planes: int = _opt(
        3, min=0, max=16, help="planes of the top dominant components for the study's paths"
    )
    study_angles: list[float] = _opt(
        [0.0, 45.0, 90.0, 135.0], help="angles (degrees) each study plane's line is rotated to"
    )
    study_sigmas: float = _opt(
        2.0, min=0.1, max=20.0, help="half length of a study line in its plane, in sigmas"
    )
    beyond_sigmas: float = _opt(
        4.5, min=0.1, max=20.0, help="half length of the last study plane's lines: beyond the core"
    )
    gallery: bool = _opt(True, help="outlier gallery: source images of the analysis's outliers")
    region_images: int = _opt(
        8, min=0, max=64, help="source images nearest each region's centre shown (0: none)"
    )
    gap_paths: int = _opt(
        6, min=0, max=64, help="pairs of regions whose gap is decoded, least separated first"
    )
    gap_steps: int = _opt(9, min=3, max=64, help="steps of each decoded path between regions")
    save_images: bool = _opt(False, help="also write every generated image as PNG")
    save_latents: bool = _opt(False, help="also write the latents as latents.npy")
    seed: int = _opt(0, min=0, help="sampling seed")


@dataclass
class ReportConfig:
    pairs: list[int] = _opt([0, 1, 2, 3], min=0, help="component pairs, flattened: i1,j1,i2,j2")
    top_pairs: int = _opt(3, min=0, help="also show the pairs of largest |correlation|")
    pca_pairs: list[int] = _opt([0, 1, 1, 2, 2, 3], min=0, help="PCA pairs, flattened")
    detail_components: int = _opt(4, min=1, max=16, help="detail histogram panels")
    scatter_points: int = _opt(3000, min=100, help="latents drawn in each pair scatter")
    density_rows: int = _opt(20000, min=100, help="latents behind each density contour")
    ellipses: str = _opt(
        "trimmed",
        choices=ELLIPSE_SOURCES,
        help="confidence ellipses from: fits (fitted mu and sigma, Pearson r), trimmed "
        "(moments of the PCA basis rows) or moments (all rows)",
    )
    study_components: int = _opt(
        10, min=2, max=32, help="first PCA components of the study's detail figures and grid"
    )
    spread_components: list[int] = _opt(
        [10, 20, 40, 60, 90, 120], min=0, help="PCA components drawn against the first nine"
    )
    seed: int = _opt(0, min=0)


@dataclass
class PipelineConfig:
    prepare: PrepareConfig = field(default_factory=PrepareConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    encode: EncodeConfig = field(default_factory=EncodeConfig)
    analyze: AnalyzeConfig = field(default_factory=AnalyzeConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    report: ReportConfig = field(default_factory=ReportConfig)


STANDALONE_SECTIONS = {
    "import": ImportConfig,
    "pca": PcaConfig,
}  # verbs outside the pipeline: flags only


def _check_value(value, annotation, key: str):
    """Coerce `value` to `annotation` (int, float, str, bool, list[...], X | None) or raise."""
    args = typing.get_args(annotation)
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _check_value(value, inner, key)
    if typing.get_origin(annotation) is list:
        if not isinstance(value, list | tuple) or not value:
            raise LsfError(f"config: {key} must be a non-empty list, got {value!r}")
        return [_check_value(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
    if annotation is bool:
        if not isinstance(value, bool):
            raise LsfError(f"config: {key} must be true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise LsfError(f"config: {key} must be an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise LsfError(f"config: {key} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise LsfError(f"config: {key} must be a finite number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise LsfError(f"config: {key} must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {annotation!r} for {key}")


def _is_choice(value, meta) -> bool:
    if value in meta["choices"]:
        return True
    name, _, count = str(value).partition(":")
    return name in meta.get("counted", ()) and count.isdigit() and int(count) >= 1


def validate(section, name: str):
    """Return a copy of the dataclass `section` with every field coerced and range-checked."""
    hints = typing.get_type_hints(type(section))
    values = {}
    for f in dataclasses.fields(section):
        key = f"{name}.{f.name}"
        value = _check_value(getattr(section, f.name), hints[f.name], key)
        checks = [value] if not isinstance(value, list) else value
        for v in checks:
            if v is None:
                continue
            if f.metadata.get("choices") and not _is_choice(v, f.metadata):
                known = ", ".join(f.metadata["choices"])
                known += "".join(f" or {c}:K" for c in f.metadata.get("counted", ()))
                raise LsfError(f"config: {key} must be one of {known}, got {v!r}")
            if f.metadata.get("min") is not None and v < f.metadata["min"]:
                raise LsfError(f"config: {key} must be >= {f.metadata['min']}, got {v!r}")
            if f.metadata.get("max") is not None and v > f.metadata["max"]:
                raise LsfError(f"config: {key} must be <= {f.metadata['max']}, got {v!r}")
            if f.metadata.get("grammar") is not None:
                f.metadata["grammar"](v, f"config: {key}")
        values[f.name] = value
    return dataclasses.replace(section, **values)


def _section_from_mapping(cls, data, name: str):
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise LsfError(f"config: section {name!r} must be a mapping, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(_shown(k) for k in set(data) - known)
    if unknown:
        raise LsfError(
            f"config: unknown key {name}.{unknown[0]} (known: {', '.join(sorted(known))})"
        )
    defaults = cls()
    merged = validate(dataclasses.replace(defaults, **data) if data else defaults, name)
    for f in dataclasses.fields(cls):
        if f.metadata.get("path"):
            check_relative_path(getattr(merged, f.name), f"{name}.{f.name}")
    return merged


def check_relative_path(value: str | None, key: str) -> None:
    """A relative path from a config file must stay inside the working directory (a job's
    uploaded working dir); absolute paths and URLs are explicit choices and pass."""
    if value is None or "://" in value or os.path.isabs(os.path.expanduser(value)):
        return
    base = os.path.realpath(os.getcwd())
    target = os.path.realpath(os.path.join(base, value))
    if os.path.commonpath([base, target]) != base:
        raise LsfError(
            f"config: {key} {value!r} leads outside the working directory; give an absolute "
            "path or a URL to read from elsewhere"
        )


def _shown(key) -> str:
    """A key as a message shows it: bare if it is a plain name, else quoted (one line)."""
    return key if isinstance(key, str) and key.isidentifier() else repr(key)


def config_from_mapping(data) -> PipelineConfig:
    """Validate a parsed YAML mapping into a `PipelineConfig`."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise LsfError("config: the top level must be a mapping of sections")
    if "axes" in data:
        raise LsfError("config: this is a sweep file (it has `axes`); run it with `lsf compare`")
    if "preset" in data:
        data = with_preset(data)
    hints = typing.get_type_hints(PipelineConfig)
    sections = {f.name for f in dataclasses.fields(PipelineConfig)}
    unknown = sorted(repr(k) for k in set(data) - sections)
    if unknown:
        raise LsfError(
            f"config: unknown section {unknown[0]} (known: {', '.join(sorted(sections))})"
        )
    return PipelineConfig(
        **{name: _section_from_mapping(hints[name], data.get(name), name) for name in sections}
    )


def with_preset(data: dict) -> dict:
    """The mapping with its `preset`'s section values filled in under its own (the file's
    values win, key by key)."""
    from lsf.core.presets import preset_sections

    data = dict(data)
    merged = preset_sections(data.pop("preset"))
    for name, values in data.items():
        if isinstance(values, dict) and isinstance(merged.get(name), dict):
            merged[name] = {**merged[name], **values}
        else:
            merged[name] = values
    return merged


BUILTIN_CONFIGS = Path(__file__).parent.parent / "configs"


def builtin_config_names() -> list[str]:
    return sorted(p.stem for p in BUILTIN_CONFIGS.glob("*.yaml"))


def read_yaml(path: str | Path, what: str, known: list[str]) -> tuple[Path, object]:
    """`(path, parsed YAML)` of a file or a built-in name; errors are one line naming `what`
    (config, sweep) and the built-in names `known`."""
    if str(path) in builtin_config_names():
        path = BUILTIN_CONFIGS / f"{path}.yaml"
    path = Path(path)
    if not path.is_file():
        raise LsfError(f"{what} file not found: {path} (built-in {what}s: {', '.join(known)})")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LsfError(f"{what}: cannot read {path} as UTF-8 text ({exc})") from None
    try:
        return path, yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise LsfError(f"{what}: {path} is not valid YAML{where}") from None


def load_config(path: str | Path | None) -> PipelineConfig:
    """Read and validate a pipeline YAML (a path, or a built-in name such as `synthetic`);
    None gives the class defaults."""
    if path is None:
        return PipelineConfig()
    path, data = read_yaml(path, "config", builtin_config_names())
    return config_from_mapping(data)


def with_overrides(section, name: str, **flags):
    """Apply the CLI flags that were given (not None) to a config section and re-validate."""
    given = {k: v for k, v in flags.items() if v is not None}
    return validate(dataclasses.replace(section, **given), name)


def _comma_list(item_type, text: str) -> list:
    try:
        return [item_type(v.strip()) for v in text.split(",") if v.strip()]
    except ValueError:
        name = {int: "integers", float: "numbers"}.get(item_type, "values")
        raise argparse.ArgumentTypeError(f"expected {name} separated by commas: {text!r}") from None


def _default_text(value) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def flag_spec(section: str, name: str) -> dict:
    """`argparse.add_argument` keywords for config field `section.name`: type, choices, help
    and the default shown, all from the field's declaration. A flag not given parses to None
    (the config value stays)."""
    cls = typing.get_type_hints(PipelineConfig).get(section) or STANDALONE_SECTIONS[section]
    field = {f.name: f for f in dataclasses.fields(cls)}[name]
    annotation = typing.get_type_hints(cls)[name]
    meta = field.metadata
    default = cls().__dict__[name]
    help_text = meta.get("help") or name.replace("_", " ")
    if default is not None and "default" not in help_text:
        help_text += f" (default {_default_text(default)})"
    spec = {"default": None, "help": help_text}
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    base = args[0] if isinstance(annotation, types.UnionType) else annotation
    if base is bool:
        return {**spec, "action": "store_true"}
    if typing.get_origin(base) is list:
        item = typing.get_args(base)[0]
        return {**spec, "type": functools.partial(_comma_list, item), "metavar": "A,B,..."}
    if meta.get("choices"):
        spec["choices"] = meta["choices"]
    return {**spec, "type": base}


def as_dict(config) -> dict:
    """A plain mapping of a config (for JSON summaries and Ray task arguments)."""
    return dataclasses.asdict(config)
