"""The Fragmentation section of `lsf report` and the analysis's warnings at the top: the
projection of the region map against scikit-learn's LDA, and the numbers each figure draws
(recorded by wrapping the figure functions) against the analysis they were read from."""

import json
import re
import shutil

import numpy as np
import pytest
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

import lsf.pages.fragmentation_sections as sections
from lsf.analyze import analyze
from lsf.core.config import AnalyzeConfig, GenerateConfig, ModelConfig, ReportConfig
from lsf.core.progress import QUIET
from lsf.pages.numbers import number
from lsf.plots.fragmentation import discriminant_directions, map_directions
from lsf.report import report
from lsf.sampling.region_images import write_region_images
from lsf.stats.analysis_store import read
from tests.explore_inputs import write_shards
from tests.helpers import write_latent_store
from tests.regions_inputs import add_regions, fragmentation_of, remove_regions, separated_normals

pytestmark = pytest.mark.timeout(300)
D = 6


def aligned(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`a` with each column's sign flipped to agree with `b`'s."""
    return a * np.sign(np.sum(a * b, axis=0))


@pytest.mark.parametrize("regions", [3, 4])
def test_discriminant_directions_are_sklearns_lda_scalings(regions):
    z, labels = separated_normals(3000, 5, regions, distance=3.0, seed=regions)
    labels = labels.copy()
    labels[:40] = -1  # outside every region: left out of the fit
    directions, ratios = discriminant_directions(z, labels)
    keep = labels >= 0
    lda = LinearDiscriminantAnalysis(solver="eigen").fit(z[keep].astype(np.float64), labels[keep])
    expected = lda.scalings_[:, : regions - 1]
    assert directions.shape == (5, regions - 1)
    np.testing.assert_allclose(aligned(directions, expected), expected, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(ratios, lda.explained_variance_ratio_, rtol=1e-7)
    projected = z[keep].astype(np.float64) @ directions
    np.testing.assert_allclose(
        np.abs(projected), np.abs(lda.transform(z[keep].astype(np.float64))), rtol=1e-7, atol=1e-7
    )


def test_with_two_regions_the_second_map_axis_is_the_widest_orthogonal_direction():
    z, labels = separated_normals(2000, 4, 2, seed=7)
    directions, names = map_directions(z, labels)
    lda = LinearDiscriminantAnalysis(solver="eigen").fit(z.astype(np.float64), labels)
    first = lda.scalings_[:, 0]
    np.testing.assert_allclose(abs(directions[:, 0] @ first), first @ first, rtol=1e-7)
    second = directions[:, 1]
    assert abs(second @ first) < 1e-9 * np.linalg.norm(first) and names[1] == "widest orthogonal"
    x = z.astype(np.float64)
    within = np.concatenate([x[labels == c] - x[labels == c].mean(axis=0) for c in (0, 1)])
    away = np.eye(4) - np.outer(first, first) / (first @ first)
    values, vectors = np.linalg.eigh(away @ within.T @ within @ away)
    assert abs(second @ vectors[:, -1]) == pytest.approx(1.0, abs=1e-9)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """An analysis of three separated normals with their regions, and SAMPLES with the
    regions' images from an untrained tiny decoder."""
    import torch

    from lsf.nn.model import Autoencoder

    folder = tmp_path_factory.mktemp("regions_report")
    z, labels = separated_normals(2400, D, 3, seed=3)
    store = write_latent_store(folder / "l.zarr", z, 800)
    config = AnalyzeConfig(bins=24, pairs="0,1", pca_pairs="0,1", pair_bins=8)
    analyze(config, store, str(folder / "analysis"), progress=QUIET)
    result = fragmentation_of(z, labels, k=3)
    result.merges = [(3, 1, 0.93)]
    result.bic = np.array([500.0, 300.0, 120.0, 125.0, 140.0])
    result.warnings = ["the mixture of 300 rows is small for K = 3"]
    add_regions(folder / "analysis", result, labels)
    summary = json.loads((folder / "analysis" / "summary.json").read_text())
    summary["warnings"] = ["PCA basis of 12 rows for 6 dimensions: below the stated minimum"]
    (folder / "analysis" / "summary.json").write_text(json.dumps(summary))
    torch.manual_seed(0)
    model = Autoencoder(ModelConfig(image_size=16, widths=[4, 8], latent_dim=D)).eval()
    images = np.random.default_rng(1).integers(0, 255, size=(2400, 16, 16, 3), dtype=np.uint8)
    shards = write_shards(folder / "shards", images, rows_per_shard=1200)
    samples = folder / "samples"
    samples.mkdir()
    generate = GenerateConfig(region_images=3, gap_paths=3, gap_steps=5)
    entry = write_region_images(str(samples), model, result, shards, generate)
    metrics = {"feature_space": "pixel PCA", "real_images": 10, "samplers": {}, "paths": []}
    (samples / "metrics.json").write_text(json.dumps({**metrics, "regions": entry}))
    return folder, z, labels


def recording(run):
    """`(run(), what the fragmentation figures were given)`."""
    recorded = {}
    names = ("bic_merges", "region_maps", "labelled_rows", "gap_profiles")
    real = {name: getattr(sections, name) for name in names}

    def recorder(name):
        def record(*args):
            recorded.setdefault(name, []).append(args)
            return real[name](*args)

        return record

    for name in names:
        setattr(sections, name, recorder(name))
    try:
        return run(), recorded
    finally:
        for name in names:
            setattr(sections, name, real[name])


def section(analysis, out):
    """The HTML of the Fragmentation section alone (no samples)."""
    from lsf.pages.page import Page

    out.mkdir()
    page = Page(out)
    stored = read(str(analysis))

    def run():
        sections.fragmentation(page, stored, None, None)
        return "\n".join(page.parts)

    return recording(run)


@pytest.fixture(scope="module")
def page(built):
    folder, _, _ = built
    config = ReportConfig(pairs=[0, 1], top_pairs=0, pca_pairs=[0, 1], density_rows=400)

    def run():
        out, samples = folder / "report", str(folder / "samples")
        report(config, str(folder / "analysis"), str(out), samples=samples, progress=QUIET)
        return (out / "index.html").read_text()

    return recording(run)


def test_warnings_come_first_and_fragmentation_follows_the_headline(page, built):
    html, _ = page
    anchors = re.findall(r'<h2 id="([a-z]+)">', html)
    assert anchors[:3] == ["warnings", "headline", "fragmentation"]
    links = re.findall(r'<li><a href="#([a-z]+)">', html)
    assert links == anchors
    assert "PCA basis of 12 rows for 6 dimensions: below the stated minimum" in html
    assert "the mixture of 300 rows is small for K = 3" in html
    assert "<strong>3 regions; the largest holds 50 % of the latents</strong>" in html


def test_every_fragmentation_figure_is_on_the_page_with_a_caption(page, built):
    folder, _, _ = built
    html, _ = page
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", html, re.S)
    images = re.findall(r'<img src="([^"]+)"', html)
    assert len(captions) == len(images) and all("Look for" in c for c in captions)
    for name in ("bic", "map", "cards", "gaps", "profiles"):
        assert f"fragmentation_{name}.png" in images
        assert (folder / "report" / f"fragmentation_{name}.png").is_file()


def test_bic_and_merges_drawn_are_the_analysis(page, built):
    folder, _, _ = built
    _, recorded = page
    f = read(str(folder / "analysis")).fragmentation
    ((bic, chosen, merges, threshold),) = recorded["bic_merges"]
    np.testing.assert_array_equal(bic, f.bic)
    assert chosen == 3 and merges == [(3, 1, 0.93)] and threshold == 0.5


def test_region_maps_draw_the_labelled_sample_on_pca_and_lda_axes(page, built):
    folder, _, _ = built
    _, recorded = page
    f = read(str(folder / "analysis")).fragmentation
    ((panels,),) = recorded["region_maps"]
    scores = f.sample_scores.astype(np.float64)
    np.testing.assert_array_equal(panels[0]["points"], scores[:, :2])
    np.testing.assert_array_equal(panels[0]["labels"], f.sample_labels)
    np.testing.assert_array_equal(panels[0]["centres"], f.score_means[:, :2])
    lda = LinearDiscriminantAnalysis(solver="eigen").fit(scores, f.sample_labels)
    np.testing.assert_allclose(
        np.abs(panels[1]["points"]), np.abs(lda.transform(scores)), rtol=1e-7, atol=1e-7
    )
    assert panels[1]["names"] == ("discriminant 1", "discriminant 2")


def test_region_table_and_gap_table_hold_the_analysis_numbers(page, built):
    folder, _, _ = built
    html, _ = page
    f = read(str(folder / "analysis")).fragmentation
    for r in range(3):
        share = f"{100 * f.shares[r]:.1f} %"
        assert f"<td>{r}</td><td>{f.counts[r]}</td><td>{share}</td>" in html
    gap = number(float(f.gap[0, 1]))
    separation = number(float(f.separation[0, 1]))
    assert f"<td>0 - 1</td><td>{gap}</td><td>{separation}</td>" in html


def test_cards_and_gap_paths_label_each_image_with_its_id_density_and_d2(page, built):
    folder, _, _ = built
    _, recorded = page
    f = read(str(folder / "analysis")).fragmentation
    metrics = json.loads((folder / "samples" / "metrics.json").read_text())["regions"]
    cards, gaps = [args[0] for args in recorded["labelled_rows"][:2]]
    for r, (title, images, labels) in enumerate(cards):
        assert labels == ["centre", *(f"id {i}" for i in f.nearest_ids[r, :3])]
        assert len(images) == 4 and f"{100 * f.shares[r]:.1f} %" in title
    for row, path in zip(gaps, metrics["gaps"], strict=True):
        assert row[2] == sections.gap_labels(path) and len(row[1]) == 5
        assert f"region {path['a']} to {path['b']}" in row[0]
    ((profiles,),) = recorded["gap_profiles"]
    assert [p["density"] for p in profiles] == [g["density"] for g in metrics["gaps"]]


def test_one_region_is_one_line_with_the_bic_curve_and_merges(built, tmp_path):
    folder, z, _ = built
    shutil.copytree(folder / "analysis", tmp_path / "analysis")
    labels = np.zeros(len(z), dtype=np.int64)
    result = fragmentation_of(z, labels, k=3)
    result.chosen_k, result.merges = 3, [(0, 1, 0.9), (0, 2, 0.8)]
    result.component_region = np.zeros(3, dtype=int)
    result.verdict = "1 region; the largest holds 100 % of the latents"
    add_regions(tmp_path / "analysis", result, labels)
    html, recorded = section(tmp_path / "analysis", tmp_path / "report")
    assert (
        "One region: the latents fill one connected region (BIC chose 3 components and 2 "
        "merges joined them)" in html
    )
    assert "fragmentation_bic.png" in html and "fragmentation_map.png" not in html
    assert "region_maps" not in recorded and recorded["bic_merges"][0][2] == result.merges


def test_an_analysis_without_regions_says_so_in_one_line(built, tmp_path):
    folder, _, _ = built
    shutil.copytree(folder / "analysis", tmp_path / "analysis")
    remove_regions(tmp_path / "analysis")
    html, recorded = section(tmp_path / "analysis", tmp_path / "report")
    assert "Not in this analysis: its regions pass was off" in html
    assert not recorded and "fragmentation_bic.png" not in html
