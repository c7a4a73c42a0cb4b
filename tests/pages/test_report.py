"""`lsf report` on a small analysis: table of contents, captions, and the pair densities it
draws are the analysis's binned KDE of the stored counts."""

import re

import numpy as np
import pytest

import lsf.pages.pair_sections as pair_sections
import lsf.pages.sample_sections as sample_sections
from lsf.analyze import analyze
from lsf.core.config import AnalyzeConfig, ReportConfig
from lsf.core.progress import QUIET
from lsf.pages.numbers import number
from lsf.pages.pair_sections import ellipse_coverage, top_correlated_pairs
from lsf.report import report
from lsf.stats.analysis_store import read
from lsf.stats.histograms import robust_edges
from lsf.stats.pair_counts import select_pairs
from lsf.stats.pairs import binned_kde_batch, coverage_2d
from tests.helpers import assert_close_to_scale, correlated_latents, write_latent_store

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    store = write_latent_store(folder / "l.zarr", correlated_latents(3000, 6), 500)
    config = AnalyzeConfig(bins=30, pairs="0,1;1,2;2,4", pca_pairs="0,1", pair_bins=24)
    analyze(config, store, str(folder / "analysis"), progress=QUIET)
    figures = []

    def recording(panels, columns=3, title=""):
        figure = real(panels, columns, title)
        figures.append((panels, title))
        return figure

    real = pair_sections.pair_panels
    pair_sections.pair_panels = recording
    try:
        config = ReportConfig(
            pairs=[0, 1, 3, 0],
            top_pairs=1,
            pca_pairs=[0, 1, 1, 2],
            scatter_points=200,
            density_rows=800,
        )
        report(config, str(folder / "analysis"), str(folder / "report"), progress=QUIET)
    finally:
        pair_sections.pair_panels = real
    return folder, figures


def test_contents_link_every_section_and_every_caption_says_what_to_look_for(drawn):
    folder, _ = drawn
    page = (folder / "report" / "index.html").read_text()
    anchors = re.findall(r'<h2 id="([a-z]+)">', page)
    links = re.findall(r'<li><a href="#([a-z]+)">', page)
    assert links == anchors and len(anchors) >= 6
    assert {"headline", "histograms", "pca", "pairs", "normality"} <= set(anchors)
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", page, re.S)
    images = re.findall(r'<img src="([^"]+)"', page)
    assert len(captions) == len(images) >= 8
    assert all("Look for" in caption for caption in captions)
    assert all((folder / "report" / image).is_file() for image in images)
    assert "largest is" in page and "log axes" in page


def test_drawn_pair_density_is_the_binned_kde_of_the_stored_counts(drawn):
    folder, figures = drawn
    a = read(str(folder / "analysis"))
    (original, title), (pca, pca_title) = figures
    assert "kernel covariance" in title and "PCA coordinates" in pca_title
    edges, n = a.pairs("original").edges, a.moments.count
    widths = np.array([[edges[0, 1] - edges[0, 0], edges[1, 1] - edges[1, 0]]])
    cov2 = a.moments.cov[:2, :2][None]
    counts = np.asarray(a.pairs("original").counts[:1], dtype=np.float64)
    expected = binned_kde_batch(counts, widths, cov2, n)[0]
    first = original[0]
    assert first["names"] == ("z0", "z1") and np.allclose(first["density"][2], expected)
    missing = [p for p in original if "not in the analysis" in p["title"]]
    assert [p["names"] for p in missing][:1] == [("z3", "z0")]
    assert [p["names"] for p in pca][:2] == [("pc0", "pc1"), ("pc1", "pc2")]
    assert "not in the analysis" not in pca[0]["title"] and "not in the analysis" in pca[1]["title"]
    page = (folder / "report" / "index.html").read_text()
    assert "Not in the analysis&#x27;s pair set: (z3, z0)" in page


def test_top_correlated_pairs_are_select_pairs_top_k():
    corr = np.corrcoef(correlated_latents(500, 7), rowvar=False)
    expected = select_pairs("top:4", corr)
    assert top_correlated_pairs(corr, 4) == [tuple(p) for p in expected.tolist()]
    upper = np.abs(np.triu(corr, 1))
    assert abs(corr[top_correlated_pairs(corr, 1)[0]]) == upper.max()


def test_a_missing_latent_store_is_one_line_and_exit_2(drawn, tmp_path, capsys):
    import json
    import shutil

    from lsf.cli import main

    folder, _ = drawn
    shutil.copytree(folder / "analysis", tmp_path / "analysis")
    summary = json.loads((tmp_path / "analysis" / "summary.json").read_text())
    summary["latents"]["path"] = str(tmp_path / "gone.zarr")
    (tmp_path / "analysis" / "summary.json").write_text(json.dumps(summary))
    args = ["report", "--analysis", str(tmp_path / "analysis"), "--out", str(tmp_path / "r")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no latent store at" in err[0] and err[0].startswith("lsf report")
    assert not (tmp_path / "r").exists()


# --- the study's sections (issue 15): an analysis given the new arrays with known values ---

STUDY_K, STUDY_BINS, WORST = 4, 16, (1, 3)


def _survivors(x: np.ndarray, a) -> list[np.ndarray]:
    mu, fwhm = a.fits.gaussians.mu, a.fits.gaussians.fwhm
    return [(np.abs(x - mu) <= f * fwhm).all(axis=1) for f in a.trimming.facts]


def _fact_arrays(x: np.ndarray, a) -> dict:
    """The fact-sweep arrays of the contract, computed with numpy from the rows `x`."""
    keep = _survivors(x, a)
    scores = (x - a.pca.model.mean) @ a.pca.model.components.T
    pairs = np.array([(i, j) for i in range(STUDY_K) for j in range(i + 1, STUDY_K)])
    edges = np.stack([robust_edges(scores[:, [i, j]], STUDY_BINS) for i, j in pairs])
    counts = [
        [
            np.histogram2d(scores[k, i], scores[k, j], bins=list(e))[0]
            for (i, j), e in zip(pairs, edges, strict=True)
        ]
        for k in keep
    ]
    f, p = len(keep), len(pairs)
    alignment = np.tile(np.linspace(1.0, 20.0, p), (f, 1))
    alignment[:, pairs.tolist().index(list(WORST))] = 45.0
    return {
        "fact_count": np.array([k.sum() for k in keep]),
        "fact_mean": np.stack([x[k].mean(axis=0) for k in keep]),
        "fact_cov": np.stack([np.cov(x[k], rowvar=False) for k in keep]),
        "fact_axis_angles": np.linspace(0.0, 30.0, f * STUDY_K).reshape(f, STUDY_K),
        "sweep_pairs": pairs,
        "core_alignment": alignment,
        "fact_pair_edges": edges,
        "fact_pair_counts": np.asarray(counts).astype(np.uint32),
    }


def _outlier_arrays(x: np.ndarray, a, k: int = 3) -> dict:
    centred = x - a.moments.mean
    d2 = np.einsum("ij,ij->i", centred @ np.linalg.inv(a.moments.cov), centred)
    radius = (np.abs(x - a.fits.gaussians.mu) / a.fits.gaussians.fwhm).max(axis=1)
    by_d2, by_radius = np.argsort(-d2)[:k], np.argsort(-radius)[:k]
    typical = np.argsort(np.abs(d2 - np.median(d2)))[:k]
    d = x.shape[1]
    return {
        "outlier_rows_d2": by_d2,
        "outlier_ids_d2": by_d2,
        "outlier_d2": d2[by_d2],
        "outlier_rows_trim": by_radius,
        "outlier_ids_trim": by_radius,
        "outlier_trim_radius": radius[by_radius],
        "typical_rows": typical,
        "typical_ids": typical,
        "typical_d2": d2[typical],
        "pca_skewness": np.where(np.arange(d) == 1, 0.3, 0.01),
        "pca_flank_excess": np.where(np.arange(d) == 3, 0.6, 0.02),
    }


STUDY_SUMMARY = {
    "rows": {"split": "train", "selected": 3000, "total": 3000},
    "row_sets": {"moments": "train split, 3000 rows", "pca_basis": "PCA basis: fact 1.5 survivors"},
    "pair_coverage": {
        "original": {"1": [0.31, 0.38, 0.42], "2": [0.71, 0.84, 0.88], "3": [0.96, 0.98, 0.99]},
        "pca": {"1": [0.33, 0.39, 0.41], "2": [0.8, 0.86, 0.87], "3": [0.975, 0.987, 0.99]},
    },
    "origin": {
        "d2": 41.5,
        "dof": 6,
        "chi2_quantile": 0.9999,
        "trim_radius": 3.25,
        "fraction_closer": 0.97,
    },
    "study_comparison": [
        {
            "claim": "survivors at fact 1.7",
            "study": 0.94,
            "this_run": 0.91,
            "tolerance": 0.05,
            "agrees": True,
        },
        {
            "claim": "components for 80 % of the variance",
            "study": 120,
            "this_run": 5,
            "tolerance": 30,
            "agrees": False,
        },
        {
            "claim": "2 sigma coverage [min, median, max]",
            "study": [0.7, 0.9],
            "this_run": [0.84253, 0.8675, 0.9],
            "tolerance": "inside",
            "agrees": True,
        },
        {
            "claim": "core alignment angle",
            "study": "aligned",
            "this_run": None,
            "tolerance": "-",
            "agrees": None,
        },
    ],
}


def add_study_outputs(analysis, x: np.ndarray) -> None:
    """Write the contract's new arrays and summary keys (numpy values from `x`) into an
    analysis folder made by `lsf analyze`."""
    import json

    import zarr

    from lsf.stats.analysis_store import ARRAYS, DIMENSIONS, SUMMARY

    a = read(str(analysis))
    summary = a.summary
    new = _fact_arrays(x, a) | _outlier_arrays(x, a)
    group = zarr.open_group(str(analysis / ARRAYS), mode="a")
    for name, values in new.items():
        values = np.asarray(values)
        group.create_array(name, data=values, overwrite=True, dimension_names=DIMENSIONS[name])
    facts = [float(f) for f in a.trimming.facts]
    summary |= STUDY_SUMMARY
    summary["fact_sweep"] = {
        "facts": facts,
        "survivor_fraction": (new["fact_count"] / len(x)).tolist(),
        "axis_angle_max_first_k": new["fact_axis_angles"].max(axis=1).tolist(),
        "core_alignment_median": np.median(new["core_alignment"], axis=1).tolist(),
        "core_alignment_max": new["core_alignment"].max(axis=1).tolist(),
        "worst_pair": list(WORST),
    }
    (analysis / SUMMARY).write_text(json.dumps(summary))


def fake_samples(folder, a, config) -> None:
    """A SAMPLES folder as `lsf generate` writes it, with random images instead of decoded
    ones (the report only reads the PNGs, the points and metrics.json)."""
    import json

    from PIL import Image

    from lsf.data.images import image_grid
    from lsf.sampling import paths as latent_paths
    from lsf.sampling.samplers import squared_radius, statistics_from_analysis
    from lsf.sampling.study import study_path_specs

    s = statistics_from_analysis(a)
    (folder / "paths").mkdir(parents=True)
    (folder / "faces").mkdir()
    (folder / "gallery").mkdir()
    rng = np.random.default_rng(0)

    def strip(count: int, name: str) -> str:
        images = rng.integers(0, 255, size=(count, 8, 8, 3), dtype=np.uint8)
        Image.fromarray(image_grid(images, columns=count)).save(folder / name)
        return name

    def path_row(meta, points, where="paths"):
        (folder / where).mkdir(exist_ok=True)
        np.save(folder / where / f"{meta['name']}.npy", points)
        strip(len(points), f"{where}/{meta['name']}.png")
        d2 = squared_radius(points.astype(np.float64), s)
        return {
            **meta,
            "steps": len(points),
            "npy": f"{meta['name']}.npy",
            "png": f"{meta['name']}.png",
            "squared_mahalanobis": d2.tolist(),
        }

    origin = path_row(
        {"name": "origin_to_centre", "kind": "origin_to_centre"},
        latent_paths.origin_to_centre(s.mean, 6),
    )
    specs = study_path_specs(config, s, a.fits)
    gallery = {
        name: {
            "measure": "d2",
            "ids": [4, 9],
            "values": [30.0, 20.0],
            "missing_ids": [],
            "png": strip(2, f"gallery/{name}.png"),
        }
        for name in ("outliers_d2", "outliers_trim", "typical")
    }
    metrics = {
        "feature_space": "pixel PCA",
        "real_images": 10,
        "samplers": {},
        "paths": [origin],
        "faces": {
            "png": strip(2, "faces/origin_centre.png"),
            "names": ["origin", "centre"],
            "squared_mahalanobis": [40.0, 0.0],
            "dof": len(s.mean),
        },
        "gallery": gallery,
        "study_planes": [m["components"] for m, _ in specs[:: len(config.study_angles)]],
        "study_paths": [path_row(m, p, "study_paths") for m, p in specs],
    }
    (folder / "metrics.json").write_text(json.dumps(metrics))


@pytest.fixture(scope="module")
def study_drawn(drawn, tmp_path_factory):
    import shutil

    from lsf.core.config import GenerateConfig

    folder, _ = drawn
    out = tmp_path_factory.mktemp("study")
    shutil.copytree(folder / "analysis", out / "analysis")
    x = correlated_latents(3000, 6).astype(np.float64)
    add_study_outputs(out / "analysis", x)
    generate = GenerateConfig(study_planes=2, study_angles=[0.0, 90.0], path_steps=5)
    fake_samples(out / "samples", read(str(out / "analysis")), generate)
    recorded = {"rows": [], "panels": []}
    real_rows, real_panels = sample_sections.labelled_rows, pair_sections.pair_panels

    def rows(content):
        recorded["rows"].append(content)
        return real_rows(content)

    def panels(content, columns=3, title=""):
        recorded["panels"].append(content)
        return real_panels(content, columns, title)

    sample_sections.labelled_rows, pair_sections.pair_panels = rows, panels
    try:
        config = ReportConfig(
            pairs=[0, 1],
            top_pairs=0,
            pca_pairs=[0, 1],
            scatter_points=200,
            density_rows=800,
            ellipses="fits",
            study_components=STUDY_K,
            spread_components=[4, 5, 40],
        )
        report(
            config,
            str(out / "analysis"),
            str(out / "report"),
            samples=str(out / "samples"),
            progress=QUIET,
        )
    finally:
        sample_sections.labelled_rows, pair_sections.pair_panels = real_rows, real_panels
    return out, x, recorded


STUDY_ANCHORS = {
    "study",
    "rowsets",
    "pcastudy",
    "factsweep",
    "origin",
    "faces",
    "gallery",
    "studypaths",
}


def test_every_study_section_renders_from_the_new_arrays(study_drawn):
    out, _, _ = study_drawn
    page = (out / "report" / "index.html").read_text()
    anchors = re.findall(r'<h2 id="([a-z]+)">', page)
    assert STUDY_ANCHORS <= set(anchors) and anchors.index("study") < anchors.index("histograms")
    assert "not in this analysis" not in page
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", page, re.S)
    images = re.findall(r'<img src="([^"]+)"', page)
    assert len(captions) == len(images) and all("Look for" in c for c in captions)
    assert all((out / "report" / image).is_file() for image in images)
    for name in (
        "pca_details",
        "pca_pair_grid",
        "pca_spread_grid",
        "fact_sweep_pair",
        "core_alignment",
        "faces",
        "gallery",
        "study_origin_planes",
    ):
        assert f"{name}.png" in images
    assert (
        "<td>components for 80 % of the variance</td><td>120</td><td>5</td><td>30</td><td>no</td>"
        in page
    )
    assert "<td>[0.7, 0.9]</td><td>[0.8425, 0.8675, 0.9]</td><td>inside</td><td>yes</td>" in page
    assert "<td>n/a</td><td>-</td><td>-</td>" in page
    assert "PCA basis: fact 1.5 survivors" in page and "3000 of 3000 store rows" in page
    assert "asymmetric: pc1; heavy flanks: pc3" in page
    assert "<td>pca</td><td>3 sigma</td><td>0.975</td><td>0.987</td><td>0.99</td>" in page
    # pca_rows: basis and row_sets present: the PCA pair counts hold the PCA basis rows
    a = read(str(out / "analysis"))
    n = a.pca.rows
    text = (
        f"kernel covariance = {n ** (-1 / 6):.3g}^2 x the pair&#x27;s covariance (Scott, n = {n} "
    )
    assert a.config.pca_rows == "basis" and n < 3000 and text in page
    assert "PCA pair (pc1, pc3)" in page  # the summary's worst pair
    assert "fraction of latents closer to the centre than the origin</td><td>0.97" in page
    assert "Planes running beyond the core: (z" in page and "report.ellipses: fits" in page


def test_study_strips_print_each_steps_squared_mahalanobis_distance(study_drawn):
    import json

    out, _, recorded = study_drawn
    metrics = json.loads((out / "samples" / "metrics.json").read_text())
    strips = [row for content in recorded["rows"] for row in content]
    for path in metrics["study_paths"]:
        labels = [number(v) for v in path["squared_mahalanobis"]]
        title = f"{path['angle_deg']:g} deg"
        assert any(t.startswith(title) and lab == labels for t, _, lab in strips)
    origin = next(row for row in strips if row[0] == "origin to centre")
    assert origin[2][0] == f"d2 {metrics['paths'][0]['squared_mahalanobis'][0]:.4g}"
    last = metrics["paths"][0]["squared_mahalanobis"][-1]
    assert origin[2][-1] == "d2 0" and last < 1e-9


def test_drawn_ellipses_are_the_fits_and_their_coverage_counts_the_points(study_drawn):
    out, x, recorded = study_drawn
    a = read(str(out / "analysis"))
    first = recorded["panels"][0][0]
    assert first["names"] == ("z0", "z1")
    assert_close_to_scale(first["mean2"], a.fits.gaussians.mu[:2], rtol=1e-7)
    sigma = a.fits.gaussians.sigma[:2]
    assert_close_to_scale(np.sqrt(np.diag(first["cov2"])), sigma, rtol=1e-7)
    assert first["cov2"][0, 1] == pytest.approx(a.moments.corr[0, 1] * sigma[0] * sigma[1])
    (binned, counted), (exact, sampled) = ellipse_coverage(
        a.pairs("original"), 0, 1, first["mean2"], first["cov2"], x[:, :2]
    )
    assert counted == "stored pair counts (24 bins)" and sampled == "3000 sampled rows (exact)"
    expected = coverage_2d(x[:, :2], first["mean2"], first["cov2"])
    assert_close_to_scale(exact, expected, rtol=1e-7)
    # 24 bins over the robust range: a bin cut by the 1-sigma ellipse is a few percent of it
    np.testing.assert_allclose(binned, expected, atol=0.05)


def test_fact_sweep_panels_are_each_facts_own_survivors(study_drawn):
    from lsf.pages.study_sections import fact_pair_panels, worst_pair

    out, x, _ = study_drawn
    a = read(str(out / "analysis"))
    sweep = a.fact_sweep
    p = worst_pair(sweep.summary, sweep.pairs)
    assert tuple(sweep.pairs[p]) == WORST
    assert worst_pair({}, sweep.pairs) == 5  # (2, 3) without a summary entry
    facts = sweep.summary["facts"]
    panels = fact_pair_panels(sweep, a.trimming, a.pca.model, facts, p)
    scores = (x - a.pca.model.mean) @ a.pca.model.components.T
    for keep, panel in zip(_survivors(x, a), panels, strict=True):
        pair = scores[keep][:, list(WORST)]
        np.testing.assert_allclose(panel["mean2"], pair.mean(axis=0), atol=1e-9)
        np.testing.assert_allclose(panel["cov2"], np.cov(pair, rowvar=False), atol=1e-9)
        assert "core angle 45.0 deg" in panel["title"]


def test_an_analysis_written_before_the_contract_is_refused_in_one_line(drawn, tmp_path, capsys):
    import json
    import shutil

    from lsf.cli import main
    from lsf.stats.analysis_store import ARRAYS, FORMAT_KEY

    folder, _ = drawn
    shutil.copytree(folder / "analysis", tmp_path / "analysis")
    meta = tmp_path / "analysis" / ARRAYS / "zarr.json"
    doc = json.loads(meta.read_text())
    del doc["attributes"][FORMAT_KEY]
    meta.write_text(json.dumps(doc))
    args = ["report", "--analysis", str(tmp_path / "analysis"), "--out", str(tmp_path / "r")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lsf report") and "rerun `lsf analyze`" in err[0]
    assert not (tmp_path / "r").exists()


def test_a_current_analysis_renders_its_own_study_sections(drawn):
    folder, _ = drawn
    page = (folder / "report" / "index.html").read_text()
    assert "fact_sweep_pair.png" in page and "core_alignment.png" in page
    assert "Study vs this run" in page and "<td>moments</td>" in page


def test_a_fact_with_a_singular_survivor_covariance_still_draws(study_drawn):
    from lsf.pages.study_sections import fact_pair_panels

    out, _, _ = study_drawn
    a = read(str(out / "analysis"))
    trimming = a.trimming
    trimming.cov = trimming.cov.copy()
    trimming.cov[0] = 0.0  # a fact that kept a single row
    panels = fact_pair_panels(a.fact_sweep, trimming, a.pca.model, [1.0, 1.1], 0)
    assert np.isfinite(panels[0]["density"][2]).all() and panels[0]["density"][2].sum() > 0
