"""Writes and reads the fragmentation contract: the `regions/` group of ANALYSIS/analysis.zarr
(arrays with `dimension_names`, the row labels `regions/label`) and summary.json's
`fragmentation` block, as part of the analysis folder contract (`lsf.stats.analysis_store`
writes it with the rest, and its `StoredAnalysis.fragmentation` / `.region_labels()` are how
generate, report and explore read it: `read_fragmentation(group, summary)` and
`read_labels(group)` of the analysis.zarr root group).
"""

from __future__ import annotations

import json
import math

import numpy as np

from lsf.stats.fragmentation import Fragmentation

GROUP = "regions"
LABEL = "label"

# array field -> dimension names (R regions, M components, K PCA components, D latent dim)
DIMENSIONS = {
    "pca_mean": ("latent",),
    "pca_components": ("component", "latent"),
    "bic": ("k",),
    "mixture_weights": ("mixture",),
    "mixture_means": ("mixture", "component"),
    "mixture_covariances": ("mixture", "component", "component_2"),
    "component_region": ("mixture",),
    "counts": ("region",),
    "shares": ("region",),
    "means": ("region", "latent"),
    "covariances": ("region", "latent", "latent_2"),
    "score_means": ("region", "component"),
    "score_covariances": ("region", "component", "component_2"),
    "radius2": ("region",),
    "coverage_levels": ("level",),
    "coverage": ("region", "level"),
    "explained_variance_ratio": ("region", "axis"),
    "components_80": ("region",),
    "extent": ("region", "axis"),
    "gap": ("region", "region_2"),
    "separation": ("region", "region_2"),
    "nearest_rows": ("region", "rank"),
    "nearest_ids": ("region", "rank"),
    "sample_scores": ("sample", "component"),
    "sample_labels": ("sample",),
    "sample_rows": ("sample",),
    "peaks": ("region",),
    "ridgeline": ("mixture", "mixture_2"),
}
SCALARS = ("components", "chosen_k", "outside", "hdbscan_clusters")
FLOATS = ("hdbscan_noise_share", "adjusted_rand")


def _finite_or_none(value):
    value = float(value)
    return value if math.isfinite(value) else None


def _matrix(values: np.ndarray) -> list:
    return [[_finite_or_none(v) for v in row] for row in np.asarray(values)]


def fragmentation_summary(result: Fragmentation) -> dict:
    """summary.json's `fragmentation` block (plain JSON: NaN written as null)."""
    return {
        "regions": result.regions,
        "verdict": result.verdict,
        "method": result.parameters,
        "bic": {str(k + 1): _finite_or_none(b) for k, b in enumerate(result.bic)},
        "chosen_k": int(result.chosen_k),
        "component_region": [int(r) for r in result.component_region],
        "merges": [[int(a), int(b), _finite_or_none(r)] for a, b, r in result.merges],
        "sizes": [int(c) for c in result.counts],
        "outside": int(result.outside),
        "shares": [float(s) for s in result.shares],
        "coverage": {
            f"{level:g}": [_finite_or_none(c) for c in result.coverage[:, i]]
            for i, level in enumerate(result.coverage_levels)
        },
        "components_80": [int(c) for c in result.components_80],
        "gaps": _matrix(result.gap),
        "separations": _matrix(result.separation),
        "hdbscan": {
            "clusters": int(result.hdbscan_clusters),
            "noise_share": _finite_or_none(result.hdbscan_noise_share),
            "adjusted_rand": _finite_or_none(result.adjusted_rand),
        },
        "inside": {k: _finite_or_none(v) for k, v in result.inside.items()},
        "warnings": list(result.warnings),
    }


def write_fragmentation(group, result: Fragmentation) -> None:
    """The arrays of `result` under `group`'s `regions/` subgroup (scalars in its attrs)."""
    sub = group.require_group(GROUP)
    for name, dims in DIMENSIONS.items():
        value = getattr(result, name)
        if value is None:
            continue
        data = np.asarray(value)
        sub.create_array(name, data=data, chunks="auto", dimension_names=dims, overwrite=True)
    attrs = {name: int(getattr(result, name)) for name in SCALARS}
    attrs.update({name: _finite_or_none(getattr(result, name)) for name in FLOATS})
    attrs["merges"] = [[int(a), int(b), _finite_or_none(r)] for a, b, r in result.merges]
    attrs["inside"] = {k: _finite_or_none(v) for k, v in result.inside.items()}
    attrs["warnings"] = list(result.warnings)
    attrs["verdict"] = result.verdict
    attrs["parameters"] = json.loads(json.dumps(result.parameters))
    sub.attrs.update(attrs)


def write_labels(group, n: int, chunk_rows: int):
    """The empty `regions/label` int16 [n] array (filled chunk by chunk by the caller)."""
    sub = group.require_group(GROUP)
    return sub.create_array(
        LABEL,
        shape=(n,),
        dtype=np.int16,
        chunks=(max(1, min(n, chunk_rows)),),
        fill_value=-1,
        dimension_names=("sample",),
        overwrite=True,
    )


def _group(root):
    return root[GROUP] if GROUP in root.group_keys() else None


def _none_if_nan(value):
    return math.nan if value is None else float(value)


def read_fragmentation(root, summary: dict) -> Fragmentation | None:
    """The `Fragmentation` under the analysis.zarr group `root` (with summary.json's content
    `summary`); None when it has no regions (the pass was off or skipped)."""
    sub = _group(root)
    if sub is None or "counts" not in sub.array_keys():
        return None
    attrs = dict(sub.attrs)
    arrays = {name: sub[name][...] for name in DIMENSIONS if name in sub.array_keys()}
    block = summary.get("fragmentation") or {}
    return Fragmentation(
        **{name: arrays.get(name) for name in DIMENSIONS},
        **{name: int(attrs[name]) for name in SCALARS},
        **{name: _none_if_nan(attrs[name]) for name in FLOATS},
        merges=[(int(a), int(b), _none_if_nan(r)) for a, b, r in attrs["merges"]],
        inside={k: _none_if_nan(v) for k, v in attrs["inside"].items()},
        warnings=list(attrs["warnings"]),
        parameters=dict(attrs["parameters"]),
        verdict=block.get("verdict", attrs["verdict"]),
    )


def read_labels(root):
    """The lazy `regions/label` int16 [n] zarr array under `root` (None without regions)."""
    sub = _group(root)
    return sub[LABEL] if sub is not None and LABEL in sub.array_keys() else None
