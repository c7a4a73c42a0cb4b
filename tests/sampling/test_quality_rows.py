"""The table rows (lsf.sampling.evaluation, table, pages.sampler_sections) on generated data:
seeded draws reproduce, noise-floor sets stay outside the reference, intervals summarise the
draws as scipy does, significance marks follow the intervals, and the report section shows
them."""

import json

import numpy as np
import pytest
from scipy import stats

from lsf.sampling.evaluation import (
    RealImages,
    build_evaluator,
    floor_set,
    interpolation_pairs,
    read_real_images,
    split_ids,
    summarise,
)
from lsf.sampling.metrics import PixelPCAFeatures
from lsf.sampling.table import COLUMNS, best_rows, format_table, table_rows


def _images(rng, n, shift=0.0):
    base = rng.normal(120 + shift, 30, (n, 6, 6, 3))
    return np.clip(base, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def real():
    rng = np.random.default_rng(0)
    training = _images(rng, 400)
    return RealImages(
        reference=training[:100],
        training=training,
        training_ids=np.arange(400) + 1000,
        held_out=_images(rng, 60),
        held_out_ids=np.arange(60) + 5000,
    )


def test_floor_sets_take_held_out_images_first_and_never_the_reference(real):
    images, held_out = floor_set(real, 100, seed=3)
    assert held_out.sum() == 60 and held_out[:60].all()
    reference = {im.tobytes() for im in real.reference}
    assert not reference & {im.tobytes() for im in images}
    held = {im.tobytes() for im in real.held_out}
    assert {im.tobytes() for im in images[:60]} == held
    again, _ = floor_set(real, 100, seed=3)
    assert np.array_equal(images, again)
    assert not np.array_equal(images, floor_set(real, 100, seed=4)[0])


def test_interpolation_pairs_join_distinct_rows_and_follow_the_seed():
    a, b = interpolation_pairs(5000, 7, seed=1)
    assert (a != b).all() and a.max() < 7 and b.max() < 7 and set(a) == set(range(7))
    assert np.array_equal(a, interpolation_pairs(5000, 7, seed=1)[0])


def test_summarise_gives_the_mean_and_scipys_t_interval_of_each_metric():
    draws = [
        {"kid": 0.1, "precision": 0.8},
        {"kid": 0.3, "precision": 0.7},
        {"kid": 0.2, "precision": 0.9},
    ]
    row = summarise(draws)
    assert row["draws"] == 3 and row["kid"] == pytest.approx(0.2, rel=1e-12)
    low, high = stats.t.interval(0.95, 2, loc=0.8, scale=stats.sem([0.8, 0.7, 0.9]))
    assert row["intervals"]["precision"] == pytest.approx([low, high], rel=1e-9)
    assert summarise(draws[:1])["intervals"]["kid"] == [None, None]


def test_evaluator_measures_a_draw_reproducibly_and_flags_copies(real):
    features = PixelPCAFeatures.fit(real.reference, 8)

    def d2(images):
        return np.full(len(images), 4.0)

    evaluator = build_evaluator(features, real, d2, dof=4, knn=3)
    copies, _ = evaluator.measure(real.training[200:300])
    fresh, nearest = evaluator.measure(_images(np.random.default_rng(9), 100))
    assert copies["memorised_share"] == 1.0 and 0.2 < fresh["memorised_share"] < 0.8
    assert fresh == evaluator.measure(_images(np.random.default_rng(9), 100))[0]
    assert fresh["reencoded_d2_per_dof_median"] == 1.0 and len(nearest.distances) == 100
    shifted, _ = evaluator.measure(_images(np.random.default_rng(9), 100, shift=60))
    assert shifted["frechet_distance"] > fresh["frechet_distance"]
    assert shifted["kid"] > fresh["kid"] and shifted["coverage"] < fresh["coverage"]
    assert set(fresh) >= {c.key for c in COLUMNS}


def _row(value, half, **info):
    return {
        "frechet_distance": value,
        "kid": value / 100,
        "precision": 0.5,
        "recall": 0.5,
        "density": 1.0,
        "coverage": 0.5,
        "reencoded_d2_per_dof_median": 1.0,
        "intervals": {"frechet_distance": [value - half, value + half]},
        **info,
    }


def test_best_rows_hold_the_best_sampler_and_those_whose_intervals_overlap_it():
    samplers = {
        "mvn": _row(12.4, 0.5),
        "gmm": _row(9.3, 0.4, components=7, components_by="bic"),
        "real": _row(3.0, 0.2),
        "mvn-ellipsoid": _row(9.9, 0.4),
        "uniform-box": _row(300.0, 5.0),
    }
    rows = table_rows(samplers)
    assert [r.name for r in rows] == ["real", "uniform-box", "mvn", "gmm", "mvn-ellipsoid"]
    assert best_rows(rows, COLUMNS[0]) == {"gmm", "mvn-ellipsoid"}  # real is a reference row
    assert best_rows(rows, COLUMNS[1]) == {"gmm"}  # no KID intervals: only the best
    lines = format_table(samplers)
    assert lines[0].split()[:3] == ["sampler", "FD", "KID"]
    gmm = next(line for line in lines if line.startswith("gmm (7, BIC)"))
    assert "9.30±0.40*" in gmm
    assert "12.40±0.50 " in next(line for line in lines if line.startswith("mvn "))


def test_rows_of_an_older_samples_folder_read_without_intervals():
    old = {
        "frechet_distance": 5.0,
        "precision": 0.9,
        "recall": 0.8,
        "reencoded_d2_per_dof_median": 1.1,
    }
    (row,) = table_rows({"mvn": old})
    assert row.values["frechet_distance"].low is None and "kid" not in row.values
    assert format_table({"mvn": old})[2].split()[:3] == ["mvn", "5.00*", "-"]


def test_report_section_marks_significant_differences(tmp_path):
    from lsf.pages.page import Page
    from lsf.pages.sampler_sections import samplers

    metrics = {
        "feature_space": "pixel PCA, 8 dims",
        "real_images": 100,
        "evaluation": {"reference_images": 100, "repeats": 3, "generated_per_draw": 100},
        "samplers": {"mvn": _row(12.4, 0.5), "gmm": _row(9.3, 0.4), "real": _row(3.0, 0.2)},
    }
    page = Page(tmp_path)
    samplers(page, tmp_path, json.loads(json.dumps(metrics)))
    text = "\n".join(page.parts)
    assert "<td><b>9.30±0.40</b></td>" in text and "<td>12.40±0.50</td>" in text
    assert "<tr><th>gmm</th><td>&lt;</td><td></td></tr>" in text  # gmm significantly lower


def test_real_images_come_from_the_splits_of_the_shards(tmp_path):
    from lsf.data.shards import images_to_table, shard_name, write_table

    n = 60
    folder = tmp_path / "shards"
    folder.mkdir()
    images = np.stack([np.full((4, 4, 3), k, dtype=np.uint8) for k in range(n)])
    splits = np.where(np.arange(n) % 5 == 0, 1, 0)
    table = images_to_table(np.arange(n), [str(k) for k in range(n)], splits, images)
    write_table(table, str(folder / shard_name(0)))
    manifest = {
        "n": n,
        "image_shape": [4, 4, 3],
        "shards": [{"file": shard_name(0), "rows": n, "first_id": 0}],
        "fingerprint": "test",
        "splits": {"train": 48, "validation": 12},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    train, held = split_ids(str(folder))
    assert held.tolist() == list(range(0, n, 5)) and len(train) == 48
    real = read_real_images(str(folder), 30, 40, 10, seed=0)
    assert len(real.reference) == 24  # at most half the training images
    assert np.array_equal(real.reference, real.training[:24])
    assert {int(im[0, 0, 0]) for im in real.training} <= set(train.tolist())
    assert [int(im[0, 0, 0]) for im in real.held_out] == real.held_out_ids.tolist()
    assert set(real.held_out_ids.tolist()) <= set(held.tolist()) and len(real.held_out) == 10


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    """`lsf generate` end to end on 400 synthetic faces, 80 of them held out (a validation
    split the tiny model never trained on): the table over R = 3 draws, then one sampler
    again with the same seed."""
    from lsf.analyze import analyze
    from lsf.core.config import AnalyzeConfig, GenerateConfig
    from lsf.core.progress import QUIET
    from lsf.data.synthetic import synthetic_faces
    from lsf.generate import generate
    from lsf.nn.model import load_model
    from lsf.sampling.decode import encode_images
    from tests.explore_inputs import train_tiny_model, write_shards, write_store

    base = tmp_path_factory.mktemp("table_run")
    images = synthetic_faces(0, 400, seed=1, size=32)
    splits = (np.arange(400) % 5 == 4).astype(np.int8)  # every fifth image held out
    shards = write_shards(base / "shards", images, splits=splits)
    model_path = train_tiny_model(images[splits == 0], base / "run")
    model, _ = load_model(model_path)
    latents = write_store(base / "latents.zarr", encode_images(model, images), shards)
    analysis = str(base / "analysis")
    analyze(AnalyzeConfig(bins=24, pair_bins=16), latents, analysis, progress=QUIET)
    options = dict(
        n=60,
        real_images=60,
        holdout_images=80,
        memorisation_images=200,
        memorised_pairs=4,
        repeats=3,
        feature_dims=8,
        study_planes=1,
        study_angles=[0.0],
        gallery=False,
        region_images=0,
        gap_paths=0,
    )
    samplers = ["uniform-box", "mvn", "gmm", "gmm:2", "n01"]
    config = GenerateConfig(samplers=samplers, **options)
    summary = generate(config, model_path, analysis, str(base / "samples"), progress=QUIET)
    again = GenerateConfig(samplers=["mvn"], **options)
    generate(again, model_path, analysis, str(base / "again"), progress=QUIET)
    read = lambda name: json.loads((base / name / "metrics.json").read_text())  # noqa: E731
    return base, summary, read("samples"), read("again"), splits


def test_generate_writes_every_row_with_intervals_over_r_draws(table_run):
    base, _, metrics, _, _ = table_run
    rows = metrics["samplers"]
    assert [r.name for r in table_rows(rows)] == [
        "real",
        "reconstruction",
        "interpolation-linear",
        "interpolation-spherical",
        "n01",
        "uniform-box",
        "mvn",
        "gmm",
        "gmm:2",
    ]
    facts = metrics["evaluation"]
    assert (facts["reference_images"], facts["repeats"], facts["generated_per_draw"]) == (60, 3, 60)
    assert facts["held_out_images"] == 80
    for name, row in rows.items():
        assert row["draws"] == 3
        for column in COLUMNS:
            low, high = row["intervals"][column.key]
            assert low <= row[column.key] <= high, (name, column.key)
    # the noise floor: sets of held-out images only (80 >= N), never the reference
    assert rows["real"]["held_out_per_set"] == rows["real"]["set_size"] == 60
    assert rows["real"]["frechet_distance"] < rows["mvn"]["frechet_distance"]
    n01, mvn = (table_rows({k: rows[k]})[0].values["frechet_distance"] for k in ("n01", "mvn"))
    assert n01.value > mvn.value and n01.apart_from(mvn)  # the floor is significantly worse


def test_gmm_states_its_bic_choice_and_gmm_k_keeps_k(table_run):
    _, _, metrics, _, _ = table_run
    gmm, fixed = metrics["samplers"]["gmm"], metrics["samplers"]["gmm:2"]
    assert gmm["components_by"] == "bic" and gmm["components"] == gmm["bic_components"]
    assert gmm["gmm_max_components"] == metrics["config"]["gmm_max_components"] == 10
    assert gmm["bic_components"] == int(np.nanargmin(np.array(gmm["bic"], dtype=float))) + 1
    assert fixed["components_by"] == "fixed" and fixed["components"] == 2


def test_memorised_pairs_are_training_images_and_reach_the_report(table_run, tmp_path):
    from lsf.pages.page import Page
    from lsf.pages.sampler_sections import samplers

    base, _, metrics, _, splits = table_run
    for name in ("mvn", "gmm", "n01"):
        pairs = metrics["samplers"][name]["memorised_pairs"]
        assert (base / "samples" / name / pairs["png"]).is_file()
        assert len(pairs["training_ids"]) == 4 and not splits[pairs["training_ids"]].any()
        assert pairs["distances"] == sorted(pairs["distances"])
        assert 0.0 <= metrics["samplers"][name]["memorised_share"] <= 1.0
    page = Page(tmp_path)
    samplers(page, base / "samples", metrics)
    assert (tmp_path / "memorised_gmm.png").is_file()
    assert "closest to a training image" in "\n".join(page.parts)


def test_the_terminal_summary_is_the_table_with_n_and_r(table_run):
    _, summary, _, _, _ = table_run
    text = str(summary)
    assert "gmm (" in text and ", BIC)" in text and "gmm:2 (2, fixed)" in text
    assert "N = 60 real reference images" in text and "R = 3 fresh seeded draws" in text


def test_the_same_seed_reproduces_every_row_it_draws(table_run):
    _, _, metrics, again, _ = table_run
    for name in ("real", "reconstruction", "interpolation-linear", "interpolation-spherical"):
        assert again["samplers"][name] == metrics["samplers"][name], name
    assert again["samplers"]["mvn"] == metrics["samplers"]["mvn"]


def test_draws_and_references_too_small_for_the_knn_metrics_are_one_line(real, tmp_path, capsys):
    from lsf.cli import main
    from lsf.core.errors import LsfError
    from lsf.sampling.evaluation import check_draw_size

    check_draw_size(4, 3)
    with pytest.raises(LsfError, match="more than knn = 3 images per draw; give --n 4"):
        check_draw_size(3, 3)
    with pytest.raises(LsfError, match="reference holds 100 real images: too few"):
        build_evaluator(PixelPCAFeatures.fit(real.reference, 4), real, len, dof=4, knn=100)
    args = ["generate", "--model", "m.pt", "--analysis", "a", "--out", str(tmp_path / "s")]
    assert main([*args, "--n", "2"]) == 2
    err = capsys.readouterr().err
    assert "give --n 4" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
