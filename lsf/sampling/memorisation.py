"""Are generated images new, or copies of training images? Nearest training image in features.

`TrainingIndex` holds the features of (a seeded subset of) the training images; each query
row gets its nearest training row and distance. The threshold is the median nearest-training
distance of held-out images (never trained on): a generated image closer than that is
flagged, so a sampler that makes new images like fresh real ones flags about half of them,
and one that copies training images flags far more. Pure numpy/sklearn; called per draw by
`lsf.sampling.evaluation`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Nearest:
    distances: np.ndarray  # (n,) distance of each query row to its nearest training row
    indices: np.ndarray  # (n,) row of that training image in the index


class TrainingIndex:
    """Exact Euclidean nearest neighbours among training feature rows."""

    def __init__(self, features: np.ndarray, ids: np.ndarray):
        from sklearn.neighbors import NearestNeighbors

        self.features = np.asarray(features, dtype=np.float64)
        self.ids = np.asarray(ids)  # source image id of each row
        self._search = NearestNeighbors(n_neighbors=1, algorithm="brute").fit(self.features)

    def __len__(self) -> int:
        return len(self.features)

    def nearest(self, queries: np.ndarray) -> Nearest:
        distances, indices = self._search.kneighbors(np.asarray(queries, dtype=np.float64))
        return Nearest(distances[:, 0], indices[:, 0])


def memorisation_threshold(index: TrainingIndex, held_out: np.ndarray) -> float:
    """Median distance from held-out feature rows to their nearest training row."""
    return float(np.median(index.nearest(held_out).distances))


def memorised_share(nearest: Nearest, threshold: float) -> float:
    """Share of query rows closer to a training row than `threshold`."""
    return float((nearest.distances < threshold).mean())


def closest_pairs(nearest: Nearest, count: int) -> tuple[np.ndarray, np.ndarray]:
    """`(query rows, training rows)` of the `count` closest pairs, closest first."""
    order = np.argsort(nearest.distances, kind="stable")[:count]
    return order, nearest.indices[order]
