"""The regions pass inside `lsf analyze`: the streamed labels equal scikit-learn's `predict`
mapped to regions (-1 beyond the radius) on every row, the per-region sums equal numpy on
the labelled rows, the pass changes no existing output, too few rows warn, and bad settings
are refused before any read."""

import dask.array as da
import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture
from sklearn.mixture._gaussian_mixture import _compute_precision_cholesky

from lsf.core.config import AnalyzeConfig
from lsf.core.errors import LsfError
from lsf.core.progress import QUIET
from lsf.stats.analysis import analyze_latents
from lsf.stats.analysis_store import analysis_arrays
from tests.helpers import latent_like

D = 8
SMALL = {"pairs": "first:2", "pca_pairs": "first:2", "sample_rows": 3000}


def three_normals(n_per=1000, d=D, seed=0):
    rng = np.random.default_rng(seed)
    centres = 4 * rng.standard_normal((3, d))
    truth = np.repeat(np.arange(3), n_per)
    order = rng.permutation(len(truth))
    x = (centres[truth] + rng.standard_normal((len(truth), d))).astype(np.float32)
    split = rng.choice([0, 0, 0, 1, 2], size=len(truth)).astype(np.int8)
    return x[order], truth[order], split


def sklearn_mixture(f) -> GaussianMixture:
    model = GaussianMixture(len(f.mixture_weights), covariance_type="full")
    model.weights_ = f.mixture_weights
    model.means_ = f.mixture_means
    model.covariances_ = f.mixture_covariances
    model.precisions_cholesky_ = _compute_precision_cholesky(f.mixture_covariances, "full")
    return model


@pytest.fixture(scope="module")
def labelled():
    x, truth, split = three_normals()
    z, s = da.from_array(x, chunks=(700, D)), da.from_array(split, chunks=700)
    config = AnalyzeConfig(split="train", regions_max_k=5, **SMALL)
    return x, truth, split, analyze_latents(z, config, split=s, progress=QUIET)


def test_streamed_labels_equal_sklearn_predict_mapped_to_regions(labelled):
    x, truth, _, result = labelled
    f = result.fragmentation
    scores = (x.astype(np.float64) - f.pca_mean) @ f.pca_components.T
    region = f.component_region[sklearn_mixture(f).predict(scores)]
    d2 = np.array(
        [
            (s - f.score_means[r]) @ np.linalg.solve(f.score_covariances[r], s - f.score_means[r])
            for s, r in zip(scores, region, strict=True)
        ]
    )
    expected = np.where(d2 <= f.radius2[region], region, -1)
    np.testing.assert_array_equal(result.region_labels, expected)
    assert f.regions == 3 and adjusted_rand_score(truth, region) >= 0.95
    assert f.hdbscan_clusters == 3 and f.adjusted_rand >= 0.95


def test_region_sums_equal_numpy_on_the_labelled_analysed_rows(labelled):
    x, _, split, result = labelled
    f, labels = result.fragmentation, result.region_labels
    analysed = split == 0
    assert f.outside == ((labels == -1) & analysed).sum()
    for r in range(f.regions):
        rows = x[analysed & (labels == r)].astype(np.float64)
        assert f.counts[r] == len(rows)
        np.testing.assert_allclose(f.means[r], rows.mean(axis=0), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(f.covariances[r], np.cov(rows.T), rtol=1e-9, atol=1e-12)
        values = np.linalg.eigvalsh(np.cov(rows.T))[::-1]
        np.testing.assert_allclose(f.explained_variance_ratio[r], values / values.sum(), atol=1e-9)
    np.testing.assert_allclose(f.shares, f.counts / analysed.sum(), rtol=1e-12)


def test_coverage_nearest_rows_and_inside_shares_equal_direct_counts(labelled):
    x, _, split, result = labelled
    f = result.fragmentation
    scores = (x.astype(np.float64) - f.pca_mean) @ f.pca_components.T
    region = f.component_region[sklearn_mixture(f).predict(scores)]
    d2 = np.stack(
        [
            np.einsum("ij,ij->i", scores - m, np.linalg.solve(c, (scores - m).T).T)
            for m, c in zip(f.score_means, f.score_covariances, strict=True)
        ],
        axis=1,
    )
    own = d2[np.arange(len(x)), region]
    analysed = split == 0
    levels = stats.chi2.ppf(f.coverage_levels, f.components)
    for r in range(f.regions):
        mine = analysed & (region == r)
        np.testing.assert_allclose(f.coverage[r], [(own[mine] <= c).mean() for c in levels])
        labelled_rows = np.flatnonzero(mine & (own <= f.radius2[r]))
        nearest = labelled_rows[np.lexsort((labelled_rows, own[labelled_rows]))][:8]
        np.testing.assert_array_equal(f.nearest_rows[r], nearest)
    inside = (d2 <= stats.chi2.ppf(0.99, f.components)).any(axis=1)
    assert f.inside["real"] == pytest.approx(inside[split > 0].mean(), rel=1e-12)
    assert "held-out split" in f.parameters["inside_real_rows"]
    assert f.inside["uniform-box"] < 0.2 and f.inside["real"] > 0.95


def test_gaps_and_verdict_of_three_separated_regions(labelled):
    f = labelled[3].fragmentation
    assert f.verdict.startswith("3 regions; the largest holds 3")
    upper = f.gap[np.triu_indices(3, 1)]
    assert (upper < 1e-6).all() and (f.separation[np.triu_indices(3, 1)] > 8).all()


def test_the_regions_pass_changes_no_existing_output():
    z = da.from_array(latent_like(3000), chunks=(700, 12))
    on = analyze_latents(z, AnalyzeConfig(**SMALL), progress=QUIET)
    off = analyze_latents(z, AnalyzeConfig(regions=False, **SMALL), progress=QUIET)
    assert off.fragmentation is None and off.region_labels is None
    assert on.fragmentation is not None and len(on.region_labels) == 3000
    a, b = analysis_arrays(on), analysis_arrays(off)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert on.reads == off.reads  # labelled in the third read: no read of its own


def test_a_200_row_store_of_256_d_latents_warns():
    x = np.random.default_rng(1).standard_normal((200, 256)).astype(np.float32)
    result = analyze_latents(
        da.from_array(x, chunks=(100, 256)), AnalyzeConfig(**SMALL), progress=QUIET
    )
    text = "\n".join(result.warnings)
    assert "the PCA basis rests on 200 rows, fewer than the minimum 1280" in text
    assert "trim_fact 1.5 keeps 147 of 200 rows, fewer than the minimum 1280" in text
    assert "mixtures fitted for k <= 1 only: a component needs 160 rows" in text
    assert result.fragmentation.regions == 1 and result.pca.rows == 200


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"regions_max_k": 50}, "regions_max_k 50 exceeds the mixture sample of 40 rows"),
        ({"regions_components": 9}, "regions_components 9 exceeds the latent dimension 8"),
    ],
)
def test_bad_regions_settings_are_refused_before_any_read(settings, message):
    class Unreadable:
        shape = (40, D)

        def to_delayed(self):
            raise AssertionError("read")

    with pytest.raises(LsfError, match=message):
        analyze_latents(Unreadable(), AnalyzeConfig(**settings), progress=QUIET)


def test_a_store_too_small_for_a_mixture_skips_the_pass_with_a_warning():
    x = np.random.default_rng(2).standard_normal((4, 3)).astype(np.float32)
    config = AnalyzeConfig(regions_max_k=1, **SMALL)
    result = analyze_latents(da.from_array(x, chunks=(2, 3)), config, progress=QUIET)
    assert result.fragmentation is None and result.region_labels is None
    assert any(w.startswith("regions: skipped: 4 sample rows") for w in result.warnings)
