"""Every figure function on small generated inputs returns a Figure with the expected parts."""

import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

from lsf.plots.distributions import (
    histogram_details,
    histograms_overview,
    mahalanobis_qq,
    training_curves,
    trimming_curve,
)
from lsf.plots.matrices import correlation_heatmap, explained_variance
from lsf.plots.pairs import pair_panels, path_projection
from lsf.stats.analysis_store import (
    Histograms,
    StoredAnalysis,
    StoredFits,
    StoredPairs,
    StoredPca,
)
from lsf.stats.fits import GaussianFits, fit_histograms
from lsf.stats.histograms import chunk_histograms, robust_edges
from lsf.stats.moments import Moments
from lsf.stats.pairs import (
    confidence_ellipse,
    coverage_2d,
    density_levels,
    expected_coverage,
)
from lsf.stats.pca import PCA
from tests.helpers import assert_close_to_scale


@pytest.fixture(scope="module")
def histograms():
    x = np.random.default_rng(0).normal(size=(3000, 5))
    edges = robust_edges(x, 20)
    counts = chunk_histograms(x, edges)["counts"]
    f = fit_histograms(edges, counts)
    return edges, counts, f


def test_histogram_overview_has_one_panel_per_component_with_a_fit(histograms):
    edges, counts, fits = histograms
    figure = histograms_overview(edges, counts, fits, columns=4)
    assert isinstance(figure, Figure) and len(figure.axes) == 8
    visible = [ax for ax in figure.axes if ax.axison]
    assert len(visible) == 5 and all(len(ax.lines) == 1 for ax in visible)


def test_histogram_details_name_mu_sigma_fwhm(histograms):
    edges, counts, fits = histograms
    figure = histogram_details(edges, counts, fits, [0, 3])
    assert len(figure.axes) == 2 and "FWHM" in figure.axes[1].get_title()


def test_line_figures():
    assert len(trimming_curve([1.0, 1.5], [50, 90], 100).axes[0].lines) == 1
    q = np.linspace(1, 10, 20)
    assert len(mahalanobis_qq(q, q * 1.1, 5).axes[0].lines) >= 2
    assert len(training_curves([1, 2], [0.5, 0.3], [0.6, 0.35]).axes[0].lines) == 2


def test_matrix_figures():
    corr = np.corrcoef(np.random.default_rng(1).normal(size=(50, 6)), rowvar=False)
    figure = correlation_heatmap(corr)
    assert len(figure.axes[0].images) == 1 and len(figure.axes) == 2  # heatmap + colorbar
    ratio = np.sort(np.random.default_rng(2).random(150))[::-1]
    ratio /= ratio.sum()
    figure = explained_variance(ratio, np.cumsum(ratio))
    assert len(figure.axes[0].patches) == 40 and len(figure.axes[1].lines[0].get_xdata()) == 120


def test_pair_panels_draw_scatter_contours_three_ellipses_and_centre():
    rng = np.random.default_rng(3)
    cov = np.array([[2.0, 0.8], [0.8, 1.0]])
    points = rng.multivariate_normal([1, 2], cov, 2000)
    counts, xe, ye = np.histogram2d(points[:, 0], points[:, 1], bins=30)
    levels = np.sort(density_levels(counts, [0.39, 0.86, 0.99]))
    density = (0.5 * (xe[1:] + xe[:-1]), 0.5 * (ye[1:] + ye[:-1]), counts, levels)
    panel = {
        "points": points,
        "mean2": np.array([1, 2]),
        "cov2": cov,
        "density": density,
        "names": ("a", "b"),
        "title": "a, b",
    }
    figure = pair_panels([panel, {**panel, "density": None}], columns=2)
    ax = figure.axes[0]
    assert any(isinstance(c, PathCollection) for c in ax.collections)  # the scatter
    assert len(ax.lines) == 4  # three ellipses + centre marker
    assert len(ax.collections) > 1  # + contour sets
    assert len(figure.axes[1].lines) == 4


def test_path_projection_shows_the_strip_and_the_path():
    figure = path_projection(
        np.zeros((8, 40, 3), np.uint8), np.zeros((5, 2)), np.ones((50, 2)), ("x", "y")
    )
    assert len(figure.axes[0].images) == 1 and len(figure.axes[1].lines) == 2


def test_confidence_ellipse_equals_the_matplotlib_gallery_construction():
    from matplotlib.patches import Ellipse as PatchEllipse
    from matplotlib.transforms import Affine2D

    cov = np.array([[3.0, 1.2], [1.2, 1.0]])
    mean = np.array([0.5, -1.0])
    for n in (1, 2, 3):
        pearson = cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1])
        patch = PatchEllipse((0, 0), 2 * np.sqrt(1 + pearson), 2 * np.sqrt(1 - pearson))
        transform = (
            Affine2D()
            .rotate_deg(45)
            .scale(np.sqrt(cov[0, 0]) * n, np.sqrt(cov[1, 1]) * n)
            .translate(*mean)
        )
        t = np.linspace(0, 2 * np.pi, 50)
        circle = np.stack([np.cos(t), np.sin(t)], axis=1)  # the patch's unit-circle outline
        gallery = transform.transform(patch.get_patch_transform().transform(circle))
        ours = confidence_ellipse(mean, cov, n)
        # Every gallery outline point satisfies our ellipse equation: d^2 == n^2.
        centred = gallery - mean
        d2 = np.einsum("ij,jk,ik->i", centred, np.linalg.inv(cov), centred)
        assert_close_to_scale(d2, n * n, rtol=1e-6)
        out = ours.outline(64) - mean
        assert_close_to_scale(
            np.einsum("ij,jk,ik->i", out, np.linalg.inv(cov), out), n * n, rtol=1e-9
        )
        values = np.linalg.eigvalsh(cov)
        assert ours.semi_major == pytest.approx(n * np.sqrt(values[1]))


def test_coverage_of_a_true_bivariate_normal_matches_the_expectation():
    rng = np.random.default_rng(4)
    cov = np.array([[1.0, -0.6], [-0.6, 2.0]])
    points = rng.multivariate_normal([0, 0], cov, 40000)
    observed = coverage_2d(points, np.zeros(2), cov)
    expected = np.array([expected_coverage(n) for n in (1, 2, 3)])
    assert expected[0] == pytest.approx(0.3934693)
    np.testing.assert_allclose(observed, expected, atol=4 * np.sqrt(0.25 / 40000))


def test_density_levels_enclose_the_requested_mass():
    density = np.random.default_rng(5).random((40, 40))
    for mass, level in zip([0.2, 0.5, 0.9], density_levels(density, [0.2, 0.5, 0.9]), strict=True):
        enclosed = density[density >= level].sum() / density.sum()
        assert mass <= enclosed < mass + 2 * density.max() / density.sum()


def test_hdr_levels_equal_the_normal_density_on_the_n_sigma_ellipses():
    """Closed form: for N(0, S) the super-level set holding mass 1 - exp(-n^2/2) is the
    n-sigma ellipse, so its level is exp(-n^2/2) / (2 pi sqrt(det S))."""
    from lsf.plots.densities import hdr_levels

    cov = np.array([[2.0, 0.6], [0.6, 0.5]])
    axis = np.linspace(-9, 9, 801)
    gx, gy = np.meshgrid(axis, axis, indexing="ij")
    points = np.stack([gx, gy], axis=-1)
    d2 = np.einsum("...i,ij,...j->...", points, np.linalg.inv(cov), points)
    density = np.exp(-0.5 * d2) / (2 * np.pi * np.sqrt(np.linalg.det(cov)))
    expected = np.sort(
        [np.exp(-0.5 * n * n) / (2 * np.pi * np.sqrt(np.linalg.det(cov))) for n in (1, 2, 3)]
    )
    assert np.allclose(hdr_levels(density), expected, rtol=0.01)


def test_log_off_diagonal_matches_numpy():
    from lsf.plots.matrices import log_off_diagonal, off_diagonal_heatmap

    rng = np.random.default_rng(1)
    corr = np.eye(6) + np.triu(rng.normal(scale=1e-9, size=(6, 6)), 1)
    corr = np.triu(corr) + np.triu(corr, 1).T
    corr[1, 4] = corr[4, 1] = -3e-6
    logged, largest, where = log_off_diagonal(corr)
    off = ~np.eye(6, dtype=bool)
    assert largest == np.abs(corr[off]).max() == 3e-6 and where == (1, 4)
    assert np.allclose(logged[off], np.log10(np.abs(corr[off])))
    assert np.isnan(np.diag(logged)).all()
    assert log_off_diagonal(np.eye(3))[1] == 0.0
    figure = off_diagonal_heatmap(corr, "PCA")
    assert "max |off-diagonal| = 3e-06 at (1, 4)" in figure.axes[0].get_title()


def test_mahalanobis_qq_shows_the_bulk_beside_a_log_scaled_tail():
    from scipy import stats

    from lsf.plots.distributions import bulk_window

    dof = 64
    probabilities = (np.arange(200) + 0.5) / 200
    chi2 = stats.chi2.ppf(probabilities, dof)
    observed = chi2.copy()
    observed[-2:] = [5000.0, 11000.0]  # far outliers beyond the 99th percentile
    low, high = bulk_window(chi2, observed, dof)
    lo, hi = stats.chi2.ppf([0.01, 0.99], dof)
    assert lo * 0.9 < low < lo and hi < high < 1.1 * hi  # the tail does not widen the bulk
    figure = mahalanobis_qq(chi2, observed, dof)
    bulk, full = figure.axes[:2]
    assert bulk.get_xscale() == "linear" and full.get_xscale() == full.get_yscale() == "log"
    assert full.get_ylim()[1] >= 11000 and bulk.get_ylim()[1] == high
    assert "largest observed 1.1e+04" in full.get_title()


def _stored_pairs(x: np.ndarray, kde_cov: np.ndarray, bins: int = 24) -> StoredPairs:
    """The pair grids `lsf analyze` stores for pairs (0, 1) and (0, 2), built with numpy."""
    edges = robust_edges(x, bins)
    pairs = np.array([[0, 1], [0, 2]])
    counts = np.stack(
        [np.histogram2d(x[:, i], x[:, j], bins=[edges[i], edges[j]])[0] for i, j in pairs]
    ).astype(np.uint32)
    return StoredPairs("original", pairs, edges, counts, len(x), kde_cov)


def test_pair_density_is_the_analysis_kde_of_the_stored_counts_or_of_sampled_rows():
    from lsf.plots.densities import ANALYSIS, SAMPLE, hdr_levels, pair_density
    from lsf.stats.pairs import binned_kde_batch, scott_factor

    x = np.random.default_rng(4).multivariate_normal(
        [0, 1, 2], [[1, 0.5, 0.2], [0.5, 2, 0.1], [0.2, 0.1, 0.7]], size=4000
    )
    cov = np.cov(x, rowvar=False)
    kde_cov = cov * np.outer([1.0, 0.9, 1.1], [1.0, 0.9, 1.1])  # what it recorded, not `cov`
    stored = _stored_pairs(x, kde_cov)
    edges, n = stored.edges, len(x)
    widths = np.array([[edges[0, 1] - edges[0, 0], edges[2, 1] - edges[2, 0]]])
    cov2 = kde_cov[np.ix_([0, 2], [0, 2])]
    expected = binned_kde_batch(stored.counts[1:2].astype(float), widths, cov2[None], n)[0]
    density = pair_density(stored, 0, 2, x, cov)
    assert density.source == ANALYSIS and density.rows == n
    assert np.allclose(density.values, expected) and np.allclose(
        density.levels, hdr_levels(expected)
    )
    assert density.factor == scott_factor(n)
    swapped = pair_density(stored, 2, 0, x, cov)  # stored as (0, 2): drawn transposed
    assert np.allclose(swapped.values, expected.T) and np.allclose(swapped.x, density.y)
    fewer = StoredPairs("pca", stored.pairs, edges, stored.counts, 1000, kde_cov)
    recorded = pair_density(fewer, 0, 1, x, cov)  # the recorded rows, not len(x)
    widths = np.array([[edges[0, 1] - edges[0, 0], edges[1, 1] - edges[1, 0]]])
    own = binned_kde_batch(stored.counts[:1].astype(float), widths, kde_cov[None, :2, :2], 1000)
    assert recorded.rows == 1000 and np.allclose(recorded.values, own[0])
    rows = x[:1500]
    fallback = pair_density(stored, 1, 2, rows, cov)  # (1, 2) was not counted
    grid = robust_edges(rows[:, [1, 2]], 24)
    counts = np.histogram2d(rows[:, 1], rows[:, 2], bins=[grid[0], grid[1]])[0]
    own = binned_kde_batch(
        counts[None], np.diff(grid[:, :2]).T, cov[np.ix_([1, 2], [1, 2])][None], 1500
    )[0]
    assert fallback.source == SAMPLE and fallback.rows == 1500 and np.allclose(fallback.values, own)


def test_histogram_details_wrap_into_rows(histograms):
    edges, counts, fits = histograms
    figure = histogram_details(edges, counts, fits, range(5), "pc", columns=2)
    visible = [ax for ax in figure.axes if ax.axison]
    assert len(figure.axes) == 6 and len(visible) == 5 and visible[4].get_title().startswith("pc4")


def test_counts_coverage_matches_counting_the_points():
    from lsf.plots.ellipses import counts_coverage

    rng = np.random.default_rng(3)
    cov = np.array([[2.0, 1.1], [1.1, 1.5]])
    x = rng.multivariate_normal([1.0, -2.0], cov, size=200_000)
    edges = robust_edges(x, 64)
    inside_grid = ((x >= edges[:, 0]) & (x <= edges[:, -1])).all(axis=1)
    counts, _, _ = np.histogram2d(x[:, 0], x[:, 1], bins=[edges[0], edges[1]])
    # an ellipse other than the sample's own: shifted centre, another tilt
    mean2, cov2 = np.array([1.3, -1.8]), np.array([[1.5, -0.4], [-0.4, 1.0]])
    got = counts_coverage(counts, edges[0], edges[1], mean2, cov2)
    expected = coverage_2d(x[inside_grid], mean2, cov2)
    np.testing.assert_allclose(got, expected, atol=4e-3)
    assert np.isnan(
        counts_coverage(np.zeros((4, 4)), edges[0][:5], edges[1][:5], mean2, cov2)
    ).all()


def _analysis_like(x: np.ndarray, trimmed: np.ndarray) -> StoredAnalysis:
    """An analysis in memory, computed with numpy from rows `x` and the rows `trimmed` of
    the PCA basis."""
    mean, cov = x.mean(axis=0), np.cov(x, rowvar=False)
    basis_mean, basis_cov = trimmed.mean(axis=0), np.cov(trimmed, rowvar=False)
    variance, vectors = np.linalg.eigh(basis_cov)
    order = np.argsort(variance)[::-1]
    components, variance = vectors[:, order].T, variance[order]
    scores = (trimmed - basis_mean) @ components.T
    d = x.shape[1]
    nan = np.full(d, np.nan)

    def fits(mu, sigma):
        return GaussianFits(nan, mu, sigma, 2.355 * sigma, nan, np.ones(d, dtype=bool))

    ratio = variance / variance.sum()
    model = PCA(basis_mean, components, variance, ratio, np.cumsum(ratio), d)
    hist = Histograms(np.zeros((d, 2)), np.zeros((d, 1)))
    return StoredAnalysis.from_views(
        d,
        moments=Moments(len(x), mean, cov, np.corrcoef(x, rowvar=False), nan, nan, nan, nan, 0),
        fits=StoredFits(hist, fits(mean + 0.1, np.sqrt(np.diag(cov)) * 0.9), np.zeros(d, bool)),
        pca=StoredPca(
            model,
            "trimmed",
            len(trimmed),
            np.corrcoef(scores, rowvar=False),
            nan,
            nan,
            hist,
            fits(np.full(d, 0.05), np.sqrt(variance) * 1.1),
        ),
    )


def test_ellipse_sources_are_the_fits_the_trimmed_rows_or_all_rows():
    from lsf.plots.ellipses import ellipse_moments

    rng = np.random.default_rng(4)
    a = rng.normal(size=(4, 4))
    x = rng.normal(size=(5000, 4)) @ a + np.array([1.0, 2.0, -1.0, 0.5])
    trimmed = x[np.abs(x - x.mean(axis=0)).max(axis=1) < 2.5 * x.std(axis=0).max()]
    stored = _analysis_like(x, trimmed)
    mean, cov = ellipse_moments(stored, "original", "moments")
    assert_close_to_scale(mean, x.mean(axis=0), rtol=1e-7) and assert_close_to_scale(
        cov, np.cov(x, rowvar=False), rtol=1e-7
    )
    mean, cov = ellipse_moments(stored, "original", "trimmed")
    assert_close_to_scale(mean, trimmed.mean(axis=0), rtol=1e-7)
    np.testing.assert_allclose(cov, np.cov(trimmed, rowvar=False), atol=1e-10)
    model = stored.pca.model
    scores = (x - model.mean) @ model.components.T
    mean, cov = ellipse_moments(stored, "pca", "moments")
    np.testing.assert_allclose(mean, scores.mean(axis=0), atol=1e-10)
    np.testing.assert_allclose(cov, np.cov(scores, rowvar=False), atol=1e-10)
    mean, cov = ellipse_moments(stored, "pca", "trimmed")
    assert np.allclose(mean, 0) and np.allclose(cov, np.diag(model.explained_variance))
    fitted = stored.fits.gaussians
    fitted.mu[2], fitted.sigma[2] = np.nan, np.nan  # a failed fit
    mean, cov = ellipse_moments(stored, "original", "fits")
    sigma = np.sqrt(np.diag(cov))
    assert_close_to_scale(mean[[0, 1, 3]], x.mean(axis=0)[[0, 1, 3]] + 0.1, rtol=1e-7)
    assert_close_to_scale(sigma[[0, 1, 3]], fitted.sigma[[0, 1, 3]], rtol=1e-7)
    np.testing.assert_allclose(cov / np.outer(sigma, sigma), stored.moments.corr, atol=1e-12)
    assert mean[2] == pytest.approx(trimmed.mean(axis=0)[2])
    assert sigma[2] == pytest.approx(trimmed.std(axis=0, ddof=1)[2])
    mean, cov = ellipse_moments(stored, "pca", "fits")
    assert np.allclose(mean, 0.05) and np.allclose(np.sqrt(np.diag(cov)), stored.pca.fits.sigma)


def test_study_figures_have_their_panels():
    from lsf.plots.study import (
        alignment_heatmap,
        density_grid,
        labelled_rows,
        path_planes,
        plane_lines,
        split_strip,
    )

    x = np.linspace(-3, 3, 12)
    values = np.exp(-0.5 * (x[:, None] ** 2 + x[None, :] ** 2))
    panel = {"density": (x, x, values, np.array([0.1, 0.5])), "mean2": np.zeros(2)}
    panels = [{**panel, "cov2": np.eye(2), "title": f"p{k}"} for k in range(5)]
    grid = density_grid(panels, 3, sigmas=(1, 2))
    drawn = [ax for ax in grid.axes if ax.axison]
    assert len(drawn) == 5 and all(len(ax.lines) == 2 for ax in drawn)
    heat = alignment_heatmap(np.zeros((3, 6)), [1.3, 1.5, 1.7], list("abcdef"), np.ones((3, 4)))
    assert len(heat.axes) == 4  # two heatmaps, two colour bars
    strip = np.arange(2 * 15 * 3, dtype=np.uint8).reshape(2, 15, 3)
    parts = split_strip(strip, 3)
    assert len(parts) == 3 and np.array_equal(np.concatenate(parts, axis=1), strip)
    rows = labelled_rows([("a", parts, ["1", "2", "3"]), ("b", parts[:2], ["4", "5"])])
    assert [ax.get_xlabel() for ax in rows.axes if ax.axison] == ["1", "2", "3", "4", "5"]
    path = np.linspace(np.zeros(4), np.ones(4), 5)
    cloud = np.random.default_rng(0).normal(size=(50, 4))
    planes = path_planes(path, cloud, [(0, 1), (2, 3)])
    assert len(planes.axes) == 2 and len(planes.axes[0].lines) == 3
    lines = plane_lines(
        [path[:, :2], path[:, 2:]], [0, 90], cloud[:, :2], np.zeros(2), np.eye(2), "xy"
    )
    assert len(lines.axes[0].lines) == 3 + 2 + 1  # ellipses, lines, centre
