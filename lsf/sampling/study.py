"""The study's faces, outlier gallery and plane paths, written into SAMPLES by `lsf generate`.

faces/origin_centre.png   the decoded origin (zero vector) beside the decoded centre (mean)
gallery/<set>.png         source images, read from the shards by id, of the analysis's most
                          extreme latents by squared Mahalanobis distance and by trim radius,
                          and of typical latents (d2 nearest the median), one row per set
study_paths/*.{png,npy}   lines through the centre in planes of the widest dominant
                          components, each rotated through `study_angles`; the last plane's
                          lines run `beyond_sigmas` out, past the core
Each writer returns its `metrics.json` entry; `lsf.report` draws them with the numbers under
each image. Called from `lsf.generate.generate`.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from lsf.core.config import GenerateConfig
from lsf.core.outputs import join, makedirs
from lsf.data.images import image_grid
from lsf.data.shards import read_images
from lsf.sampling.paths import pair_squared_mahalanobis, plane_line, study_planes
from lsf.sampling.samplers import LatentStatistics, squared_radius
from lsf.stats.analysis_store import StoredFits, StoredOutliers

FACES, GALLERY, STUDY_PATHS = "faces", "gallery", "study_paths"
CORE = 9.0  # squared 2D Mahalanobis radius of a pair's 3-sigma ellipse: the core's border
# (gallery set, its ids and values in `StoredOutliers`, what the value is)
GALLERY_SETS = (
    ("outliers_d2", "ids_d2", "d2", "squared Mahalanobis distance"),
    ("outliers_trim", "ids_trim", "trim_radius", "trim radius"),
    ("typical", "typical_ids", "typical_d2", "squared Mahalanobis distance"),
)


def _save_row(images: np.ndarray, url: str) -> None:
    Image.fromarray(image_grid(images, columns=len(images))).save(url, format="PNG")


def write_faces(folder: str, model, s: LatentStatistics) -> dict:
    """The origin's and the centre's decoded faces (`faces/origin_centre.png`) and their
    squared Mahalanobis distances to the fitted normal."""
    from lsf.sampling.decode import decode  # torch: imported only where a model decodes

    makedirs(join(folder, FACES))
    points = np.stack([np.zeros(s.dim), s.mean]).astype(np.float32)
    _save_row(decode(model, points), join(folder, FACES, "origin_centre.png"))
    d2 = squared_radius(points.astype(np.float64), s)
    return {
        "png": f"{FACES}/origin_centre.png",
        "names": ["origin", "centre"],
        "squared_mahalanobis": [float(v) for v in d2],
        "dof": s.dim,
    }


def write_gallery(folder: str, outliers: StoredOutliers, shards: str) -> dict:
    """One PNG row per gallery set (the analysis's `outliers`) with its ids and values."""
    sets = [(name, getattr(outliers, i), getattr(outliers, v), m) for name, i, v, m in GALLERY_SETS]
    wanted = np.unique(np.concatenate([ids for _, ids, _, _ in sets]))
    found_ids, images = read_images(shards, wanted.astype(np.int64))
    by_id = {int(v): k for k, v in enumerate(found_ids)}
    makedirs(join(folder, GALLERY))
    entry = {}
    for name, set_ids, values, measure in sets:
        ids = [int(v) for v in set_ids]
        keep = [k for k, v in enumerate(ids) if v in by_id]
        row = {"measure": measure, "ids": [ids[k] for k in keep], "png": None}
        row["values"] = [float(values[k]) for k in keep]
        row["missing_ids"] = [v for v in ids if v not in by_id]
        if keep:
            row["png"] = f"{GALLERY}/{name}.png"
            _save_row(images[[by_id[ids[k]] for k in keep]], join(folder, row["png"]))
        entry[name] = row
    return entry


def study_path_specs(config: GenerateConfig, s: LatentStatistics, fits: StoredFits) -> list:
    """`(metadata, points)` of every study line: for each plane of `study_planes`, one line
    per angle of `study_angles` through the centre, `study_sigmas` long each way (the last
    plane `beyond_sigmas`); the metadata carries each step's squared 2D Mahalanobis distance
    in the plane and whether the line leaves the pair's 3-sigma ellipse (`beyond_core`)."""
    planes = study_planes(fits.dominant, fits.gaussians.fwhm, config.study_planes)
    specs = []
    for index, (i, j) in enumerate(planes):
        last = index == len(planes) - 1
        sigmas = config.beyond_sigmas if last else config.study_sigmas
        for angle in config.study_angles:
            points = plane_line(s.mean, s.cov, i, j, angle, config.path_steps, sigmas)
            pair_d2 = pair_squared_mahalanobis(points, s.mean, s.cov, i, j)
            meta = {
                "name": f"study_{i}_{j}_{angle:g}deg",
                "kind": "study_plane",
                "plane": index,
                "components": [i, j],
                "angle_deg": angle,
                "sigmas": sigmas,
                "pair_squared_mahalanobis": [float(v) for v in pair_d2],
                "beyond_core": bool(pair_d2.max() > CORE),
            }
            specs.append((meta, points))
    return specs
