"""The per-chunk step of the regions pass and how its partial sums combine (pure NumPy;
`lsf.stats.regions_pass` maps it over the store's raw row chunks in the analysis's third
read, so labelling every row costs no read of its own).

`region_step(x, split, start, plan)` gets one raw chunk (every row of the store, whatever
the analysed split), labels each row (-1: non-finite or outside every region) and, for the
analysed rows, sums per region: counts, latent-coordinate moments, chi2 coverage of the
rows closest to the region, the rows nearest its centre; and counts the held-out rows
(split 1 or 2) and the analysed rows inside some region's 0.99 radius.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lsf.stats.moments import chunk_moments, combine_moments
from lsf.stats.pca import project
from lsf.stats.regions import Mixture, assign, squared_distances
from lsf.stats.selection import merge_top_k, split_mask, top_k

HELD_OUT = (1, 2)  # split codes of the held-out latents (validation, test)


@dataclass
class RegionPlan:
    pca_mean: np.ndarray  # [D]
    pca_components: np.ndarray  # [K, D]
    mixture: Mixture
    component_region: np.ndarray  # [M]
    normals: Mixture  # [R] each region's normal in PCA coordinates
    radius2: np.ndarray  # [R]
    coverage2: np.ndarray  # [3] chi2(K) quantiles of the coverage levels
    inside2: float  # chi2(K) quantile of the inside level
    code: int | None  # the analysed split (None: every row)
    shift: np.ndarray  # [D] provisional mean of the moment sums
    nearest: int  # rows kept nearest each centre

    @property
    def regions(self) -> int:
        return len(self.radius2)


def region_step(x: np.ndarray, split, start: int, plan: RegionPlan) -> dict:
    n, r = len(x), plan.regions
    finite = np.isfinite(x).all(axis=1)
    labels = np.full(n, -1, dtype=np.int16)
    scores = project(x[finite], plan.pca_mean, plan.pca_components)
    lab, closest, d2 = assign(
        scores, plan.mixture, plan.component_region, plan.normals, plan.radius2
    )
    labels[finite] = lab
    analysed = split_mask(split, plan.code, n)[finite]
    rows = start + np.flatnonzero(finite)
    inside = (squared_distances(scores, plan.normals) <= plan.inside2).any(axis=1)
    held = np.isin(np.asarray(split)[finite], HELD_OUT) if split is not None else analysed & False
    finite_x = x[finite]
    out = {
        "labels": labels,
        "counts": np.array([(analysed & (lab == k)).sum() for k in range(r)], dtype=np.int64),
        "outside": np.int64((analysed & (lab == -1)).sum()),
        "moments": [
            chunk_moments(finite_x, plan.shift, analysed & (lab == k), higher=False)
            for k in range(r)
        ],
        "closest": np.array([(analysed & (closest == k)).sum() for k in range(r)], np.int64),
        "covered": np.array(
            [
                [(analysed & (closest == k) & (d2 <= c)).sum() for c in plan.coverage2]
                for k in range(r)
            ],
            dtype=np.int64,
        ),
        "inside_held_out": np.array([(held & inside).sum(), held.sum()], dtype=np.int64),
        "inside_analysed": np.array([(analysed & inside).sum(), analysed.sum()], dtype=np.int64),
        "nearest": [
            top_k(-d2[analysed & (lab == k)], rows[analysed & (lab == k)], plan.nearest)
            for k in range(r)
        ],
    }
    return out


def combine_regions(a: dict, b: dict, plan: RegionPlan) -> dict:
    return {
        "labels": np.concatenate([a["labels"], b["labels"]]),
        "counts": a["counts"] + b["counts"],
        "outside": a["outside"] + b["outside"],
        "moments": [combine_moments(p, q) for p, q in zip(a["moments"], b["moments"], strict=True)],
        "closest": a["closest"] + b["closest"],
        "covered": a["covered"] + b["covered"],
        "inside_held_out": a["inside_held_out"] + b["inside_held_out"],
        "inside_analysed": a["inside_analysed"] + b["inside_analysed"],
        "nearest": [
            merge_top_k(p, q, plan.nearest) for p, q in zip(a["nearest"], b["nearest"], strict=True)
        ],
    }
