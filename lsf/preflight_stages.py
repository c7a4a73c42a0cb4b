"""Each stage's preflight `Estimate` from its configuration and the headers of its inputs
(shard manifest, model.json, the latent store's shape), for the CLI and `lsf run`.

Every `*_for` function reads only small metadata and hands plain numbers to the arithmetic
of `lsf.core.preflight`; when an input is missing or unreadable it returns None and the
stage itself reports the problem in its own words. `pipeline_estimates(config)` estimates
every stage of `lsf run` from the config alone. It sits above the layers it reads (data,
nn, stats), beside the verbs, so `lsf.core` imports none of them.
"""

from __future__ import annotations

import os

from lsf.core import preflight
from lsf.core.config import ModelConfig, PipelineConfig, PrepareConfig
from lsf.core.errors import LsfError
from lsf.core.preflight import Estimate

INPUT_ERRORS = (LsfError, OSError, KeyError, ValueError, TypeError)
DEFAULT_SYNTHETIC_N = 20000  # lsf.prepare's default count of synthetic faces


def _model_info(model_ref) -> dict:
    """The stated `ModelConfig` (as a dict) of lsf's RUN/model.pt (its model.json), a model
    YAML or a `ModelConfig` (other kinds state their latent_dim only when given)."""
    from dataclasses import asdict

    from lsf.core.outputs import read_json
    from lsf.nn.kinds import model_config_of

    stated = model_config_of(model_ref)
    if stated is not None:
        return asdict(stated)
    return read_json(os.path.splitext(str(model_ref))[0] + ".json")["model"]


def parameter_count(model: ModelConfig) -> int:
    """Parameters of lsf's autoencoder for `model`, counted on the built (untrained) model."""
    from lsf.nn.model import Autoencoder

    return Autoencoder(model).parameter_count()


def prepare_for(config: PrepareConfig) -> Estimate | None:
    n = config.n or DEFAULT_SYNTHETIC_N
    if config.source != "synthetic":
        from lsf.data.images import source_files

        try:
            n = len(source_files(config.source, config.path, config.n)[1])
        except INPUT_ERRORS:
            return None
    return preflight.prepare_estimate(n, config.size, config.rows_per_shard)


def train_for(model_config, train_config, shards: str) -> Estimate | None:
    from lsf.data.shards import read_manifest

    try:
        manifest = read_manifest(shards, verify=False)
        h, w, c = manifest["image_shape"]
        n = manifest["n"]
    except INPUT_ERRORS:
        return None
    return preflight.train_estimate(
        parameter_count(model_config),
        n,
        h * w * c,
        train_config.batch_size,
        train_config.workers,
    )


def encode_for(config, shards: str, model_path: str) -> Estimate | None:
    from lsf.data.shards import read_manifest

    try:
        manifest = read_manifest(shards, verify=False)
        h, w, c = manifest["image_shape"]
        latent_dim = _model_info(model_path)["latent_dim"]
        n = manifest["n"]
    except INPUT_ERRORS:
        return None
    return preflight.encode_estimate(n, latent_dim, h * w * c, config.batch_size, config.actors)


def analyze_for(config, latents: str) -> Estimate | None:
    """The analysis of the store `latents` (its shape from the metadata); a `pairs` setting
    beyond the store's dimension is refused here, in one line, before anything is read."""
    import zarr

    from lsf.core.outputs import zarr_location
    from lsf.stats.pair_analysis import pair_grid_count

    try:
        n, d = zarr.open_group(zarr_location(latents), mode="r")["z"].shape
    except Exception:  # zarr raises many kinds for a missing or foreign store
        return None
    return preflight.analyze_estimate(n, d, config, pair_grid_count(config, d))


def generate_for(config, model_path: str) -> Estimate | None:
    try:
        model = _model_info(model_path)
    except INPUT_ERRORS:
        return None
    return preflight.generate_estimate(
        config, model["image_size"], model["channels"], model["latent_dim"]
    )


def pipeline_estimates(config: PipelineConfig) -> list[Estimate]:
    """Every stage of `lsf run`, from the config alone (before any input exists)."""
    from lsf.stats.pair_analysis import pair_grid_count

    p, m = config.prepare, config.model
    n = p.n or DEFAULT_SYNTHETIC_N
    image = p.size * p.size * m.channels
    pairs = pair_grid_count(config.analyze, m.latent_dim)
    return [
        preflight.prepare_estimate(n, p.size, p.rows_per_shard),
        preflight.train_estimate(
            parameter_count(m), n, image, config.train.batch_size, config.train.workers
        ),
        preflight.encode_estimate(
            n, m.latent_dim, image, config.encode.batch_size, config.encode.actors
        ),
        preflight.analyze_estimate(n, m.latent_dim, config.analyze, pairs),
        preflight.generate_estimate(config.generate, p.size, m.channels, m.latent_dim),
        preflight.report_estimate(),
    ]
