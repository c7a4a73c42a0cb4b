"""Oracle tests of the all-pairs 2D histograms, densities, coverage and shape scores."""

import dask.array as da
import numpy as np
import pytest
from scipy.stats import gaussian_kde

from lsf.core.config import AnalyzeConfig
from lsf.core.errors import LsfError
from lsf.core.pair_spec import parse_pairs
from lsf.core.progress import QUIET
from lsf.stats.analysis import analyze_latents
from lsf.stats.histograms import robust_edges
from lsf.stats.pair_counts import chunk_pair_counts, select_pairs
from lsf.stats.pairs import binned_kde, coverage_2d
from lsf.stats.pca import project
from lsf.stats.trimming import trim_radius
from tests.helpers import latent_like


def quiet(*_):
    pass


@pytest.fixture(scope="module")
def analysed():
    x = latent_like(4000)
    config = AnalyzeConfig(pair_bins=16, pair_block=7, trim_fact=1.5)
    return x, analyze_latents(da.from_array(x, chunks=(777, x.shape[1])), config, progress=QUIET)


def test_every_pair_histogram_equals_np_histogram2d(analysed):
    x, result = analysed
    original, pca = result.pairs
    assert original.coordinates == "original" and len(original.pairs) == 12 * 11 // 2
    assert original.counts.dtype == np.uint32 and original.counts.shape == (66, 16, 16)
    for p, (i, j) in enumerate(original.pairs):
        edges = original.edges
        expected, _, _ = np.histogram2d(x[:, i], x[:, j], bins=[edges[i], edges[j]])
        np.testing.assert_array_equal(original.counts[p], expected)
    # pca_rows: basis -> the PCA pairs count the rows of the PCA basis (trim fact 1.5)
    gaussians = result.fits.gaussians
    basis = x[trim_radius(x, gaussians.mu, gaussians.fwhm) < 1.5].astype(np.float64)
    scores = project(basis, result.pca.model.mean, result.pca.model.components)
    assert pca.rows == len(basis) == result.pca.rows
    for p in (0, 17, 65):
        i, j = pca.pairs[p]
        expected, _, _ = np.histogram2d(
            scores[:, i], scores[:, j], bins=[pca.edges[i], pca.edges[j]]
        )
        np.testing.assert_array_equal(pca.counts[p], expected)


def test_kernel_coverage_equals_the_direct_mahalanobis_count(analysed):
    x, result = analysed
    original = result.pairs[0]
    for p in (0, 30, 65):
        i, j = original.pairs[p]
        index = np.ix_([i, j], [i, j])
        mean2 = np.asarray(original.table["centre_x"][p]), np.asarray(original.table["centre_y"][p])
        basis_cov = (
            result.pca.model.components.T
            @ np.diag(result.pca.model.explained_variance)
            @ result.pca.model.components
        )
        direct = coverage_2d(x[:, [i, j]].astype(np.float64), np.array(mean2), basis_cov[index])
        kernel = [original.table[f"coverage_{n}sigma"][p] for n in (1, 2, 3)]
        np.testing.assert_allclose(kernel, direct, atol=1e-9)


def test_binned_kde_matches_gaussian_kde_within_two_percent():
    rng = np.random.default_rng(0)
    cov = np.array([[1.0, 0.7], [0.7, 2.0]])
    x = rng.multivariate_normal([1, -1], cov, 20000)
    edges = robust_edges(x, 32)
    counts, _, _ = np.histogram2d(x[:, 0], x[:, 1], bins=[edges[0], edges[1]])
    density = binned_kde(
        counts,
        (edges[0, 1] - edges[0, 0], edges[1, 1] - edges[1, 0]),
        np.cov(x, rowvar=False),
        len(x),
    )
    cx, cy = (0.5 * (e[1:] + e[:-1]) for e in edges)
    gx, gy = np.meshgrid(cx, cy, indexing="ij")
    reference = gaussian_kde(x.T)(np.vstack([gx.ravel(), gy.ravel()])).reshape(32, 32)
    assert np.abs(density - reference).sum() / reference.sum() <= 0.02


def test_score_ranks_a_banana_and_a_mixture_above_normal_pairs():
    rng = np.random.default_rng(1)
    n = 20000
    normal = rng.multivariate_normal(np.zeros(4), np.eye(4) + 0.3, n)
    banana = normal[:, 0] ** 2 + 0.3 * rng.standard_normal(n)
    mixture = np.where(rng.random(n) < 0.5, -2.5, 2.5) + 0.5 * rng.standard_normal(n)
    x = np.column_stack([normal, banana, mixture]).astype(np.float32)
    result = analyze_latents(
        da.from_array(x, chunks=(5000, 6)),
        AnalyzeConfig(trim_fact=None, pca_pairs="first:2"),
        progress=QUIET,
    )
    table = result.pairs[0].table
    order = np.argsort(-np.asarray(table["score"]))
    top = {(table["i"][k], table["j"][k]) for k in order[:5]}
    assert (0, 4) in top  # the banana
    assert all(4 in pair or 5 in pair for pair in top)  # non-normal components first
    normal_scores = [
        s for i, j, s in zip(table["i"], table["j"], table["score"], strict=True) if i < 4 and j < 4
    ]
    assert min(table["score"][k] for k in order[:5]) > max(normal_scores)
    assert len(result.pairs[1].pairs) == 1


def test_pair_selection_forms():
    corr = np.array([[1, 0.1, 0.9], [0.1, 1, -0.5], [0.9, -0.5, 1]])
    assert select_pairs("all", corr).tolist() == [[0, 1], [0, 2], [1, 2]]
    assert select_pairs("top:2", corr).tolist() == [[0, 2], [1, 2]]
    assert select_pairs("first:2", corr).tolist() == [[0, 1]]
    assert select_pairs("2,0;1,2", corr).tolist() == [[0, 2], [1, 2]]
    for bad in ("top:x", "0,0", "1,9", "a;b"):
        with pytest.raises(LsfError, match="pairs"):
            select_pairs(bad, corr)


def test_kernel_counts_chunks_independently_of_blocking():
    x = latent_like(1000)
    edges = robust_edges(x, 8)
    pairs = select_pairs("all", np.eye(12))
    whole = chunk_pair_counts(x, edges, pairs, x.mean(0), np.cov(x, rowvar=False))
    halves = [
        chunk_pair_counts(x[s], edges, pairs[b], x.mean(0), np.cov(x, rowvar=False))
        for s in (slice(0, 400), slice(400, None))
        for b in (slice(0, 30), slice(30, None))
    ]
    counts = np.concatenate(
        [halves[0]["counts"] + halves[2]["counts"], halves[1]["counts"] + halves[3]["counts"]]
    )
    np.testing.assert_array_equal(counts, whole["counts"])


def test_table_ellipses_equal_the_single_pair_construction(analysed):
    from lsf.stats.pairs import confidence_ellipse

    _, result = analysed
    original = result.pairs[0]
    cov = (
        result.pca.model.components.T
        @ np.diag(result.pca.model.explained_variance)
        @ result.pca.model.components
    )
    for p in (3, 40):
        i, j = original.pairs[p]
        mean2 = (original.table["centre_x"][p], original.table["centre_y"][p])
        ellipse = confidence_ellipse(mean2, cov[np.ix_([i, j], [i, j])], 1)
        assert original.table["semi_major_1sigma"][p] == pytest.approx(ellipse.semi_major)
        assert original.table["semi_minor_1sigma"][p] == pytest.approx(ellipse.semi_minor)
        assert original.table["angle_deg"][p] == pytest.approx(ellipse.angle_deg)


PAIR_FORMS = ["all", "first:0", "first:1", "first:4", "first:10", "first:99", "top:0", "top:3"]
PAIR_FORMS += ["top:45", "top:1000", "0,1", "2,0;1,2", "0,1;1,0;3,4", " 1 , 3 ; 4,0 "]


@pytest.mark.parametrize("spec", PAIR_FORMS)
@pytest.mark.parametrize("d", [5, 10, 12])
def test_every_pairs_form_counts_exactly_what_select_pairs_selects(spec, d):
    corr = np.corrcoef(np.random.default_rng(d).standard_normal((d, 40)))
    assert parse_pairs(spec).count(d) == len(select_pairs(spec, corr))


def test_first_k_selects_every_pair_among_the_first_k_components():
    assert len(select_pairs("first:10", np.eye(12))) == 45 == parse_pairs("first:10").count(12)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("top:-1", "K of top:K must be a whole number >= 0"),
        ("first:-2", "K of first:K must be a whole number >= 0"),
        ("top:1.5", "K of top:K must be a whole number >= 0"),
        ("0,0", "(0, 0) is not a pair of two distinct components"),
        ("1,2;", "'' is not i,j"),
        ("-1,2", "'-1,2' is not i,j"),
        ("0,1,2", "'0,1,2' is not i,j"),
    ],
)
def test_malformed_pairs_are_refused_in_one_line_naming_the_setting(spec, message):
    with pytest.raises(LsfError) as raised:
        parse_pairs(spec, "config: analyze.pairs")
    text = str(raised.value)
    assert text.startswith(f"config: analyze.pairs {spec!r}: ") and message in text
    assert "\n" not in text


def test_a_listed_component_beyond_the_dimension_is_refused_by_the_check():
    spec = parse_pairs("0,1;3,8", "analyze.pairs")
    assert spec.check(9) is spec
    with pytest.raises(LsfError, match="component 8 is beyond the latent dimension 8"):
        spec.check(8)
