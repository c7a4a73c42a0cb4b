"""`lsf generate`: decode statistical latent vectors and latent paths, and measure the result.

For each sampler: `SAMPLES/<sampler>/grid.png` (+ optional PNGs and latents.npy), and one row
of `SAMPLES/metrics.json`: Frechet distance and k-NN precision/recall against real images in
a feature space, and the on-manifold check (re-encoded images' squared Mahalanobis distance
to the fitted latent normal). Two reference rows bound the table: `real` (held-out real
images: the best possible) and `reconstruction` (the autoencoder's own ceiling).
Paths land in `SAMPLES/paths/<name>.png` with their points as `<name>.npy`; their
metadata (kind, components, angle, PCA axis, image ids, file names, per-step squared
Mahalanobis distance) is the `paths` list of `metrics.json`. The study's own figures
(`lsf.sampling.study`): the origin's and the centre's faces (`faces`), the outlier gallery
(`gallery`, source images of the analysis's outliers by id) and lines in rotated planes of
dominant components (`study_paths`, files in `SAMPLES/study_paths/`, with `study_planes`: the
planes the report projects the origin-to-centre path onto).
Run: `lsf generate --model work/run/model.pt --analysis work/analysis --out work/samples`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import stats

from lsf.analyze import load_analysis
from lsf.core.config import GenerateConfig, as_dict
from lsf.core.errors import LsfError
from lsf.core.locks import locks_output
from lsf.core.outputs import (
    exists,
    join,
    local_copy,
    makedirs,
    staged_output_dir,
    write_json_atomic,
)
from lsf.core.progress import TERMINAL, Progress
from lsf.core.store import open_store, sample_rows
from lsf.data.images import image_grid
from lsf.data.shards import read_images, read_manifest
from lsf.nn.kinds import load_latent_model
from lsf.sampling import paths as latent_paths
from lsf.sampling.decode import decode, encode_images
from lsf.sampling.metrics import (
    PixelPCAFeatures,
    TorchScriptFeatures,
    frechet_distance_of,
    precision_recall,
)
from lsf.sampling.samplers import (
    LatentStatistics,
    fit_gmm,
    sample,
    squared_radius,
    statistics_from_analysis,
)
from lsf.sampling.study import STUDY_PATHS, study_path_specs, write_faces, write_gallery

METRICS = "metrics.json"
PATHS = "paths"


@dataclass
class GenerateSummary:
    out: str
    rows: dict
    seconds: float

    def __str__(self) -> str:
        return "\n".join([*format_table(self.rows), f"samples and metrics at {self.out}"])


def format_table(rows: dict) -> list[str]:
    header = f"{'sampler':20s} {'FD':>10s} {'precision':>9s} {'recall':>7s} {'d2/dof':>7s}"
    lines = [header, "-" * len(header)]
    for name, row in rows.items():
        lines.append(
            f"{name:20s} {row['frechet_distance']:10.2f} {row['precision']:9.3f} "
            f"{row['recall']:7.3f} {row['reencoded_d2_per_dof_median']:7.2f}"
        )
    return lines


def _save_png(images: np.ndarray, url: str, columns: int) -> None:
    Image.fromarray(image_grid(images, columns=columns)).save(url, format="PNG")


def _real_sets(shards: str, n: int, count: int, seed: int):
    """Two disjoint seeded sets of real images: reference and held-out."""
    count = min(count, n // 2)
    if count < 10:
        raise LsfError(f"{shards} holds {n} images: too few for the metric reference sets")
    ids = np.random.default_rng(seed).choice(n, size=2 * count, replace=False)
    found_ids, images = read_images(shards, ids)
    by_id = dict(zip(found_ids.tolist(), range(len(found_ids)), strict=True))
    ordered = images[[by_id[i] for i in ids]]
    return ordered[:count], ordered[count:]


def _quality(features, real_features, images, model, s: LatentStatistics, knn: int) -> dict:
    generated = features(images)
    precision, recall = precision_recall(real_features, generated, k=knn)
    d2 = squared_radius(encode_images(model, images).astype(np.float64), s)
    return {
        "frechet_distance": frechet_distance_of(real_features, generated),
        "precision": precision,
        "recall": recall,
        "reencoded_d2_per_dof_median": float(np.median(d2) / s.dim),
        "reencoded_inside_chi2_0.99": float((d2 <= stats.chi2.ppf(0.99, s.dim)).mean()),
    }


def _path_specs(config: GenerateConfig, s: LatentStatistics, arrays: dict, model, shards: str):
    """The four paths as `(metadata, points)`: metadata names the path's kind and the
    components, angle, PCA axis or image ids it was built from."""
    d = s.dim
    i, j = (config.plane + [0, 1])[:2]
    if max(i, j) >= d or config.pca_axis >= d:
        raise LsfError(f"path components must be < latent dim {d}")
    a, b = (config.interpolate + [0, 1])[:2]
    ids, images = read_images(shards, np.array([a, b]))
    by_id = {int(v): k for k, v in enumerate(ids)}
    if a not in by_id or b not in by_id:
        raise LsfError(f"--interpolate ids {a}, {b} are not both in {shards}")
    latents = encode_images(model, images[[by_id[a], by_id[b]]])  # from a to b, as named
    steps, k = config.path_steps, config.pca_axis
    pca = arrays["pca_mean"], arrays["pca_components"], arrays["explained_variance"]
    return [
        (
            {"name": "origin_to_centre", "kind": "origin_to_centre"},
            latent_paths.origin_to_centre(s.mean, steps),
        ),
        (
            {
                "name": f"plane_{i}_{j}_{config.angle:g}deg",
                "kind": "plane",
                "components": [i, j],
                "angle_deg": config.angle,
            },
            latent_paths.plane_line(s.mean, s.cov, i, j, config.angle, steps),
        ),
        (
            {"name": f"pca_axis_{k}", "kind": "pca_axis", "pca_axis": k},
            latent_paths.pca_sweep(*pca, k, steps),
        ),
        (
            {"name": f"interpolate_{a}_{b}", "kind": "interpolate", "ids": [a, b]},
            latent_paths.interpolation(latents[0], latents[-1], steps),
        ),
    ]


def _write_paths(folder: str, specs, model, s: LatentStatistics) -> list[dict]:
    """Each path's points (`.npy`) and decoded strip (`.png`) under `folder`; returns the
    metadata rows of `metrics.json` with file names and per-step squared Mahalanobis
    distances to the fitted normal."""
    makedirs(folder)
    rows = []
    for meta, points in specs:
        npy, png = f"{meta['name']}.npy", f"{meta['name']}.png"
        np.save(join(folder, npy), points)
        _save_png(decode(model, points), join(folder, png), len(points))
        d2 = squared_radius(points.astype(np.float64), s)
        rows.append(
            {
                **meta,
                "steps": len(points),
                "npy": npy,
                "png": png,
                "squared_mahalanobis": [float(v) for v in d2],
            }
        )
    return rows


def _study(config: GenerateConfig, s, arrays: dict, model, shards: str, tmp: str) -> dict:
    """The `faces`, `gallery`, `study_planes` and `study_paths` entries of metrics.json."""
    specs = study_path_specs(config, s, arrays)
    planes = []
    for meta, _ in specs:
        if meta["components"] not in planes:
            planes.append(meta["components"])
    gallery = write_gallery(tmp, arrays, shards) if config.gallery else {"off": True}
    return {
        "faces": write_faces(tmp, model, s),
        "gallery": gallery,
        "study_planes": planes,
        "study_paths": _write_paths(join(tmp, STUDY_PATHS), specs, model, s),
    }


def is_complete(out: str) -> bool:
    """Samples are complete once `metrics.json` exists (uploaded last)."""
    return exists(join(out, METRICS))


def _statistics(model, arrays: dict, progress: Progress) -> LatentStatistics:
    if arrays["mean"].shape[0] != model.config.latent_dim:
        raise LsfError(
            f"the analysis has latent dim {arrays['mean'].shape[0]} but the model "
            f"{model.config.latent_dim}: analyse the latents of this model"
        )
    s = statistics_from_analysis(arrays)
    if s.jitter:
        progress.log(f"[generate] covariance is singular: added {s.jitter:.3g} to its diagonal")
    return s


def _feature_space(config: GenerateConfig, reference: np.ndarray):
    if config.features:
        with local_copy(config.features) as features_file:
            return TorchScriptFeatures(features_file)
    return PixelPCAFeatures.fit(reference, config.feature_dims)


def _bounds(measure, model, held_out: np.ndarray) -> dict:
    """The reference rows: held-out real images and their reconstructions."""
    return {
        "real": measure(held_out),
        "reconstruction": measure(decode(model, encode_images(model, held_out))),
    }


def _write_sampler(config: GenerateConfig, name: str, images, latents, folder: str) -> None:
    makedirs(folder)
    _save_png(images[: config.grid], join(folder, "grid.png"), columns=8)
    if config.save_latents:
        np.save(join(folder, "latents.npy"), latents)
    if config.save_images:
        for k, image in enumerate(images):
            Image.fromarray(image).save(join(folder, f"{k:05d}.png"))


def _run_samplers(config, s, model, measure, store_url: str, tmp: str, progress) -> dict:
    """Sample, decode, measure and write each sampler; the GMM is fitted on seeded store
    rows read through `lsf.core.store.sample_rows`."""
    rows, gmm = {}, None
    for name in config.samplers:
        if name == "gmm" and gmm is None:
            _, fit_rows = sample_rows(store_url, config.gmm_rows, config.seed)
            gmm = fit_gmm(fit_rows, config.gmm_components, config.seed)
        latents, info = sample(
            name,
            s,
            config.n,
            config.seed,
            level=config.level,
            pca_sigmas=config.pca_sigmas,
            gmm=gmm,
        )
        images = decode(model, latents)
        rows[name] = {**measure(images), **info}
        _write_sampler(config, name, images, latents, join(tmp, name))
        progress.log(f"[generate] {name}: FD {rows[name]['frechet_distance']:.2f}")
    return rows


@locks_output("out")
def generate(
    config: GenerateConfig,
    model_path: str,
    analysis: str,
    out: str,
    *,
    overwrite: bool = False,
    progress: Progress = TERMINAL,
) -> GenerateSummary:
    started = time.perf_counter()
    model = load_latent_model(model_path)
    arrays, summary = load_analysis(analysis)
    s = _statistics(model, arrays, progress)
    store_url = summary["latents"]["path"]
    shards = open_store(store_url).attrs["source"]["shards"]
    reference, held_out = _real_sets(
        shards, read_manifest(shards)["n"], config.real_images, config.seed
    )
    features = _feature_space(config, reference)
    real_features = features(reference)

    def measure(images: np.ndarray) -> dict:
        return _quality(features, real_features, images, model, s, config.knn)

    rows = _bounds(measure, model, held_out)
    with staged_output_dir(out, overwrite) as tmp:
        rows |= _run_samplers(config, s, model, measure, store_url, tmp, progress)
        specs = _path_specs(config, s, arrays, model, shards)
        paths = _write_paths(join(tmp, PATHS), specs, model, s)
        study = _study(config, s, arrays, model, shards, tmp)
        write_json_atomic(
            join(tmp, METRICS),
            {
                "config": as_dict(config),
                "feature_space": config.features or f"pixel PCA, {config.feature_dims} dims",
                "real_images": len(reference),
                "model": str(model_path),
                "analysis": str(analysis),
                "samplers": rows,
                "paths": paths,
                **study,
            },
        )
    return GenerateSummary(out, rows, time.perf_counter() - started)
