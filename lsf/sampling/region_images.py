"""The regions' images, written into SAMPLES/regions/ by `lsf generate` when the analysis has
regions (`lsf.stats.fragmentation_store.read_fragmentation`).

regions/centres.png         the decoded latent mean of each region, in region order
regions/nearest_<r>.png     source images (read from the shards by id) of the store rows
                            nearest region r's centre (`Fragmentation.nearest_ids`)
regions/gap_<a>_<b>.{png,npy}  decoded steps of the straight segment between the centres of
                            regions a and b (latent coordinates): a path through the gap, each
                            step labelled with its mixture density relative to the smaller
                            region's peak and its squared Mahalanobis distance to the nearest
                            region (PCA coordinates, `score_means`/`score_covariances`)
`write_region_images` returns the `regions` entry of metrics.json; `lsf.report` draws it.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import stats
from scipy.special import logsumexp

from lsf.core.outputs import join, makedirs
from lsf.data.images import image_grid
from lsf.data.shards import read_images
from lsf.stats.quadratic import covariance_whitening, squared_mahalanobis

REGIONS = "regions"


def pca_scores(fragmentation, z: np.ndarray) -> np.ndarray:
    """Latents `[n, D]` in the regions' PCA coordinates `[n, K]`."""
    return (np.asarray(z, np.float64) - fragmentation.pca_mean) @ fragmentation.pca_components.T


def _normal(mean, cov):
    return stats.multivariate_normal(mean, cov, allow_singular=True)


def mixture_log_density(scores: np.ndarray, weights, means, covariances) -> np.ndarray:
    """log of the Gaussian mixture density at rows `scores [n, K]`."""
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    parts = [
        np.log(w) + np.atleast_1d(_normal(m, c).logpdf(scores))
        for w, m, c in zip(weights, means, covariances, strict=True)
        if w > 0
    ]
    return logsumexp(np.stack(parts), axis=0)


def _log_density(fragmentation, scores: np.ndarray) -> np.ndarray:
    f = fragmentation
    return mixture_log_density(scores, f.mixture_weights, f.mixture_means, f.mixture_covariances)


def region_log_peaks(fragmentation) -> np.ndarray:
    """log of each region's mixture density peak: the analysis's `peaks` when it recorded
    them, else the highest mixture density at the means of the region's components."""
    f = fragmentation
    if f.peaks is not None:
        return np.asarray(f.peaks, dtype=np.float64)
    at_means = _log_density(f, np.asarray(f.mixture_means, np.float64))
    regions = np.asarray(f.component_region)
    return np.array([at_means[regions == r].max() for r in range(f.regions)])


def region_squared_distances(fragmentation, scores: np.ndarray) -> np.ndarray:
    """Squared Mahalanobis distance of rows `scores [n, K]` to each region `[n, R]`."""
    f = fragmentation
    out = np.empty((len(scores), f.regions))
    for r in range(f.regions):
        white = covariance_whitening(f.score_covariances[r])
        out[:, r] = squared_mahalanobis(scores, f.score_means[r], white)
    return out


def gap_pairs(separation: np.ndarray, count: int) -> list[tuple[int, int]]:
    """The `count` region pairs (a < b) of smallest Mahalanobis separation (NaN last)."""
    r = len(separation)
    pairs = [(a, b) for a in range(r) for b in range(a + 1, r)]
    key = [np.inf if not np.isfinite(separation[a, b]) else separation[a, b] for a, b in pairs]
    order = np.argsort(key, kind="stable")
    return [pairs[k] for k in order[:count]]


def gap_path(fragmentation, a: int, b: int, steps: int) -> tuple[np.ndarray, dict]:
    """`(points float32 [steps, D], labels)` of the segment from region a's centre to b's:
    per step the mixture density relative to the smaller peak of a and b, the squared
    Mahalanobis distance to the nearest region and that region (-1 beyond its radius)."""
    f = fragmentation
    t = np.linspace(0.0, 1.0, steps)[:, None]
    points = (1 - t) * f.means[a] + t * f.means[b]
    scores = pca_scores(f, points)
    peaks = region_log_peaks(f)
    relative = np.exp(_log_density(f, scores) - min(peaks[a], peaks[b]))
    d2 = region_squared_distances(f, scores)
    nearest = d2.argmin(axis=1)
    nearest_d2 = d2[np.arange(steps), nearest]
    inside = nearest_d2 <= np.asarray(f.radius2)[nearest]
    return points.astype(np.float32), {
        "density": [float(v) for v in relative],
        "d2": [float(v) for v in nearest_d2],
        "region": [int(r) if ok else -1 for r, ok in zip(nearest, inside, strict=True)],
    }


def _save_row(images: np.ndarray, url: str) -> None:
    Image.fromarray(image_grid(images, columns=len(images))).save(url, format="PNG")


def _nearest(folder: str, fragmentation, shards: str, count: int) -> list[dict]:
    ids = np.asarray(fragmentation.nearest_ids)[:, :count]
    wanted = np.unique(ids[ids >= 0]).astype(np.int64)
    found_ids, images = read_images(shards, wanted) if len(wanted) else ([], None)
    by_id = {int(v): k for k, v in enumerate(found_ids)}
    rows = []
    for r, row in enumerate(ids):
        listed = [int(v) for v in row if v >= 0]
        shown = [v for v in listed if v in by_id]
        entry = {"region": r, "ids": shown, "missing_ids": [v for v in listed if v not in by_id]}
        entry["png"] = None
        if shown:
            entry["png"] = f"{REGIONS}/nearest_{r}.png"
            _save_row(images[[by_id[v] for v in shown]], join(folder, entry["png"]))
        rows.append(entry)
    return rows


def write_region_images(folder: str, model, fragmentation, shards: str, config) -> dict:
    """Centre faces, nearest source images and gap paths under `folder/regions/`; returns
    the `regions` entry of metrics.json. `config`: the `GenerateConfig` (`region_images`,
    `gap_paths`, `gap_steps`)."""
    from lsf.sampling.decode import decode  # torch: imported only where a model decodes

    f = fragmentation
    makedirs(join(folder, REGIONS))
    means = np.asarray(f.means, dtype=np.float64)
    usable = np.isfinite(means).all(axis=1)  # a region of < 2 rows has NaN moments
    faces = decode(model, np.where(usable[:, None], means, 0.0).astype(np.float32))
    faces[~usable] = 255
    _save_row(faces, join(folder, REGIONS, "centres.png"))
    separation = np.where(np.outer(usable, usable), np.asarray(f.separation, float), np.nan)
    gaps = []
    for a, b in gap_pairs(separation, config.gap_paths):
        if not (usable[a] and usable[b]):
            continue
        points, labels = gap_path(f, a, b, config.gap_steps)
        name = f"{REGIONS}/gap_{a}_{b}"
        np.save(join(folder, f"{name}.npy"), points)
        _save_row(decode(model, points), join(folder, f"{name}.png"))
        gaps.append(
            {
                "a": a,
                "b": b,
                "png": f"{name}.png",
                "npy": f"{name}.npy",
                "steps": len(points),
                "gap": float(f.gap[a, b]),
                "separation": float(f.separation[a, b]),
                **labels,
            }
        )
    nearest = _nearest(folder, f, shards, config.region_images) if config.region_images else []
    return {
        "regions": f.regions,
        "centres": {
            "png": f"{REGIONS}/centres.png",
            "shares": [float(s) for s in f.shares],
            "decoded": [bool(u) for u in usable],
        },
        "nearest": nearest,
        "gaps": gaps,
    }
