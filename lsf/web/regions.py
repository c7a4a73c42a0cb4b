"""The regions of the latent space in `lsf explore`: which region a latent is in, each
region's centre to jump to, and the analysis's labelled map sample projected onto a pair
panel so the page colours its points by region.

`RegionView.from_fragmentation(read(ANALYSIS).fragmentation, store_z)`: the map sample's
latents are the store rows it was drawn from when the store is given and the analysis
recorded them (`sample_rows`), else their reconstruction from the K PCA coordinates the
regions live in (exact on PCA pairs within the first K components, marked approximate
elsewhere). Pure numpy; `lsf.web.explorer` serves it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lsf.plots.fragmentation import region_colour
from lsf.sampling.region_images import region_squared_distances
from lsf.sampling.regions import RegionMixture

MAX_POINTS = 2000  # map sample points sent with a pair panel


@dataclass
class RegionView:
    fragmentation: object  # lsf.stats.fragmentation.Fragmentation
    mixture: RegionMixture
    points: np.ndarray  # [S, D] latents of the labelled map sample (at most MAX_POINTS)
    labels: np.ndarray  # [S] region of each (-1: outside every region)
    exact: bool  # points are store rows (not reconstructed from K PCA coordinates)

    @classmethod
    def from_fragmentation(cls, fragmentation, store_z=None) -> RegionView:
        f = fragmentation
        count = min(MAX_POINTS, len(f.sample_labels))
        labels = np.asarray(f.sample_labels[:count], dtype=np.int64)
        rows = None if f.sample_rows is None else np.asarray(f.sample_rows[:count], np.int64)
        if store_z is not None and rows is not None and (rows >= 0).all():
            order = np.argsort(rows)
            points = np.empty((count, store_z.shape[1]))
            points[order] = store_z.get_orthogonal_selection((rows[order], slice(None)))
            exact = True
        else:
            scores = np.asarray(f.sample_scores[:count], dtype=np.float64)
            points, exact = f.pca_mean + scores @ f.pca_components, False
        return cls(f, RegionMixture.from_fragmentation(f), points, labels, exact)

    def info(self) -> list[dict]:
        """Each region: index, rows, share, colour and its centre (latent mean)."""
        f = self.fragmentation
        return [
            {
                "region": r,
                "rows": int(f.counts[r]),
                "share": float(f.shares[r]),
                "colour": region_colour(r),
                "centre": np.asarray(f.means[r], dtype=np.float64).tolist(),
            }
            for r in range(f.regions)
        ]

    def region_of(self, z: np.ndarray) -> dict:
        """The region z is in (nearest by squared Mahalanobis distance in the regions' PCA
        coordinates; -1 beyond that region's radius), the distance and the radius."""
        f = self.fragmentation
        scores = (np.asarray(z, np.float64)[None] - f.pca_mean) @ f.pca_components.T
        d2 = region_squared_distances(f, scores)[0]
        nearest = int(d2.argmin())
        radius2 = float(f.radius2[nearest])
        return {
            "region": nearest if d2[nearest] <= radius2 else -1,
            "nearest": nearest,
            "d2": float(d2[nearest]),
            "radius2": radius2,
        }

    def panel_points(self, origin: np.ndarray, axes: np.ndarray, system: str, i: int, j: int):
        """The map sample on a pair panel: `{points [[x, y]], labels, exact}`; exact when the
        points are store rows or the pair is of PCA components within the first K."""
        xy = (self.points - origin) @ axes.T
        within = system == "pca" and max(i, j) < self.fragmentation.components
        return {
            "points": np.round(xy, 5).tolist(),
            "labels": self.labels.tolist(),
            "exact": bool(self.exact or within),
        }
