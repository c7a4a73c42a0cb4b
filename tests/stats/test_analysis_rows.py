"""Oracle tests of the analysed row sets: split selection, the PCA sample (smallest seeded
row keys among the trimmed rows), every fact's survivor moments, the outliers, the origin,
and how often the store is read."""

import dask
import dask.array as da
import numpy as np
import pytest
import zarr
from scipy import stats

from lsf.analyze import analyze
from lsf.core.config import AnalyzeConfig
from lsf.core.errors import LsfError
from lsf.core.outputs import zarr_location
from lsf.core.progress import QUIET
from lsf.core.store import open_split
from lsf.stats import analysis as analysis_module
from lsf.stats import pair_analysis
from lsf.stats.analysis import analyze_latents
from lsf.stats.analysis_store import read
from lsf.stats.histograms import chunk_histograms, robust_range
from lsf.stats.provisional import provisional_grid, rebin, snap_edges
from lsf.stats.selection import KeyBand, key_band, row_keys
from lsf.stats.trimming import trim_radius
from tests.helpers import assert_close_to_scale, latent_like, write_latent_store

D = 12


@pytest.fixture(scope="module")
def data():
    x = latent_like(5000, seed=3)
    x[[10, 20], 4] += 40.0  # two planted outliers
    return x


def _basis_oracle(x, result, fact, sample, seed):
    """numpy's choice of the PCA basis rows: survivors of `fact`, then the `sample` smallest
    keys among them."""
    g = result.fits.gaussians
    survivors = np.flatnonzero(trim_radius(x, g.mu, g.fwhm) < fact)
    keys = row_keys(survivors, seed)
    return np.sort(survivors[np.argsort(keys)[:sample]])


def test_split_selection_matches_numpy_on_a_store_with_a_split_array(tmp_path, data):
    store = write_latent_store(tmp_path / "s.zarr", data, 700)
    split = np.random.default_rng(1).choice([0, 1, 2], size=len(data), p=[0.7, 0.2, 0.1])
    group = zarr.open_group(zarr_location(store), mode="r+")
    group["split"][:] = split.astype(np.int8)
    np.testing.assert_array_equal(open_split(store).compute(), split)
    config = AnalyzeConfig(split="train", bins=32, pair_bins=8, pairs="first:4")
    analyze(config, store, str(tmp_path / "a"), progress=QUIET)
    a = read(str(tmp_path / "a"))
    summary, hist = a.summary, a.fits.hist
    train = data[split == 0].astype(np.float64)
    assert_close_to_scale(a.moments.mean, train.mean(axis=0), rtol=1e-9)
    np.testing.assert_allclose(a.moments.cov, np.cov(train.T), rtol=1e-9, atol=1e-12)
    assert hist.counts[0].sum() + hist.underflow[0] + hist.overflow[0] == len(train)
    assert summary["rows"] == {"split": "train", "selected": len(train), "total": len(data)}
    assert summary["row_sets"]["moments"] == f"train split, {len(train)} rows"
    assert set(a.outliers.rows_d2) <= set(np.flatnonzero(split == 0))
    np.testing.assert_array_equal(a.outliers.ids_d2, a.outliers.rows_d2)


def test_a_store_without_split_is_all_train(data):
    z = da.from_array(data[:2000], chunks=(700, D))
    train = analyze_latents(
        z, AnalyzeConfig(split="train", pairs="first:0", pca_pairs="first:0"), progress=QUIET
    )
    assert train.selection.selected == 2000 and train.moments.count == 2000
    with pytest.raises(LsfError, match="split 'test' selects no rows"):
        analyze_latents(z, AnalyzeConfig(split="test"), progress=QUIET)


@pytest.fixture(scope="module")
def sampled(data):
    config = AnalyzeConfig(
        trim_fact=1.35, pca_sample=1500, seed=7, pairs="first:0", pca_pairs="first:0", outliers=5
    )
    return analyze_latents(da.from_array(data, chunks=(600, D)), config, progress=QUIET)


def test_the_pca_sample_is_numpys_selection_of_the_smallest_keys(data, sampled):
    rows = _basis_oracle(data, sampled, 1.35, 1500, 7)
    basis = data[rows].astype(np.float64)
    assert sampled.pca.rows == 1500 and "fact 1.35 survivors, random 1500 of" in sampled.pca.basis
    assert_close_to_scale(sampled.pca.model.mean, basis.mean(axis=0), rtol=1e-9)
    expected = np.sort(np.linalg.eigvalsh(np.cov(basis.T)))[::-1]
    assert_close_to_scale(sampled.pca.model.explained_variance, expected, rtol=1e-9)
    # pca_rows: basis -> the PCA histograms count exactly the basis rows
    assert sampled.pca.hist_rows == 1500 == sampled.normality.rows
    assert sampled.reads == [
        "moments, row sample and histograms",
        "trimming and PCA basis",
        "projection",
    ]


def test_a_missed_key_band_costs_one_read_and_gives_the_same_basis(data, sampled, monkeypatch):
    monkeypatch.setattr(analysis_module, "key_band", lambda *a: KeyBand(2**63, 2**63 + 1))
    config = AnalyzeConfig(
        trim_fact=1.35, pca_sample=1500, seed=7, pairs="first:0", pca_pairs="first:0", outliers=5
    )
    again = analyze_latents(da.from_array(data, chunks=(900, D)), config, progress=QUIET)
    assert "PCA sample (key band missed)" in again.reads and len(again.reads) == 4
    assert_close_to_scale(
        again.pca.model.explained_variance, sampled.pca.model.explained_variance, rtol=1e-9
    )


def test_key_band_holds_the_kth_smallest_key():
    rng = np.random.default_rng(0)
    keys = row_keys(np.arange(100_000), 11)
    for k in (10, 5000, 60_000):
        band = key_band(k, 100_000, 20_000, 0.98)
        kth = np.sort(keys)[k - 1]
        assert band.low <= int(kth) < band.high
        assert np.count_nonzero(
            (keys >= np.uint64(band.low)) & (keys < np.uint64(band.high))
        ) < max(0.2 * k, 2000)
    assert key_band(10, 5, 5, 1.0).high is None
    assert len(np.unique(row_keys(rng.integers(0, 2**40, 1000), 3))) == 1000


def test_every_facts_survivor_moments_equal_numpy(data, sampled):
    g = sampled.fits.gaussians
    radius = trim_radius(data, g.mu, g.fwhm)
    for fact, moments in zip(sampled.trimming.facts, sampled.trimming.fact_moments, strict=True):
        kept = data[radius < fact].astype(np.float64)
        assert moments.count == len(kept)
        assert_close_to_scale(moments.mean, kept.mean(axis=0), rtol=1e-9)
        np.testing.assert_allclose(moments.cov, np.cov(kept.T), rtol=1e-9, atol=1e-12)


def test_outliers_and_typical_rows_equal_numpy_argsort(data, sampled):
    pca, g = sampled.pca.model, sampled.fits.gaussians
    scores = (data.astype(np.float64) - pca.mean) @ pca.components.T
    d2 = np.sum(scores[:, : pca.rank] ** 2 / pca.explained_variance[: pca.rank], axis=1)
    order = np.argsort(-d2, kind="stable")[:5]
    np.testing.assert_array_equal(sampled.outliers.rows_d2, order)
    assert_close_to_scale(sampled.outliers.d2, d2[order], rtol=1e-9)
    assert {10, 20} <= set(order.tolist())
    radius = trim_radius(data, g.mu, g.fwhm)
    order = np.argsort(-radius, kind="stable")[:5]
    np.testing.assert_array_equal(sampled.outliers.rows_trim, order)
    assert_close_to_scale(sampled.outliers.trim_radius, radius[order], rtol=1e-7)
    median = np.median(d2)
    typical = np.abs(sampled.outliers.typical_d2 - median)
    assert typical.max() <= np.sort(np.abs(d2 - median))[4] + 0.05  # median from the d2 grid


def test_origin_position_matches_numpy(data, sampled):
    pca, g = sampled.pca.model, sampled.fits.gaussians
    origin = (0.0 - pca.mean) @ pca.components.T
    d2_origin = np.sum(origin[: pca.rank] ** 2 / pca.explained_variance[: pca.rank])
    got = sampled.origin
    assert_close_to_scale(got["d2"], d2_origin, rtol=1e-9)
    assert got["dof"] == pca.rank
    assert_close_to_scale(got["chi2_quantile"], stats.chi2.cdf(d2_origin, pca.rank), rtol=1e-7)
    assert_close_to_scale(got["trim_radius"], np.max(np.abs(g.mu) / g.fwhm), rtol=1e-7)
    scores = (data.astype(np.float64) - pca.mean) @ pca.components.T
    d2 = np.sum(scores[:, : pca.rank] ** 2 / pca.explained_variance[: pca.rank], axis=1)
    assert (
        abs(got["fraction_closer"] - (d2 < d2_origin).mean())
        <= got["fraction_closer_error"] + 1e-12
    )


class CountingLoader:
    def __init__(self, x, rows):
        self.x, self.rows, self.calls = x, rows, 0

    def __call__(self, start):
        self.calls += 1
        return self.x[start : start + self.rows]


def test_the_store_is_read_three_times_plus_the_further_pair_waves(data, monkeypatch):
    monkeypatch.setattr(pair_analysis, "pair_plan", lambda *a: (20, 2))  # 2 blocks per wave
    loader = CountingLoader(data, 1000)
    blocks = [
        da.from_delayed(dask.delayed(loader, pure=True)(s), shape=(1000, D), dtype=np.float32)
        for s in range(0, 5000, 1000)
    ]
    z = da.concatenate(blocks, axis=0)
    config = AnalyzeConfig(pair_bins=8)
    result = analyze_latents(z, config, progress=QUIET)
    waves = [r for r in result.reads if r.startswith("pairs wave")]
    assert len(waves) == 4  # 2 x 4 blocks of 20 of the 66 pairs, 2 per wave
    assert result.reads[:2] == ["moments, row sample and histograms", "trimming and PCA basis"]
    assert len(result.reads) == 2 + len(waves)  # the projection rides on the first pair wave
    assert loader.calls == 5 * len(result.reads) + 1  # +1: the first chunk for the shift
    monkeypatch.undo()  # one wave: the same counts
    single = analyze_latents(da.from_array(data, chunks=(1000, D)), config, progress=QUIET)
    assert len(single.reads) == 3
    for mine, theirs in zip(result.pairs, single.pairs, strict=True):
        np.testing.assert_array_equal(mine.counts, theirs.counts)


def test_the_fact_sweep_in_the_projection_read_equals_numpy(data, sampled):
    """Per fact: 2D counts of the sweep pairs in the chosen basis's PCA coordinates equal
    np.histogram2d of its survivors; the core alignment equals the angle of the covariance
    of the points inside the fact's own 1-sigma ellipse; fact axis angles from numpy's
    eigenvectors of each fact's covariance."""
    pca, g, sweep = sampled.pca.model, sampled.fits.gaussians, sampled.sweep
    scores = (data.astype(np.float64) - pca.mean) @ pca.components.T
    radius = trim_radius(data, g.mu, g.fwhm)
    assert sweep.pairs.shape == (45, 2) and sweep.pair_counts.shape[:2] == (6, 45)
    for f, fact in enumerate(sampled.trimming.facts):
        kept = scores[radius < fact]
        for p in (0, 17, 44):
            i, j = sweep.pairs[p]
            expected, _, _ = np.histogram2d(
                kept[:, i], kept[:, j], bins=[sweep.pair_edges[p, 0], sweep.pair_edges[p, 1]]
            )
            np.testing.assert_array_equal(sweep.pair_counts[f, p], expected)
            xy = kept[:, [i, j]]
            centred = xy - xy.mean(axis=0)
            cov = np.cov(xy.T)
            inside = xy[np.einsum("ni,ij,nj->n", centred, np.linalg.inv(cov), centred) <= 1]
            values, vectors = np.linalg.eigh(np.cov(inside.T, bias=True))
            major = vectors[:, 1]
            angle = np.degrees(np.arccos(min(abs(major[0]), 1.0)))
            np.testing.assert_allclose(sweep.core_alignment[f, p], angle, atol=1e-6)
        own = np.linalg.eigh(np.cov(data[radius < fact].astype(np.float64).T))[1][:, ::-1]
        cosine = np.abs(np.sum(own[:, :10].T * pca.components[:10], axis=1))
        np.testing.assert_allclose(
            sweep.axis_angles[f], np.degrees(np.arccos(np.clip(cosine, 0, 1))), atol=1e-4
        )
    assert sweep.summary["facts"] == sampled.trimming.facts.tolist()


def test_histograms_rebinned_from_the_provisional_grid_equal_np_histogram():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((20_000, 4)) * [1.0, 3.0, 0.2, 1.0] + [0.0, 5.0, -1.0, 0.0]
    x[:, 3] = rng.standard_t(2, 20_000)  # heavy tails: its robust range is narrow
    first = x[:2000]
    for bins, width in ((64, None), (17, None), (None, 0.25)):
        fine = provisional_grid(first, width)
        span = robust_range(x[rng.choice(len(x), 5000, replace=False)])
        edges, index = snap_edges(fine, span, bins or 64, width)
        lo, hi = span
        assert (edges[:, 0] <= lo).all() and (edges[:, -1] >= hi).all()
        if width is not None:
            assert_close_to_scale(np.diff(edges, axis=1), width, rtol=1e-7)
            assert_close_to_scale(edges[:, 0] / width, np.round(edges[:, 0] / width), rtol=1e-7)
        else:
            assert edges.shape[1] == bins + 1
        hist = rebin(chunk_histograms(x, fine), index)
        for j in range(4):
            expected, _ = np.histogram(x[:, j], edges[j])
            np.testing.assert_array_equal(hist["counts"][j], expected)
            assert hist["under"][j] == (x[:, j] < edges[j, 0]).sum()
            assert hist["over"][j] == (x[:, j] >= edges[j, -1]).sum()


def test_a_range_beyond_the_provisional_grid_gets_a_histogram_read(data):
    x = data.copy()
    x[:600] = x[:600].mean(axis=0)  # a constant first chunk: a provisional grid of width 3
    x[:600] += np.linspace(0, 1e-3, 600, dtype=np.float32)[:, None]
    z = da.from_array(x, chunks=(600, D))
    config = AnalyzeConfig(pairs="first:0", pca_pairs="first:0", bins=32)
    result = analyze_latents(z, config, progress=QUIET)
    assert result.reads[1] == "histograms" and len(result.reads) == 4
    for j in (0, 5):
        expected, _ = np.histogram(x[:, j], result.fits.edges[j])
        np.testing.assert_array_equal(result.fits.hist["counts"][j], expected)
