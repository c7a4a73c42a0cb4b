"""The rows of the sampler table, each from R fresh seeded draws (`quality.draw_seeds`).

References: `real` (noise floor: sets of N real images outside the reference, held-out ones
first), `reconstruction` (the same sets through the autoencoder: the ceiling) and
`interpolation-linear` / `interpolation-spherical` (midpoints of seeded pairs of encoded
held-out images). Samplers: draw 0 uses the configured seed and is the one written
(`grid.png`, optional PNGs and latents, `memorised.png` with its closest training images).
`gmm` takes its component count from BIC on PCA coordinates: the analysis's regions pass's
BIC curve where it has one, else `choose_gmm_components`; `gmm:K` a fixed K. Called by
`lsf.generate.generate`.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from lsf.core.config import GenerateConfig
from lsf.core.outputs import join, makedirs
from lsf.core.store import sample_rows
from lsf.data.images import image_grid
from lsf.sampling.decode import decode, encode_images
from lsf.sampling.evaluation import (
    Evaluator,
    RealImages,
    floor_set,
    interpolation_pairs,
    summarise,
)
from lsf.sampling.interpolation import linear_midpoints, spherical_midpoints
from lsf.sampling.memorisation import closest_pairs
from lsf.sampling.quality import draw_seeds
from lsf.sampling.samplers import (
    LatentStatistics,
    choose_gmm_components,
    fit_gmm,
    gmm_fixed_components,
    sample,
)
from lsf.sampling.table import ordered_names
from lsf.stats.pca import PCA, project

MEMORISED = "memorised.png"


def measure_references(
    config: GenerateConfig, evaluator: Evaluator, real: RealImages, model, s, progress
) -> dict:
    seeds = draw_seeds(config.seed, config.repeats)
    size = len(real.reference)
    floor, ceiling = [], []
    for seed in seeds:
        images, held_out = floor_set(real, size, seed)
        floor.append(evaluator.measure(images, held_out)[0])
        reconstructed = decode(model, encode_images(model, images))
        ceiling.append(evaluator.measure(reconstructed, held_out)[0])
    sets = {"set_size": size, "held_out_per_set": int(held_out.sum())}
    rows = {"real": {**summarise(floor), **sets}, "reconstruction": {**summarise(ceiling), **sets}}
    if held_out.sum() < size:
        progress.log(
            f"[generate] noise floor: the held-out split has {len(real.held_out)} images, so "
            f"each set of {size} adds {size - int(held_out.sum())} training images outside "
            "the reference (memorised share from the held-out ones only)"
        )
    progress.log(f"[generate] real (noise floor): FD {rows['real']['frechet_distance']:.2f}")
    if len(real.held_out) < 2:
        progress.log("[generate] fewer than two held-out images: no interpolation rows")
        return rows
    latents = encode_images(model, real.held_out[: 2 * size]).astype(np.float64)
    linear, spherical = [], []
    for seed in seeds:
        a, b = interpolation_pairs(size, len(latents), seed)
        for midpoints, draws in (
            (linear_midpoints(latents[a], latents[b]), linear),
            (spherical_midpoints(latents[a], latents[b], s.mean), spherical),
        ):
            draws.append(evaluator.measure(decode(model, midpoints.astype(np.float32)))[0])
    pairs = {"set_size": size, "pairs_from_held_out": len(latents)}
    rows["interpolation-linear"] = {**summarise(linear), **pairs}
    rows["interpolation-spherical"] = {**summarise(spherical), **pairs, "centre": "latent mean"}
    return rows


class Mixtures:
    """The `gmm` samplers' fits, one per component count, on one seeded read of store rows.
    `gmm`'s count is BIC's choice on PCA coordinates: the analysis's regions pass already
    fitted mixtures of 1..regions_max_k components on its PCA coordinates and kept their BIC
    curve, so where it exists (`fragmentation`) that curve is used, up to
    `gmm_max_components`; otherwise mixtures are fitted here on `gmm_pca_dims` coordinates."""

    def __init__(self, config: GenerateConfig, pca: PCA, store_url: str, fragmentation=None):
        self.config, self.pca, self.store_url = config, pca, store_url
        self.fragmentation = fragmentation
        self.rows, self.fits, self.bic = None, {}, None

    def _store_rows(self) -> np.ndarray:
        if self.rows is None:
            _, self.rows = sample_rows(self.store_url, self.config.gmm_rows, self.config.seed)
        return self.rows

    def bic_components(self) -> dict:
        if self.bic is None:
            f = self.fragmentation
            if f is not None and np.isfinite(f.bic[: self.config.gmm_max_components]).any():
                self.bic = shared_bic_choice(f, self.config.gmm_max_components)
            else:
                self.bic = self._own_bic_choice()
        return self.bic

    def _own_bic_choice(self) -> dict:
        config, pca = self.config, self.pca
        dims = min(config.gmm_pca_dims, len(pca.components))
        coordinates = project(self._store_rows(), pca.mean, pca.components[:dims])
        k, bic = choose_gmm_components(coordinates, config.gmm_max_components, config.seed)
        return {
            "components_by": "bic",
            "bic_components": k,
            "bic": bic,
            "gmm_max_components": config.gmm_max_components,
            "bic_max_components": len(bic),
            "bic_pca_dims": dims,
            "bic_source": f"fitted here on {len(coordinates)} store rows",
        }

    def get(self, name: str):
        """`(fitted mixture, facts for the row)` of sampler `gmm` or `gmm:K`."""
        fixed = gmm_fixed_components(name)
        facts = {"components_by": "fixed"} if fixed else self.bic_components()
        k = fixed or facts["bic_components"]
        if k not in self.fits:
            self.fits[k] = fit_gmm(self._store_rows(), k, self.config.seed)
        return self.fits[k], facts


def shared_bic_choice(fragmentation, max_components: int) -> dict:
    """`gmm`'s facts from the regions pass's BIC curve (NaN where that pass stopped early):
    the least BIC among k = 1..min(max_components, its largest k)."""
    curve = np.asarray(fragmentation.bic, dtype=np.float64)[:max_components]
    return {
        "components_by": "bic",
        "bic_components": int(np.nanargmin(curve)) + 1,
        "bic": [float(b) if np.isfinite(b) else None for b in curve],
        "gmm_max_components": max_components,
        "bic_max_components": len(curve),
        "bic_pca_dims": int(fragmentation.components),
        "bic_source": "the analysis's regions pass",
    }


def _write_draw(config, images, latents, folder: str, nearest, real: RealImages) -> dict:
    """The written draw's files; returns the row's file entries."""
    makedirs(folder)
    Image.fromarray(image_grid(images[: config.grid], columns=8)).save(
        join(folder, "grid.png"), format="PNG"
    )
    if config.save_latents:
        np.save(join(folder, "latents.npy"), latents)
    if config.save_images:
        for k, image in enumerate(images):
            Image.fromarray(image).save(join(folder, f"{k:05d}.png"))
    if nearest is None or config.memorised_pairs == 0:
        return {}
    rows, train_rows = closest_pairs(nearest, config.memorised_pairs)
    pairs = np.concatenate([images[rows], real.training[train_rows]])  # generated row on top
    Image.fromarray(image_grid(pairs, columns=len(rows))).save(
        join(folder, MEMORISED), format="PNG"
    )
    return {
        "memorised_pairs": {
            "png": MEMORISED,
            "distances": [float(d) for d in nearest.distances[rows]],
            "training_ids": [int(i) for i in real.training_ids[train_rows]],
        }
    }


def folder_name(name: str) -> str:
    """A sampler's folder under SAMPLES (`gmm:5` -> `gmm-5`)."""
    return name.replace(":", "-")


def measure_samplers(
    config: GenerateConfig,
    evaluator: Evaluator,
    real: RealImages,
    model,
    s: LatentStatistics,
    fit_inputs: tuple,
    tmp: str,
    progress,
    regions=None,
) -> dict:
    """Sample, decode and measure each sampler R times; write its first draw. `fit_inputs`:
    `(the analysis's PCA, store url, fragmentation or None)` for the mixtures; `regions`: the
    analysis's `RegionMixture` (None without regions)."""
    mixtures = Mixtures(config, *fit_inputs)
    seeds = draw_seeds(config.seed, config.repeats)
    rows = {}
    for name in ordered_names(config.samplers):
        gmm, facts = mixtures.get(name) if name.startswith("gmm") else (None, {})
        if facts.get("components_by") == "bic":
            progress.log(
                f"[generate] {name}: {facts['bic_components']} components by BIC over k = 1.."
                f"{facts['bic_max_components']} on {facts['bic_pca_dims']} PCA coordinates "
                f"({facts['bic_source']})"
            )
        draws, written = [], {}
        for r, seed in enumerate(seeds):
            latents, info = sample(
                name,
                s,
                config.n,
                seed,
                level=config.level,
                pca_sigmas=config.pca_sigmas,
                gmm=gmm,
                regions=regions,
            )
            images = decode(model, latents)
            metrics, nearest = evaluator.measure(images)
            draws.append(metrics)
            if r == 0:
                first_info = info
                folder = folder_name(name)
                written = _write_draw(config, images, latents, join(tmp, folder), nearest, real)
        rows[name] = {
            **summarise(draws),
            **first_info,
            **facts,
            "set_size": config.n,
            "folder": folder,
            **written,
        }
        progress.log(f"[generate] {name}: FD {rows[name]['frechet_distance']:.2f}")
    return rows
