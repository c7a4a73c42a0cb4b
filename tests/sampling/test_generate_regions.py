"""`lsf generate` with regions: the regions samplers become rows of the metrics table beside
mvn, measured the same way, the regions' images are written, and `--sampler regions` on an
analysis without regions is refused in one line with exit 2 before anything is written."""

import json
import shutil

import numpy as np
import pytest
import zarr

from lsf.cli import main
from lsf.core.config import GenerateConfig
from lsf.core.progress import QUIET
from lsf.generate import generate
from lsf.stats.analysis_store import read
from tests.explore_inputs import explore_inputs
from tests.regions_inputs import add_regions, fragmentation_of, remove_regions

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return explore_inputs(tmp_path_factory.getbasetemp() / "explore")


@pytest.fixture(scope="module")
def generated(inputs, tmp_path_factory):
    folder = tmp_path_factory.mktemp("generate_regions")
    analysis = folder / "analysis"
    shutil.copytree(inputs["analysis"], analysis)
    z = zarr.open_group(inputs["latents"], mode="r")["z"][...].astype(np.float64)
    pca = read(str(analysis)).pca.model
    pc0 = (z - pca.mean) @ pca.components[0]
    labels = (pc0 > np.quantile(pc0, 0.7)).astype(np.int64)
    add_regions(analysis, fragmentation_of(z, labels, k=3), labels)
    config = GenerateConfig(
        samplers=["mvn", "regions", "regions-ellipsoid"],
        n=60,
        real_images=100,
        feature_dims=8,
        study_planes=1,
        study_angles=[0.0],
        gap_steps=4,
        region_images=3,
    )
    out = folder / "samples"
    generate(config, inputs["model"], str(analysis), str(out), progress=QUIET)
    return analysis, out, json.loads((out / "metrics.json").read_text())


def test_regions_samplers_are_measured_like_mvn(generated):
    analysis, out, metrics = generated
    rows = metrics["samplers"]
    f = read(str(analysis)).fragmentation
    for name in ("regions", "regions-ellipsoid"):
        assert set(rows["mvn"]) <= set(rows[name]) | {"covariance_jitter"}
        assert np.isfinite(rows[name]["frechet_distance"])
        assert rows[name]["weights"] == pytest.approx((f.shares / f.shares.sum()).tolist())
        assert sum(rows[name]["drawn_per_region"]) == 60
        assert (out / name / "grid.png").is_file()
    assert rows["regions-ellipsoid"]["level"] == 0.9


def test_regions_images_are_written_and_listed(generated):
    _, out, metrics = generated
    entry = metrics["regions"]
    assert entry["regions"] == 2 and (out / entry["centres"]["png"]).is_file()
    assert [row["region"] for row in entry["nearest"]] == [0, 1]
    assert all(len(row["ids"]) == 3 and (out / row["png"]).is_file() for row in entry["nearest"])
    (gap,) = entry["gaps"]
    assert (gap["a"], gap["b"]) == (0, 1) and gap["steps"] == 4
    assert (out / gap["png"]).is_file() and np.load(out / gap["npy"]).shape == (4, 12)


def test_regions_sampler_without_regions_is_one_line_and_exit_2(inputs, tmp_path, capsys):
    analysis = tmp_path / "analysis"
    shutil.copytree(inputs["analysis"], analysis)
    remove_regions(analysis)
    out = tmp_path / "samples"
    code = main(
        [
            "generate",
            "--model",
            inputs["model"],
            "--analysis",
            str(analysis),
            "--out",
            str(out),
            "--sampler",
            "mvn,regions",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("lsf generate: error: sampler regions needs the analysis's regions")
    assert "rerun `lsf analyze` with analyze.regions: true" in err
    assert not out.exists()
