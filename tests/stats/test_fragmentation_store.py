"""The fragmentation contract reads back what was written: every array, scalar and the
summary block, `None` for an analysis without regions, and the labels lazily."""

import json

import numpy as np
import zarr

from lsf.stats.fragmentation import COVERAGE_LEVELS, Fragmentation
from lsf.stats.fragmentation_store import (
    DIMENSIONS,
    fragmentation_summary,
    read_fragmentation,
    read_labels,
    write_fragmentation,
    write_labels,
)


def random_fragmentation(rng, r=2, m=3, k=4, d=6, s=10) -> Fragmentation:
    def cov(n, dim):
        a = rng.standard_normal((n, dim, dim))
        return a @ a.transpose(0, 2, 1) + np.eye(dim)

    counts = rng.integers(10, 100, size=r)
    return Fragmentation(
        components=k,
        pca_mean=rng.standard_normal(d),
        pca_components=rng.standard_normal((k, d)),
        bic=np.array([3.0, 1.0, np.nan]),
        chosen_k=2,
        mixture_weights=np.full(m, 1 / m),
        mixture_means=rng.standard_normal((m, k)),
        mixture_covariances=cov(m, k),
        component_region=np.array([0, 1, 1]),
        merges=[(1, 2, 0.9)],
        counts=counts,
        outside=3,
        shares=counts / (counts.sum() + 3),
        means=rng.standard_normal((r, d)),
        covariances=cov(r, d),
        score_means=rng.standard_normal((r, k)),
        score_covariances=cov(r, k),
        radius2=np.full(r, 18.5),
        coverage_levels=np.array(COVERAGE_LEVELS),
        coverage=rng.uniform(size=(r, 3)),
        explained_variance_ratio=rng.uniform(size=(r, d)),
        components_80=np.array([2, 3]),
        extent=rng.uniform(size=(r, k)),
        gap=np.array([[1.0, 0.01], [0.01, 1.0]]),
        separation=np.array([[0.0, 9.0], [9.0, 0.0]]),
        hdbscan_clusters=2,
        hdbscan_noise_share=0.05,
        adjusted_rand=0.97,
        inside={"uniform-box": 0.0, "mvn": 0.4, "real": 0.99},
        nearest_rows=np.array([[1, 2], [3, -1]]),
        nearest_ids=np.array([[11, 12], [13, -1]]),
        sample_scores=rng.standard_normal((s, k)).astype(np.float32),
        sample_labels=rng.integers(-1, r, size=s).astype(np.int16),
        warnings=["a warning"],
        parameters={"components": k, "max_k": 3},
        verdict="2 regions",
        peaks=np.array([-1.0, -2.0]),
        ridgeline=np.eye(m),
        sample_rows=np.arange(s),
    )


def write_analysis(tmp_path, result):
    group = zarr.open_group(str(tmp_path / "analysis.zarr"), mode="w", zarr_format=3)
    write_fragmentation(group, result)
    labels = write_labels(group, 7, 3)
    labels[:] = np.array([0, 1, -1, 0, 0, 1, 1], dtype=np.int16)
    summary = {"fragmentation": fragmentation_summary(result)}
    (tmp_path / "summary.json").write_text(json.dumps(summary, allow_nan=False))


def test_fragmentation_reads_back_as_written(tmp_path):
    result = random_fragmentation(np.random.default_rng(0))
    write_analysis(tmp_path, result)
    root = zarr.open_group(str(tmp_path / "analysis.zarr"), mode="r")
    summary = json.loads((tmp_path / "summary.json").read_text())
    back = read_fragmentation(root, summary)
    for name in DIMENSIONS:
        np.testing.assert_array_equal(getattr(back, name), getattr(result, name), err_msg=name)
    for name in (
        "components",
        "chosen_k",
        "outside",
        "hdbscan_clusters",
        "hdbscan_noise_share",
        "adjusted_rand",
        "merges",
        "inside",
        "warnings",
        "parameters",
        "verdict",
    ):
        assert getattr(back, name) == getattr(result, name), name
    assert back.regions == 2 and back.dim == 6
    assert read_labels(root)[...].tolist() == [0, 1, -1, 0, 0, 1, 1]


def test_arrays_carry_dimension_names(tmp_path):
    write_analysis(tmp_path, random_fragmentation(np.random.default_rng(1)))
    group = zarr.open_group(str(tmp_path / "analysis.zarr"), mode="r")["regions"]
    assert group["covariances"].metadata.dimension_names == ("region", "latent", "latent_2")
    assert group["label"].metadata.dimension_names == ("sample",)


def test_summary_block_names_nan_as_null():
    block = fragmentation_summary(random_fragmentation(np.random.default_rng(2)))
    assert block["bic"] == {"1": 3.0, "2": 1.0, "3": None}
    assert block["regions"] == 2 and block["sizes"][0] > 0
    json.dumps(block, allow_nan=False)


def test_an_analysis_without_regions_reads_none(tmp_path):
    root = zarr.open_group(str(tmp_path / "analysis.zarr"), mode="w", zarr_format=3)
    assert read_fragmentation(root, {}) is None
    assert read_labels(root) is None
