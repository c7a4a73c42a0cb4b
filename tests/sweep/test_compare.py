"""`lsf compare`: variants from axes, the core alignment angle against numpy, seed spread,
and a tiny sweep end to end on Ray Tune (a killed trial restarted, a failing variant
reported, a rerun that skips the finished variants); SELU in the model."""

import json
import math
import os
import signal

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import yaml
import zarr

from lsf.cli import main
from lsf.compare import TRIALS_RECORD, compare, load_sweep
from lsf.core.config import ModelConfig, as_dict, load_config
from lsf.core.errors import LsfError
from lsf.core.progress import QUIET
from lsf.nn.model import Autoencoder
from lsf.stats.core_alignment import core_alignment_angle, principal_axis_angle
from lsf.sweep.table import ALIGNMENT_COMPONENTS, seed_groups
from lsf.sweep.variants import expand_variants, sweep_from_mapping
from tests.helpers import Background, wait_for

# ---- the core alignment angle ---------------------------------------------------------------


def _rotation(degrees: float) -> np.ndarray:
    a = math.radians(degrees)
    return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])


def _numpy_core_angle(points, centre, cov2) -> float:
    """Reference: the covariance of the raw points inside the 1-sigma ellipse, `eigh`."""
    d = points - centre
    inside = d[np.einsum("ij,jk,ik->i", d, np.linalg.inv(cov2), d) <= 1.0]
    values, vectors = np.linalg.eigh(np.cov(inside.T))
    angle = math.degrees(math.atan2(vectors[1, 1], vectors[0, 1])) % 180
    return min(angle, 180 - angle)


@pytest.mark.parametrize("rotation, expected", [(25.0, 25.0), (-30.0, 30.0), (120.0, 60.0)])
def test_core_alignment_angle_of_a_rotated_normal_is_its_rotation(rotation, expected):
    rng = np.random.default_rng(1)
    r = _rotation(rotation)
    cov = r @ np.diag([4.0, 1.0]) @ r.T
    points = rng.multivariate_normal([0.5, -0.2], cov, size=200_000)
    edges = np.linspace(-8, 8, 129)
    counts, xe, ye = np.histogram2d(points[:, 0], points[:, 1], bins=[edges, edges])
    # A circular core around the centre: the restricted normal keeps the rotated axes.
    disc = np.eye(2) * 1.5**2
    angle = core_alignment_angle(counts, xe, ye, (0.5, -0.2), disc)
    assert angle == pytest.approx(expected, abs=1.5)
    assert angle == pytest.approx(_numpy_core_angle(points, np.array([0.5, -0.2]), disc), abs=1.5)


def test_core_alignment_angle_is_zero_for_a_normal_in_its_pca_axes():
    rng = np.random.default_rng(2)
    variances = np.array([3.0, 1.0])
    points = rng.normal(size=(200_000, 2)) * np.sqrt(variances)
    edges = np.linspace(-7, 7, 65)
    counts, xe, ye = np.histogram2d(points[:, 0], points[:, 1], bins=[edges, edges])
    angle = core_alignment_angle(counts, xe, ye, (0.0, 0.0), np.diag(variances))
    assert angle < 1.5
    assert angle == pytest.approx(
        _numpy_core_angle(points, np.zeros(2), np.diag(variances)), abs=1.0
    )


def test_core_alignment_angle_is_nan_without_a_principal_axis():
    assert math.isnan(principal_axis_angle(np.eye(2)))
    assert principal_axis_angle(np.array([[1.0, 0.0], [0.0, 2.0]])) == pytest.approx(90.0)
    empty = np.zeros((8, 8))
    edges = np.linspace(-1, 1, 9)
    assert math.isnan(core_alignment_angle(empty, edges, edges, (0, 0), np.eye(2)))


# ---- sweeps and variants --------------------------------------------------------------------


def test_axes_expand_to_named_variants_grouped_by_seed():
    sweep = sweep_from_mapping(
        {
            "base": "tiny",
            "pipeline": {"train": {"epochs": 2}},
            "axes": {"model.batch_norm": [False, True], "train.seed": [0, 1, 2]},
        },
        load_config("tiny"),
        "tiny",
    )
    names = [v.name for v in sweep.variants]
    assert names[:3] == [
        "batch_norm=false,seed=0",
        "batch_norm=false,seed=1",
        "batch_norm=false,seed=2",
    ]
    assert len(names) == 6 and len(set(names)) == 6
    assert {v.group for v in sweep.variants} == {"batch_norm=false", "batch_norm=true"}
    last = sweep.variants[-1]
    assert last.config.model.batch_norm is True and last.config.train.seed == 2
    assert last.config.train.epochs == 2 and last.config.prepare.n == 400  # pipeline + base
    assert sweep.trials.max_concurrent == 2 and sweep.trials.report is False


def test_axis_names_are_qualified_when_two_sections_share_a_key():
    settings = as_dict(load_config("tiny"))
    variants = expand_variants(settings, {"train.seed": [0, 1], "analyze.seed": [3]})
    assert [v.name for v in variants] == [
        "train.seed=0,analyze.seed=3",
        "train.seed=1,analyze.seed=3",
    ]
    assert variants[0].group == variants[1].group == "analyze.seed=3"
    assert [v.config.train.seed for v in variants] == [0, 1]
    assert variants[1].config.analyze.seed == 3


@pytest.mark.parametrize(
    "data, message",
    [
        ({"axes": {}}, "axes` must map settings"),
        ({"axes": {"prepare.n": [100, 200]}}, "prepare.n cannot vary"),
        ({"axes": {"model.depth": [1]}}, "'model.depth' is not a setting"),
        ({"axes": {"model.latent_dim": [8, 0]}}, r"axis model.latent_dim\[1\]: config: model"),
        ({"axes": {"model.latent_dim": [8, 8]}}, "lists a value twice"),
        ({"axes": {"model.activation": ["tanh"]}}, "must be one of leaky_relu, relu, elu, selu"),
        ({"axes": {"train.seed": [0]}, "trials": {"cpu": 1}}, "unknown key trials.cpu"),
        ({"axes": {"train.seed": [0]}, "pipeline": {"train": {"epoch": 1}}}, "unknown key"),
        ({"axes": {"train.seed": [0]}, "colour": 1}, "unknown key colour"),
        ({"axes": {"model.image_size": [64]}}, "must equal prepare.size"),
    ],
)
def test_bad_sweeps_are_refused_with_the_key_named(data, message):
    with pytest.raises(LsfError, match=message):
        sweep_from_mapping({"base": "tiny", **data}, load_config("tiny"), "tiny")


def test_built_in_sweeps_load_and_pipeline_configs_refuse_them(capsys):
    assert len(load_sweep("synthetic-bn").variants) == 6
    celeba = load_sweep("celeba-bn")
    assert len(celeba.variants) == 12 and len({v.group for v in celeba.variants}) == 4
    assert {v.config.model.activation for v in celeba.variants} == {"leaky_relu", "selu"}
    assert main(["run", "--config", "synthetic-bn", "--workdir", "unused"]) == 2
    assert "this is a sweep file" in capsys.readouterr().err


def test_sweep_base_is_read_relative_to_the_sweep_file(tmp_path, capsys):
    (tmp_path / "base.yaml").write_text("model: {latent_dim: 12}\n")
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text("base: base.yaml\naxes: {train.seed: [0, 1]}\n")
    sweep = load_sweep(sweep_file)
    assert [v.config.model.latent_dim for v in sweep.variants] == [12, 12]
    assert main(["compare", "--config", str(tmp_path / "none.yaml"), "--workdir", "w"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"lsf compare: error: sweep file not found: {tmp_path / 'none.yaml'} "
        "(built-in sweeps: celeba-bn, synthetic-bn)"
    ]
    sweep_file.write_text("base: base.yaml\naxes: {model.latent_dim: [1]}\n")
    assert main(["compare", "--config", str(sweep_file), "--workdir", str(tmp_path / "w")]) == 2
    assert "must be >= 2, got 1" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


# ---- seed spread ----------------------------------------------------------------------------


def test_seed_groups_give_mean_and_sample_std_of_the_finished_variants():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(3, 2))
    rows = [
        {"variant": f"bn=false,seed={k}", "group": "bn=false", "status": "ok", "a": v[0], "b": v[1]}
        for k, v in enumerate(values)
    ]
    rows.append({"variant": "bn=false,seed=3", "group": "bn=false", "status": "failed"})
    rows.append({"variant": "bn=true,seed=0", "group": "bn=true", "status": "ok", "a": 1.0})
    first, second = seed_groups(rows, ["a", "b"])
    assert first["n"] == 3 and len(first["variants"]) == 4
    assert first["mean"]["a"] == pytest.approx(np.mean(values[:, 0]), rel=1e-12)
    assert first["std"]["b"] == pytest.approx(np.std(values[:, 1], ddof=1), rel=1e-12)
    assert second == {
        "group": "bn=true",
        "variants": ["bn=true,seed=0"],
        "n": 1,
        "mean": {"a": 1.0, "b": None},
        "std": {"a": None, "b": None},
    }


# ---- SELU -----------------------------------------------------------------------------------


def test_selu_is_an_activation_of_the_model():
    model = Autoencoder(ModelConfig(image_size=32, widths=[8, 16], latent_dim=6, activation="selu"))
    assert any(isinstance(m, torch.nn.SELU) for m in model.modules())
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 3, 32, 32)


# ---- a tiny sweep end to end ----------------------------------------------------------------

TINY_SWEEP = {
    "base": "tiny",
    "pipeline": {
        "prepare": {"n": 240, "rows_per_shard": 120},
        "train": {"epochs": 1, "batch_size": 60},
        "encode": {"rows_per_chunk": 120, "actors": 1},
        "generate": {
            "samplers": ["mvn", "independent-normal"],
            "n": 60,
            "real_images": 60,
            "grid": 16,
        },
    },
    # The third variant cannot be built for 32 px images (6 halvings): it fails in train.
    "axes": {"model.widths": [[8, 16, 32], [8, 16, 16], [8, 8, 8, 8, 8, 8]]},
    "trials": {"cpus": 0.25, "max_concurrent": 3, "max_failures": 1},
}
KILLED, OTHER, FAILING = "widths=8-16-32", "widths=8-16-16", "widths=8-8-8-8-8-8"


@pytest.fixture(scope="module")
def swept(tmp_path_factory, ray_local):
    """The tiny sweep, run once; the trial of KILLED is killed (SIGKILL) after its training,
    and Tune restarts it."""
    root = tmp_path_factory.mktemp("compare")
    sweep_file = root / "sweep.yaml"
    sweep_file.write_text(yaml.safe_dump(TINY_SWEEP))
    workdir = root / "work"
    job = Background(lambda: compare(load_sweep(sweep_file), str(workdir), progress=QUIET))
    job.start()
    folder = workdir / "variants" / KILLED
    wait_for(lambda: (folder / "run" / "model.json").is_file(), 900, "the first training")
    assert not (folder / "samples" / "metrics.json").exists(), "finished before the kill"
    trial = json.loads((folder / TRIALS_RECORD).read_text())[-1]
    os.kill(trial["pid"], signal.SIGKILL)
    summary = job.outcome(900)
    return sweep_file, workdir, summary


@pytest.mark.timeout(1800)
def test_a_killed_trial_is_restarted_and_a_failing_variant_is_reported(swept):
    _, workdir, summary = swept
    assert sorted(summary.ran) == sorted([KILLED, OTHER, FAILING])
    assert list(summary.failed) == [FAILING]
    assert "image_size 32 must be divisible by 2**6" in summary.failed[FAILING]
    table = pq.read_table(workdir / "compare" / "compare.parquet").to_pylist()
    rows = {r["variant"]: r for r in table}
    assert rows[KILLED]["status"] == "ok" and rows[KILLED]["trial_starts"] == 2
    assert rows[OTHER]["status"] == "ok" and rows[OTHER]["trial_starts"] == 1
    assert rows[FAILING]["status"] == "failed" and rows[FAILING]["trial_starts"] == 1
    assert rows[FAILING]["error"] == summary.failed[FAILING]
    page = (workdir / "compare" / "index.html").read_text()
    assert "Failed variants" in page and "divisible by 2**6" in page
    for figure in ("explained_variance", "mahalanobis_qq", "worst_pairs", "mvn_grids"):
        assert (workdir / "compare" / f"{figure}.png").is_file()
    # Both finished variants share the one set of shards.
    assert not (workdir / "variants" / OTHER / "shards").exists()


def _core_angles_from_latents(variant) -> float:
    """Reference for the core alignment column: project the latents with the stored PCA,
    `np.histogram2d` on the stored edges, the angle of each pair, the median."""
    group = zarr.open_group(str(variant / "analysis" / "analysis.zarr"), mode="r")
    z = zarr.open_group(str(variant / "latents.zarr"), mode="r")["z"][:].astype(np.float64)
    scores = (z - group["pca_mean"][:]) @ group["pca_components"][:].T
    edges, variance = group["pca_pair_edges"][:], group["explained_variance"][:]
    angles = []
    for i, j in group["pca_pairs"][:]:
        if i < ALIGNMENT_COMPONENTS and j < ALIGNMENT_COMPONENTS:
            counts, _, _ = np.histogram2d(scores[:, i], scores[:, j], bins=[edges[i], edges[j]])
            cov2 = np.diag(variance[[i, j]])
            angles.append(core_alignment_angle(counts, edges[i], edges[j], (0, 0), cov2))
    return float(np.nanmedian(angles))


@pytest.mark.timeout(1800)
def test_the_table_equals_each_variants_own_outputs(swept):
    _, workdir, _ = swept
    table = {
        r["variant"]: r for r in pq.read_table(workdir / "compare" / "compare.parquet").to_pylist()
    }
    document = json.loads((workdir / "compare" / "compare.json").read_text())
    assert [r["variant"] for r in document["variants"]] == [KILLED, OTHER, FAILING]
    for name in (KILLED, OTHER):
        row, variant = table[name], workdir / "variants" / name
        summary = json.loads((variant / "analysis" / "summary.json").read_text())
        metrics = json.loads((variant / "samples" / "metrics.json").read_text())["samplers"]
        history = (variant / "run" / "metrics.csv").read_text().split()
        pairs = pq.read_table(variant / "analysis" / "pairs.parquet").to_pydict()
        group = zarr.open_group(str(variant / "analysis" / "analysis.zarr"), mode="r")
        normality = summary["normality"]
        expected = {
            "latent_dim": 16,
            "reconstruction_loss": float(history[-1].split(",")[2]),
            "pca_components_80": summary["pca"]["components_for"]["0.8"],
            "pca_components_90": summary["pca"]["components_for"]["0.9"],
            "max_abs_correlation": summary["max_abs_correlation"],
            "dominant_components": len(summary["fits"]["dominant_components"]),
            "gaussian_fit_residual": np.median(group["fit_residual"][:][group["fit_ok"][:]]),
            "mardia_skewness": normality["mardia"]["skewness"],
            "mardia_kurtosis": normality["mardia"]["kurtosis"],
            "mardia_kurtosis_z": normality["mardia"]["kurtosis_z"],
            "chi2_coverage_0.5": normality["coverage"]["0.5"]["observed"],
            "chi2_coverage_0.9": normality["coverage"]["0.9"]["observed"],
            **{
                f"{prefix}pair_score_median": np.nanmedian(
                    [
                        s
                        for c, s in zip(pairs["coordinates"], pairs["score"], strict=True)
                        if c == system
                    ]
                )
                for prefix, system in (("", "original"), ("pca_", "pca"))
            },
        }
        for sampler in ("real", "reconstruction", "mvn", "independent-normal"):
            expected[f"fd.{sampler}"] = metrics[sampler]["frechet_distance"]
            expected[f"precision.{sampler}"] = metrics[sampler]["precision"]
            expected[f"recall.{sampler}"] = metrics[sampler]["recall"]
        for column, value in expected.items():
            assert row[column] == pytest.approx(value, rel=1e-12), (name, column)
        assert row["core_alignment_deg"] == pytest.approx(
            _core_angles_from_latents(variant), abs=0.5
        )
        in_json = next(r for r in document["variants"] if r["variant"] == name)
        assert {c: in_json[c] for c in expected} == {c: row[c] for c in expected}
    assert all(table[FAILING][c] is None for c in ("pca_components_80", "fd.mvn"))


@pytest.mark.timeout(1800)
def test_a_rerun_skips_finished_variants_and_retries_the_failed_one(swept, capsys):
    sweep_file, workdir, _ = swept
    finished = workdir / "variants" / OTHER / "run" / "model.json"
    before = finished.stat().st_mtime_ns
    first = pq.read_table(workdir / "compare" / "compare.parquet").to_pylist()
    code = main(["compare", "--config", str(sweep_file), "--workdir", str(workdir), "--quiet"])
    assert code == 1
    captured = capsys.readouterr()
    assert "ran 1, skipped 2 (complete), failed 1" in captured.out
    assert "lsf compare: 1 of 3 variants failed" in captured.err
    second = {
        r["variant"]: r for r in pq.read_table(workdir / "compare" / "compare.parquet").to_pylist()
    }
    assert second[KILLED]["trial_starts"] == second[OTHER]["trial_starts"] == 0
    assert second[FAILING]["trial_starts"] == 1
    for row in first:
        if row["status"] == "ok":
            del row["trial_starts"], second[row["variant"]]["trial_starts"]
            assert second[row["variant"]] == row
    assert finished.stat().st_mtime_ns == before
