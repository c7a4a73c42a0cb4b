"""`lsf report` on a small analysis: table of contents, captions, and the pair densities it
draws are the analysis's binned KDE of the stored counts."""

import re

import numpy as np
import pytest

import lsf.report
from lsf.analyze import analyze, load_analysis
from lsf.core.config import AnalyzeConfig, ReportConfig
from lsf.core.progress import QUIET
from lsf.report import report, top_correlated_pairs
from lsf.stats.pair_counts import select_pairs
from lsf.stats.pairs import binned_kde_batch
from tests.helpers import correlated_latents, write_latent_store

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

    real = lsf.report.pair_panels
    lsf.report.pair_panels = recording
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
        lsf.report.pair_panels = real
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
    arrays, _ = load_analysis(str(folder / "analysis"))
    (original, title), (pca, pca_title) = figures
    assert "kernel covariance" in title and "PCA coordinates" in pca_title
    edges, n = arrays["pair_edges"], int(arrays["count"][0])
    widths = np.array([[edges[0, 1] - edges[0, 0], edges[1, 1] - edges[1, 0]]])
    cov2 = arrays["cov"][:2, :2][None]
    expected = binned_kde_batch(arrays["pair_counts"][:1].astype(np.float64), widths, cov2, n)[0]
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
