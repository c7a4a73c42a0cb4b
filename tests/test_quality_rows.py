"""The table rows (lsf.sampling.evaluation, table, plots.sampler_sections) on generated data:
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
    from lsf.plots.sampler_sections import samplers
    from lsf.report import _Page

    metrics = {
        "feature_space": "pixel PCA, 8 dims",
        "real_images": 100,
        "evaluation": {"reference_images": 100, "repeats": 3, "generated_per_draw": 100},
        "samplers": {"mvn": _row(12.4, 0.5), "gmm": _row(9.3, 0.4), "real": _row(3.0, 0.2)},
    }
    page = _Page(tmp_path)
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
