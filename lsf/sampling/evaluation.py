"""Every row of the sampler table, measured over R seeded draws against one real reference.

`read_real_images` reads, in one pass over the shards, the reference (N seeded training
images), the training pool the memorisation check searches (the reference first) and the
held-out pool (validation/test split, never trained on). `Evaluator.measure` turns one draw
of images into its metrics (Frechet distance, KID, precision/recall/density/coverage,
memorised share, re-encoded d2) and `summarise` turns R draws into a metrics.json row: the
mean and the 95 % t-interval of each. `floor_set` and `interpolation_pairs` make the
reference rows' draws. Called by `lsf.generate`; torch stays there (the d2 callable).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from lsf.core.errors import LsfError
from lsf.data.shards import SPLIT_TRAIN, read_images, read_manifest, read_table, shard_urls
from lsf.sampling.memorisation import (
    Nearest,
    TrainingIndex,
    memorisation_threshold,
    memorised_share,
)
from lsf.sampling.metrics import frechet_distance_of
from lsf.sampling.quality import (
    estimate,
    kernel_inception_distance,
    kth_neighbour_radii,
    neighbour_metrics,
)


@dataclass
class RealImages:
    reference: np.ndarray  # (N, H, W, C) uint8 training images: every row is measured on them
    training: np.ndarray  # the memorisation pool, `training[:N]` is the reference
    training_ids: np.ndarray
    held_out: np.ndarray  # validation/test images (a seeded subset of at most holdout_images)
    held_out_ids: np.ndarray

    @property
    def filler(self) -> np.ndarray:
        """Training images outside the reference: they complete a noise-floor set when the
        held-out split holds fewer than N images."""
        return self.training[len(self.reference) :]


def split_ids(shards: str) -> tuple[np.ndarray, np.ndarray]:
    """`(training ids, held-out ids)` from the shards' `split` column."""
    manifest = read_manifest(shards, verify=False)
    ids, splits = [], []
    for url in shard_urls(shards, manifest):
        table = read_table(url, columns=["id", "split"])
        ids.append(table["id"].to_numpy())
        splits.append(table["split"].to_numpy())
    ids, splits = np.concatenate(ids), np.concatenate(splits)
    return np.sort(ids[splits == SPLIT_TRAIN]), np.sort(ids[splits != SPLIT_TRAIN])


def read_real_images(
    shards: str, real_images: int, memorisation_images: int, holdout_images: int, seed: int
) -> RealImages:
    train_ids, held_ids = split_ids(shards)
    count = min(real_images, len(train_ids) // 2)
    if count < 10:
        raise LsfError(
            f"{shards} holds {len(train_ids)} training images: too few for the metric "
            "reference set (at least 20)"
        )
    rng = np.random.default_rng(seed)
    pool = rng.permutation(train_ids)[: max(memorisation_images, 2 * count)]
    held = rng.permutation(held_ids)[:holdout_images]
    found_ids, images = read_images(shards, np.concatenate([pool, held]))
    row_of = dict(zip(found_ids.tolist(), range(len(found_ids)), strict=True))
    training = images[[row_of[i] for i in pool.tolist()]]
    return RealImages(
        reference=training[:count],
        training=training,
        training_ids=pool,
        held_out=images[[row_of[i] for i in held.tolist()]],
        held_out_ids=held,
    )


@dataclass
class Evaluator:
    """One draw of images -> its metrics, all against the same reference features."""

    features: Callable[[np.ndarray], np.ndarray]  # uint8 images -> float64 [n, F]
    reference: np.ndarray  # features of the reference images
    index: TrainingIndex | None  # training pool features (None without held-out images)
    threshold: float | None  # median held-out -> training nearest distance
    squared_radius: Callable[[np.ndarray], np.ndarray]  # images -> d2 of their re-encodings
    dof: int  # latent dimensions
    knn: int = 3
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    seed: int = 0

    def __post_init__(self):
        self.reference_radii = kth_neighbour_radii(self.reference, self.knn)  # the same each draw

    def measure(
        self, images: np.ndarray, memorisation_rows: np.ndarray | None = None
    ) -> tuple[dict, Nearest | None]:
        """`(metrics, nearest training rows)` of one draw; `memorisation_rows` (a boolean
        mask) restricts the memorised share to rows that are not training images."""
        generated = self.features(images)
        neighbours = neighbour_metrics(
            self.reference, generated, self.knn, real_radii=self.reference_radii
        )
        kid = kernel_inception_distance(
            self.reference, generated, self.kid_subsets, self.kid_subset_size, self.seed
        )
        out = {
            "frechet_distance": frechet_distance_of(self.reference, generated),
            "kid": kid,
            "precision": neighbours.precision,
            "recall": neighbours.recall,
            "density": neighbours.density,
            "coverage": neighbours.coverage,
        }
        nearest = None
        if self.index is not None:
            nearest = self.index.nearest(generated)
            kept = nearest
            if memorisation_rows is not None:
                kept = Nearest(
                    nearest.distances[memorisation_rows], nearest.indices[memorisation_rows]
                )
            if len(kept.distances):
                out["memorised_share"] = memorised_share(kept, self.threshold)
        d2 = self.squared_radius(images)
        out["reencoded_d2_per_dof_median"] = float(np.median(d2) / self.dof)
        out["reencoded_inside_chi2_0.99"] = float((d2 <= stats.chi2.ppf(0.99, self.dof)).mean())
        return out, nearest


def check_draw_size(n: int, knn: int) -> None:
    """One line when a draw of `n` images is too small for the k-NN metrics (each row's k-th
    neighbour must exist: more than `knn` rows)."""
    if n <= knn:
        raise LsfError(
            f"--n {n}: the k-NN metrics need more than knn = {knn} images per draw; "
            f"give --n {knn + 1} or more"
        )


def build_evaluator(features, real: RealImages, squared_radius, dof: int, **options) -> Evaluator:
    """The evaluator with the training index and the memorisation threshold; without
    held-out images there is no threshold and no memorisation column."""
    knn = options.get("knn", Evaluator.knn)
    if len(real.reference) <= knn:
        raise LsfError(
            f"the reference holds {len(real.reference)} real images: too few for the k-NN "
            f"metrics with knn = {knn}; lower generate.knn or raise --real-images"
        )
    index = threshold = None
    if len(real.held_out):
        index = TrainingIndex(features(real.training), real.training_ids)
        threshold = memorisation_threshold(index, features(real.held_out))
    return Evaluator(
        features, features(real.reference), index, threshold, squared_radius, dof, **options
    )


def summarise(draws: list[dict]) -> dict:
    """A metrics.json row: each metric's mean over the draws, `intervals` (95 % t-interval of
    the mean, null bounds for one draw) and `draws` (R)."""
    row, intervals = {}, {}
    for key in draws[0]:
        e = estimate([d[key] for d in draws])
        row[key], intervals[key] = e.value, [e.low, e.high]
    return {**row, "intervals": intervals, "draws": len(draws)}


def floor_set(real: RealImages, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`(images, held-out mask)`: a seeded noise-floor set of `size` real images disjoint
    from the reference, held-out images first, training images outside the reference
    making up the rest when the held-out split is smaller."""
    rng = np.random.default_rng(seed)
    take = min(size, len(real.held_out))
    rest = size - take
    if rest > len(real.filler):
        raise LsfError(f"too few real images outside the reference for a set of {size}")
    images = np.concatenate(
        [
            real.held_out[rng.choice(len(real.held_out), take, replace=False)],
            real.filler[rng.choice(len(real.filler), rest, replace=False)],
        ]
    )
    return images, np.arange(size) < take


def interpolation_pairs(count: int, pool: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` seeded pairs `(a, b)` of distinct rows of a pool of `pool` rows."""
    if pool < 2:
        raise LsfError("interpolation needs at least two held-out images")
    rng = np.random.default_rng(seed)
    a = rng.integers(pool, size=count)
    return a, (a + rng.integers(1, pool, size=count)) % pool
