import json

import numpy as np
import pytest

from lsf.cli import main
from lsf.core.config import GenerateConfig, load_config
from lsf.core.errors import LsfError
from lsf.core.progress import QUIET
from lsf.core.store import open_store
from lsf.generate import generate
from lsf.run import run_pipeline
from lsf.stats.analysis_store import read
from tests.helpers import assert_model_close, latent_like, write_latent_store

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def tiny_workdir(tmp_path_factory, ray_local):
    workdir = tmp_path_factory.mktemp("pipeline") / "work"
    # A file:// URL: every stage must address its inputs and outputs as URLs, not paths.
    url = f"file://{workdir}"
    result = run_pipeline(load_config("tiny"), url, progress=QUIET)
    assert result.ran == ["prepare", "train", "encode", "analyze", "generate", "report"]
    return workdir


def test_tiny_pipeline_writes_every_stage(tiny_workdir):
    assert open_store(str(tiny_workdir / "latents.zarr")).attrs["n_samples"] == 400
    summary = json.loads((tiny_workdir / "analysis" / "summary.json").read_text())
    assert summary["latent_dim"] == 16 and summary["n_samples"] == 400
    metrics = json.loads((tiny_workdir / "samples" / "metrics.json").read_text())["samplers"]
    # the default samplers; regions only where the analysis found regions
    regions = read(str(tiny_workdir / "analysis")).fragmentation is not None
    expected = [s for s in GenerateConfig().samplers if regions or s != "regions"]
    references = {"real", "reconstruction", "interpolation-linear", "interpolation-spherical"}
    assert set(metrics) == references | set(expected)
    for name in expected:
        assert (tiny_workdir / "samples" / name / "grid.png").is_file()
    assert metrics["mvn"]["frechet_distance"] < metrics["uniform-box"]["frechet_distance"]
    assert len(list((tiny_workdir / "samples" / "paths").glob("*.png"))) == 4


def test_a_rerun_skips_completed_stages(tiny_workdir, capsys):
    assert main(["run", "--config", "tiny", "--workdir", str(tiny_workdir), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert (
        "ran nothing, skipped ['prepare', 'train', 'encode', 'analyze', 'generate', 'report']"
        in out
    )


def test_generate_refuses_an_analysis_of_another_latent_dim(tiny_workdir, tmp_path):
    from lsf.analyze import analyze
    from lsf.core.config import AnalyzeConfig

    store = write_latent_store(
        tmp_path / "l.zarr", latent_like(600), 700
    )  # 12 components, the model has 16
    analyze(AnalyzeConfig(), store, str(tmp_path / "a"), progress=QUIET)
    with pytest.raises(LsfError, match="latent dim 12 but the model 16"):
        generate(
            GenerateConfig(),
            str(tiny_workdir / "run" / "model.pt"),
            str(tmp_path / "a"),
            str(tmp_path / "s"),
        )
    assert not (tmp_path / "s").exists()


def test_cli_generate_one_sampler_with_latents(tiny_workdir, tmp_path, capsys):
    out = tmp_path / "s"
    args = [
        "generate",
        "--model",
        str(tiny_workdir / "run" / "model.pt"),
        "--analysis",
        str(tiny_workdir / "analysis"),
        "--out",
        str(out),
        "--sampler",
        "mvn-ellipsoid",
        "--n",
        "100",
        "--level",
        "0.5",
        "--save-latents",
        "--config",
        "tiny",
        "--quiet",
    ]
    assert main(args) == 0
    assert "mvn-ellipsoid" in capsys.readouterr().out
    latents = np.load(out / "mvn-ellipsoid" / "latents.npy")
    assert latents.shape == (100, 16)
    metrics = json.loads((out / "metrics.json").read_text())["samplers"]["mvn-ellipsoid"]
    assert metrics["level"] == 0.5 and 0.3 < metrics["accepted_fraction"] < 0.7


def test_model_size_must_match_the_prepared_size(tmp_path):
    config = load_config("tiny")
    config.model.image_size = 64
    with pytest.raises(
        LsfError, match="model.image_size \\(64\\) must equal prepare.size \\(32\\)"
    ):
        run_pipeline(config, str(tmp_path))


def test_report_html_parses_and_every_image_exists(tiny_workdir):
    from html.parser import HTMLParser

    class Collector(HTMLParser):
        def __init__(self):
            super().__init__()
            self.images, self.open = [], []

        def handle_starttag(self, tag, attrs):
            if tag == "img":
                self.images.append(dict(attrs)["src"])
            elif tag not in ("meta", "br"):
                self.open.append(tag)

        def handle_endtag(self, tag):
            assert self.open.pop() == tag

    report = tiny_workdir / "report"
    parser = Collector()
    parser.feed((report / "index.html").read_text())
    assert parser.open == []
    assert len(parser.images) >= 20
    assert all((report / src).is_file() for src in parser.images)
    text = (report / "index.html").read_text()
    for section in (
        "Training",
        "Component histograms",
        "PCA",
        "Pairs of components",
        "Multivariate normality",
        "which sampler makes faces",
        "Latent paths",
    ):
        assert section in text
    assert "mvn-ellipsoid" in text and "samples_uniform-box.png" in text


def test_cli_report_refuses_missing_samples(tiny_workdir, tmp_path, capsys):
    args = [
        "report",
        "--analysis",
        str(tiny_workdir / "analysis"),
        "--samples",
        str(tmp_path / "none"),
        "--out",
        str(tmp_path / "r"),
    ]
    assert main(args) == 2
    assert "no samples at" in capsys.readouterr().err
    args = [
        "report",
        "--analysis",
        str(tiny_workdir / "analysis"),
        "--out",
        str(tmp_path / "r"),
        "--pairs",
        "0,5",
        "--study-components",
        "3",
        "--quiet",
    ]
    assert main(args) == 0 and (tmp_path / "r" / "index.html").is_file()


def test_generate_and_report_read_and_write_an_object_store(tiny_workdir):
    """memory:// stands in for s3://: inputs are read from it, outputs staged and uploaded."""
    import fsspec

    from lsf.core.config import ReportConfig
    from lsf.report import report

    fs = fsspec.filesystem("memory")
    for name in ("model.pt", "model.json", "metrics.csv"):
        fs.put_file(str(tiny_workdir / "run" / name), f"/bucket/run/{name}")
    fs.put(str(tiny_workdir / "analysis"), "/bucket/analysis", recursive=True)
    config = GenerateConfig(n=100, samplers=["mvn"], real_images=100, feature_dims=8)
    generate(
        config,
        "memory://bucket/run/model.pt",
        "memory://bucket/analysis",
        "memory://bucket/samples",
        progress=QUIET,
    )
    report(
        ReportConfig(),
        "memory://bucket/analysis",
        "memory://bucket/report",
        samples="memory://bucket/samples",
    )
    files = {p.split("/bucket/", 1)[1] for p in fs.find("/bucket")}
    assert {"samples/metrics.json", "samples/mvn/grid.png", "report/index.html"} <= files
    assert "report/samples_mvn.png" in files
    assert not [f for f in files if ".tmp-" in f or ".old-" in f]
    page = fs.cat_file("/bucket/report/index.html").decode()
    assert "samples_mvn.png" in page
    fs.rm("/bucket", recursive=True)


def test_train_checkpoints_go_through_the_url_file_system():
    import pyarrow.fs

    from lsf.train import _storage

    path, filesystem = _storage("memory://bucket/run")
    assert path == "/bucket/run/ray" and isinstance(filesystem, pyarrow.fs.PyFileSystem)
    path, filesystem = _storage("file:///tmp/x/run")
    assert path == "/tmp/x/run/ray" and filesystem is None


def test_path_metadata_travels_in_metrics_json_and_the_report_reads_it(tiny_workdir):
    metrics = json.loads((tiny_workdir / "samples" / "metrics.json").read_text())
    config = metrics["config"]
    paths = {p["kind"]: p for p in metrics["paths"]}
    assert set(paths) == {"origin_to_centre", "plane", "pca_axis", "interpolate"}
    plane = paths["plane"]
    assert plane["components"] == config["plane"][:2] and plane["angle_deg"] == config["angle"]
    assert paths["pca_axis"]["pca_axis"] == config["pca_axis"]
    assert paths["interpolate"]["ids"] == config["interpolate"][:2]
    for path in metrics["paths"]:
        points = np.load(tiny_workdir / "samples" / "paths" / path["npy"])
        assert (tiny_workdir / "samples" / "paths" / path["png"]).is_file()
        assert len(path["squared_mahalanobis"]) == path["steps"] == len(points)
    assert paths["origin_to_centre"]["squared_mahalanobis"][-1] == pytest.approx(0.0, abs=1e-3)
    page = (tiny_workdir / "report" / "index.html").read_text()
    i, j = plane["components"]
    assert f"plane of z{i}, z{j} at {plane['angle_deg']:g} degrees" in page


def test_interpolation_starts_at_the_first_named_image_and_refuses_missing_ids(
    tiny_workdir, tmp_path
):
    config = GenerateConfig(
        n=20, samplers=["mvn"], real_images=100, feature_dims=8, interpolate=[3, 1]
    )
    model, analysis = str(tiny_workdir / "run" / "model.pt"), str(tiny_workdir / "analysis")
    generate(config, model, analysis, str(tmp_path / "s"), progress=QUIET)
    points = np.load(tmp_path / "s" / "paths" / "interpolate_3_1.npy")
    z = open_store(str(tiny_workdir / "latents.zarr"))["z"]
    assert_model_close(points[0], z[3])
    assert_model_close(points[-1], z[1])
    config.interpolate = [1, 10**9]
    with pytest.raises(LsfError, match="are not both in"):
        generate(config, model, analysis, str(tmp_path / "s2"), progress=QUIET)
    assert not (tmp_path / "s2").exists()


def test_the_study_preset_runs_end_to_end_on_the_tiny_pipeline(tiny_workdir, tmp_path):
    """`preset: study` over the tiny config: `lsf run` reuses the finished shards, model and
    store, then analyses the training split the study's way, generates and reports."""
    import shutil

    import pyarrow.parquet as pq
    import yaml

    from lsf.core.config import BUILTIN_CONFIGS, config_from_mapping

    workdir = tmp_path / "work"
    for stage in ("shards", "run", "latents.zarr"):
        shutil.copytree(tiny_workdir / stage, workdir / stage)
    data = yaml.safe_load((BUILTIN_CONFIGS / "tiny.yaml").read_text())
    result = run_pipeline(
        config_from_mapping({"preset": "study", **data}), str(workdir), progress=QUIET
    )
    assert result.ran == ["analyze", "generate", "report"]

    summary = json.loads((workdir / "analysis" / "summary.json").read_text())
    splits = np.concatenate(
        [
            pq.read_table(path, columns=["split"])["split"].to_numpy()
            for path in sorted((workdir / "shards").glob("*.parquet"))
        ]
    )
    assert summary["rows"]["split"] == "train"
    assert summary["rows"]["selected"] == int((splits == 0).sum()) < summary["n_samples"]
    assert summary["config"]["trim_fact"] == 1.7 and summary["config"]["bin_width"] == 0.25
    assert "fact 1.7 survivors" in summary["pca"]["basis"]
    claims = {row["claim"] for row in summary["study_comparison"]}
    assert len(claims) >= 10
    html = (workdir / "report" / "index.html").read_text()
    assert "Study vs this run" in html and "Outlier gallery" in html
    assert (workdir / "samples" / "faces" / "origin_centre.png").is_file()
