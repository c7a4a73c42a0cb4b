"""The analysis folder contract (`lsf.stats.analysis_store`): xarray opens analysis.zarr with
named dimensions, the typed views read back what `lsf analyze` computed, each pair system
records the rows and KDE covariance it was scored with, a folder of another format is refused
in one line (exit code 2), and the report's and the explorer's contours smooth the same
inputs as the analysis's scoring, in both coordinate systems and for both `pca_rows`."""

import json

import numpy as np
import pytest
import xarray as xr
import zarr

import lsf.stats.pair_analysis as pair_analysis
from lsf.analyze import analyze
from lsf.cli import main
from lsf.core.config import AnalyzeConfig
from lsf.core.errors import LsfError
from lsf.core.progress import QUIET
from lsf.explore import NoDecoder
from lsf.plots.densities import ANALYSIS, pair_density
from lsf.stats.analysis_store import ARRAYS, DIMENSIONS, FORMAT_KEY, SYSTEMS, read
from lsf.stats.pairs import binned_kde
from lsf.stats.pca import project
from lsf.stats.quadratic import pair_covariance, projected_covariance
from lsf.web.explorer import load_explorer
from tests.helpers import assert_close_to_scale, latent_like, write_latent_store

pytestmark = pytest.mark.timeout(300)

PAIRS = "0,1;0,2;3,7"
PCA_PAIRS = "0,1;1,4;2,3"
LISTED = [(0, 1), (0, 2), (3, 7), (1, 4), (2, 3)]


class ScoringSpy:
    """Records every `binned_kde_batch` call of the pair scoring: the densities it scored."""

    def __init__(self):
        self.calls = []

    def __call__(self, counts, widths, cov2, n_total):
        out = ORIGINAL_KDE(counts, widths, cov2, n_total)
        self.calls.append((np.array(counts), np.array(widths), np.array(cov2), int(n_total), out))
        return out


ORIGINAL_KDE = pair_analysis.binned_kde_batch


@pytest.fixture(scope="module", params=["basis", "all"])
def scored(request, tmp_path_factory):
    """An analysis with listed pairs under `pca_rows` basis or all, and what its scoring
    smoothed, per (system, i, j): `(counts, widths, cov2, rows, density)`."""
    tmp = tmp_path_factory.mktemp(f"store-{request.param}")
    x = latent_like(3000, seed=2)
    store = write_latent_store(tmp / "l.zarr", x, 800)
    config = AnalyzeConfig(
        bins=32, pair_bins=16, pairs=PAIRS, pca_pairs=PCA_PAIRS, pca_rows=request.param
    )
    spy = ScoringSpy()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pair_analysis, "binned_kde_batch", spy)
        analyze(config, store, str(tmp / "a"), progress=QUIET)
    scoring = {}
    stored = read(str(tmp / "a"))
    for counts, widths, cov2, rows, density in spy.calls:
        for k in range(len(counts)):
            for system in SYSTEMS:
                pairs = stored.pairs(system)
                for p, (i, j) in enumerate(pairs.pairs):
                    if np.array_equal(np.asarray(pairs.counts[p]), counts[k]):
                        found = (counts[k], widths[k], cov2[k], rows, density[k])
                        scoring[(system, int(i), int(j))] = found
    return str(tmp / "a"), x.astype(np.float64), request.param, scoring


def test_xarray_opens_the_arrays_with_one_dimension_name_per_axis_meaning(scored):
    folder = scored[0]
    ds = xr.open_zarr(f"{folder}/{ARRAYS}", consolidated=False)
    group = zarr.open_group(f"{folder}/{ARRAYS}", mode="r")
    assert set(group.array_keys()) <= set(DIMENSIONS)
    for name in group.array_keys():
        assert ds[name].dims == DIMENSIONS[name], name
    d = ds.sizes["component"]
    assert ds["cov"].dims == ("component", "component_j") and ds.sizes["component_j"] == d
    assert ds["hist1d_counts"].dims == ("component", "bin")
    assert ds["pair_counts"].dims == ("pair", "pair_bin", "pair_bin_j")
    assert ds.sizes["pair"] == 3 and ds.sizes["pca_pair"] == 3 and ds.sizes["fact"] == 6
    assert ds.attrs[FORMAT_KEY] == 2


def test_the_views_read_back_what_the_analysis_computed(scored):
    folder, x, pca_rows, _ = scored
    a = read(folder)
    assert a.config.pca_rows == pca_rows and a.latent_dim == 12 and a.n_samples == 3000
    assert a.moments.count == 3000
    assert_close_to_scale(a.moments.mean, x.mean(axis=0))
    assert_close_to_scale(a.moments.cov, np.cov(x, rowvar=False))
    assert (
        a.fits.hist.counts.sum(axis=1).tolist()
        == (3000 - a.fits.hist.underflow - a.fits.hist.overflow).tolist()
    )
    assert a.pca.model.rank == a.normality.dof == 12
    assert a.trimming.facts.tolist() == [1.25, 1.35, 1.45, 1.55, 1.7, 1.8]
    assert a.fact_sweep.pair_counts.shape[:2] == (6, len(a.fact_sweep.pairs))
    assert a.pairs("original").pairs.tolist() == [[0, 1], [0, 2], [3, 7]]
    assert a.pairs("pca").pairs.tolist() == [[0, 1], [1, 4], [2, 3]]
    assert len(a.outliers.ids_d2) == len(a.outliers.d2) > 0
    assert a.fragmentation is not None and a.fragmentation.regions >= 1


def test_each_pair_system_records_the_rows_and_covariance_it_was_scored_with(scored):
    folder, x, pca_rows, scoring = scored
    a = read(folder)
    original, pca = a.pairs("original"), a.pairs("pca")
    assert original.rows == 3000
    assert_close_to_scale(original.kde_cov, np.cov(x, rowvar=False))
    model = a.pca.model
    if pca_rows == "basis":
        assert pca.rows == a.pca.rows < 3000  # the basis rows only
        np.testing.assert_array_equal(pca.kde_cov, np.diag(model.explained_variance))
    else:
        assert pca.rows == 3000
        assert_close_to_scale(pca.kde_cov, projected_covariance(a.moments.cov, model.components))
    assert len(scoring) == 6
    for (system, i, j), (_, _, cov2, rows, _) in scoring.items():
        stored = a.pairs(system)
        assert rows == stored.rows
        np.testing.assert_array_equal(stored.kde_covariance(i, j), cov2)


def test_report_and_explorer_contours_smooth_what_the_analysis_scored(scored):
    """Item 2: for every counted pair of both systems, the analysis's scoring, the report's
    contour density and the explorer's panel density have the same inputs and values."""
    folder, x, pca_rows, scoring = scored
    a = read(folder)
    explorer = load_explorer(folder, NoDecoder(a.latent_dim))
    points = {"original": x, "pca": project(x, a.pca.model.mean, a.pca.model.components)}
    for (system, i, j), (counts, widths, cov2, rows, scored_density) in scoring.items():
        report = pair_density(a.pairs(system), i, j, points[system], a.all_rows(system)[1])
        assert report.source == ANALYSIS and report.rows == rows
        # float64 KDEs: the scoring's FFT is padded for its whole block, hence 1e-9, not ==
        assert_close_to_scale(report.values, scored_density, rtol=1e-9)
        panel = explorer.panels.kde_inputs(system, i, j)
        assert panel.source == "analysis" and panel.rows == rows
        np.testing.assert_array_equal(panel.counts, counts)
        np.testing.assert_array_equal(panel.cov2, cov2)
        explored = binned_kde(panel.counts, (widths[0], widths[1]), panel.cov2, panel.rows)
        assert_close_to_scale(explored, scored_density, rtol=1e-9)
        contours = explorer.panels.panel(system, i, j)["contours"]
        assert contours is not None and len(contours) == 3
        if system == "pca" and pca_rows == "basis":
            # what the explorer smoothed before the contract: every row, their covariance
            old = projected_covariance(a.moments.cov, a.pca.model.components[[i, j]])
            assert a.moments.count != rows and not np.allclose(old, cov2)


def test_swapped_pairs_read_transposed_and_uncounted_pairs_fall_back(scored):
    folder, x, _, _ = scored
    a = read(folder)
    pairs = a.pairs("original")
    counts, ex, ey = pairs.grid(2, 0)
    np.testing.assert_array_equal(counts, np.asarray(pairs.counts[1]).T)
    np.testing.assert_array_equal(ex, pairs.edges[2])
    np.testing.assert_array_equal(pairs.kde_covariance(2, 0), pair_covariance(pairs.kde_cov, 2, 0))
    assert pairs.grid(1, 2) is None
    fallback = pair_density(pairs, 1, 2, x[:500], a.moments.cov)
    assert fallback.source != ANALYSIS and fallback.rows == 500


def test_a_folder_of_the_old_format_is_refused_in_one_line(scored, tmp_path, capsys):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(scored[0], old)
    meta = old / ARRAYS / "zarr.json"
    doc = json.loads(meta.read_text())
    del doc["attributes"][FORMAT_KEY]
    meta.write_text(json.dumps(doc))
    with pytest.raises(LsfError, match=r"format 1.*rerun `lsf analyze`") as error:
        read(str(old))
    assert "\n" not in str(error.value)
    assert main(["report", "--analysis", str(old), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "rerun `lsf analyze`" in err[0]
    with pytest.raises(LsfError, match="no analysis at"):
        read(str(tmp_path / "none"))


def test_an_analysis_without_pairs_reads_none_and_still_opens_in_xarray(tmp_path):
    store = write_latent_store(tmp_path / "l.zarr", latent_like(1500, seed=3), 500)
    config = AnalyzeConfig(bins=16, pairs="top:0", pca_pairs="first:0", regions=False)
    analyze(config, store, str(tmp_path / "a"), progress=QUIET)
    a = read(str(tmp_path / "a"))
    assert a.pairs("original") is None and a.pairs("pca") is None and a.fragmentation is None
    assert a.pairs_table() == {} and a.least_elliptic("pca") == []
    ds = xr.open_zarr(str(tmp_path / "a" / ARRAYS), consolidated=False)
    assert "pair_counts" not in ds and ds["cov"].dims == ("component", "component_j")
    panel = load_explorer(str(tmp_path / "a"), NoDecoder(12)).panels.panel("pca", 0, 1)
    assert panel["density"] is None and panel["density_source"] == "none"
    with pytest.raises(ValueError, match="system must be one of"):
        a.pairs("PCA")
