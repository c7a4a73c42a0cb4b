"""`lsf generate`: decode statistical latent vectors and latent paths, and measure the result.

For each sampler: `SAMPLES/<sampler>/grid.png` (+ optional PNGs and latents.npy, and
`memorised.png`: its closest generated/training pairs), and one row of `SAMPLES/metrics.json`:
Frechet distance, KID, k-NN precision/recall/density/coverage against N real training images
in a feature space, the memorised share and the on-manifold check (re-encoded images'
squared Mahalanobis distance to the fitted latent normal), each the mean of R seeded draws
with its 95 % interval (`lsf.sampling.evaluation`). Reference rows bound the table: `real`
(held-out real images: the noise floor), `reconstruction` (the autoencoder's ceiling) and
the interpolation midpoints of held-out pairs; `n01` and `uniform-box` are the floors.
Paths land in `SAMPLES/paths/<name>.png` with their points as `<name>.npy`; their
metadata (kind, components, angle, PCA axis, image ids, file names, per-step squared
Mahalanobis distance) is the `paths` list of `metrics.json`. The study's own figures
(`lsf.sampling.study`): the origin's and the centre's faces (`faces`), the outlier gallery
(`gallery`, source images of the analysis's outliers by id) and lines in rotated planes of
dominant components (`study_paths`, files in `SAMPLES/study_paths/`, with `study_planes`: the
planes the report projects the origin-to-centre path onto). With regions in the analysis: the
`regions` sampler(s) and the regions' centre faces, nearest source images and gap paths
(`regions`, files in `SAMPLES/regions/`, `lsf.sampling.region_images`).
Run: `lsf generate --model work/run/model.pt --analysis work/analysis --out work/samples`.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
from PIL import Image
from threadpoolctl import threadpool_limits

from lsf.core.config import DEFAULT_SAMPLERS, GenerateConfig, as_dict
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
from lsf.core.store import open_store
from lsf.data.images import image_grid
from lsf.data.shards import read_images
from lsf.nn.kinds import load_latent_model
from lsf.sampling import paths as latent_paths
from lsf.sampling.decode import decode, encode_images
from lsf.sampling.evaluation import build_evaluator, check_draw_size, read_real_images
from lsf.sampling.inception import InceptionFeatures, is_inception, resolve_weights
from lsf.sampling.metrics import PixelPCAFeatures, TorchScriptFeatures, check_feature_space
from lsf.sampling.region_images import write_region_images
from lsf.sampling.regions import RegionMixture, resolve_samplers
from lsf.sampling.rows import measure_references, measure_samplers
from lsf.sampling.samplers import LatentStatistics, squared_radius, statistics_from_analysis
from lsf.sampling.study import STUDY_PATHS, study_path_specs, write_faces, write_gallery
from lsf.sampling.table import format_table, table_footer
from lsf.stats.analysis_store import StoredAnalysis, read
from lsf.stats.pca import PCA

METRICS = "metrics.json"
PATHS = "paths"


@dataclass
class GenerateSummary:
    out: str
    rows: dict
    seconds: float
    evaluation: dict  # metrics.json's `evaluation`: N, R and the pools

    def __str__(self) -> str:
        table = [*format_table(self.rows), table_footer(self.evaluation)]
        return "\n".join([*table, f"samples and metrics at {self.out}"])


def _save_png(images: np.ndarray, url: str, columns: int) -> None:
    Image.fromarray(image_grid(images, columns=columns)).save(url, format="PNG")


def _path_specs(config: GenerateConfig, s: LatentStatistics, pca: PCA, model, shards: str):
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
            latent_paths.pca_sweep(pca.mean, pca.components, pca.explained_variance, k, steps),
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


def _study(config: GenerateConfig, s, a: StoredAnalysis, model, shards: str, tmp: str) -> dict:
    """The `faces`, `gallery`, `study_planes` and `study_paths` entries of metrics.json."""
    specs = study_path_specs(config, s, a.fits)
    planes = []
    for meta, _ in specs:
        if meta["components"] not in planes:
            planes.append(meta["components"])
    gallery = write_gallery(tmp, a.outliers, shards) if config.gallery else {"off": True}
    return {
        "faces": write_faces(tmp, model, s),
        "gallery": gallery,
        "study_planes": planes,
        "study_paths": _write_paths(join(tmp, STUDY_PATHS), specs, model, s),
    }


def is_complete(out: str) -> bool:
    """Samples are complete once `metrics.json` exists (uploaded last)."""
    return exists(join(out, METRICS))


def _statistics(model, a: StoredAnalysis, progress: Progress) -> LatentStatistics:
    if a.latent_dim != model.config.latent_dim:
        raise LsfError(
            f"the analysis has latent dim {a.latent_dim} but the model "
            f"{model.config.latent_dim}: analyse the latents of this model"
        )
    s = statistics_from_analysis(a)
    if s.jitter:
        progress.log(f"[generate] covariance is singular: added {s.jitter:.3g} to its diagonal")
    return s


def _feature_space(config: GenerateConfig, reference: np.ndarray):
    if is_inception(config.features):
        return InceptionFeatures(resolve_weights(config.features))
    if config.features:
        with local_copy(config.features) as features_file:
            return TorchScriptFeatures(features_file)
    return PixelPCAFeatures.fit(reference, config.feature_dims)


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
    check_feature_space(config.features)  # before any work: one line when it is absent
    check_draw_size(config.n, config.knn)
    model = load_latent_model(model_path)
    a = read(analysis)
    s = _statistics(model, a, progress)
    fragmentation = a.fragmentation
    samplers, dropped = resolve_samplers(
        config.samplers, list(DEFAULT_SAMPLERS), fragmentation is not None, str(analysis)
    )
    if dropped:
        progress.log(f"[generate] no regions in the analysis: skipped {', '.join(dropped)}")
    config = dataclasses.replace(config, samplers=samplers)
    regions = fragmentation and RegionMixture.from_fragmentation(fragmentation)
    store_url = a.latents_path
    shards = open_store(store_url).attrs["source"]["shards"]
    # one BLAS thread: on this shared 2-core machine the mixture fits and the metric kernels
    # ran 8x slower with two spinning BLAS threads (as in `lsf analyze`)
    with threadpool_limits(limits=1, user_api="blas"):
        real = read_real_images(
            shards,
            config.real_images,
            config.memorisation_images,
            config.holdout_images,
            config.seed,
        )
        features = _feature_space(config, real.reference)

        def reencoded_d2(images: np.ndarray) -> np.ndarray:
            return squared_radius(encode_images(model, images).astype(np.float64), s)

        evaluator = build_evaluator(
            features,
            real,
            reencoded_d2,
            s.dim,
            knn=config.knn,
            kid_subsets=config.kid_subsets,
            kid_subset_size=config.kid_subset_size,
            seed=config.seed,
        )
        rows = measure_references(config, evaluator, real, model, s, progress)
        with staged_output_dir(out, overwrite) as tmp:
            rows |= measure_samplers(
                config,
                evaluator,
                real,
                model,
                s,
                (a.pca.model, store_url, fragmentation),
                tmp,
                progress,
                regions,
            )
            specs = _path_specs(config, s, a.pca.model, model, shards)
            paths = _write_paths(join(tmp, PATHS), specs, model, s)
            study = _study(config, s, a, model, shards, tmp)
            study["regions"] = (
                write_region_images(tmp, model, fragmentation, shards, config)
                if fragmentation is not None
                else {"off": "the analysis has no regions"}
            )
            evaluation = _evaluation_facts(config, real, evaluator)
            write_json_atomic(
                join(tmp, METRICS),
                {
                    "config": as_dict(config),
                    "feature_space": config.features or f"pixel PCA, {config.feature_dims} dims",
                    "real_images": len(real.reference),
                    "evaluation": evaluation,
                    "model": str(model_path),
                    "analysis": str(analysis),
                    "samplers": rows,
                    "paths": paths,
                    **study,
                },
            )
    return GenerateSummary(out, rows, time.perf_counter() - started, evaluation)


def _evaluation_facts(config: GenerateConfig, real, evaluator) -> dict:
    """What every row was measured with: set sizes, draws, the interval, the pools."""
    return {
        "reference_images": len(real.reference),
        "reference_split": "train",
        "generated_per_draw": config.n,
        "repeats": config.repeats,
        "interval": "95 % Student-t interval of the mean over the draws (fresh seeded draws)",
        "held_out_images": len(real.held_out),
        "memorisation": {
            "training_images": len(real.training),
            "threshold": evaluator.threshold,
            "rule": "share of images nearer a training image than the median nearest-"
            "training distance of held-out images (about 0.5 for new images)",
        },
        "knn": config.knn,
        "kid": {
            "kernel": "(x.y / d + 1)^3",
            "subsets": config.kid_subsets,
            "subset_size": config.kid_subset_size,
        },
    }
