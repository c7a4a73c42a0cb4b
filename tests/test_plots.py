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
from lsf.stats.fits import fit_histograms
from lsf.stats.histograms import chunk_histograms, robust_edges
from lsf.stats.pairs import (
    confidence_ellipse,
    coverage_2d,
    density_levels,
    expected_coverage,
)


@pytest.fixture(scope="module")
def histograms():
    x = np.random.default_rng(0).normal(size=(3000, 5))
    edges = robust_edges(x, 20)
    counts = chunk_histograms(x, edges)["counts"]
    f = fit_histograms(edges, counts)
    fits = {"amplitude": f.amplitude, "mu": f.mu, "sigma": f.sigma, "fwhm": f.fwhm}
    return edges, counts, fits


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
        np.testing.assert_allclose(d2, n * n, rtol=1e-6)
        out = ours.outline(64) - mean
        np.testing.assert_allclose(
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


def _stored_analysis(x: np.ndarray, bins: int = 24) -> dict:
    """The arrays `lsf analyze` stores for pairs (0, 1) and (0, 2), built with numpy."""
    edges = robust_edges(x, bins)
    pairs = np.array([[0, 1], [0, 2]])
    counts = np.stack(
        [np.histogram2d(x[:, i], x[:, j], bins=[edges[i], edges[j]])[0] for i, j in pairs]
    ).astype(np.uint32)
    components = np.linalg.eigh(np.cov(x, rowvar=False))[1].T[::-1]
    return {
        "count": np.array([len(x)]),
        "cov": np.cov(x, rowvar=False),
        "pairs": pairs,
        "pair_counts": counts,
        "pair_edges": edges,
        "pca_components": components,
        "pca_pairs": pairs,
        "pca_pair_counts": counts,
        "pca_pair_edges": edges,
    }


def test_pair_density_is_the_analysis_kde_of_the_stored_counts_or_of_sampled_rows():
    from lsf.plots.densities import ANALYSIS, SAMPLE, hdr_levels, pair_density
    from lsf.stats.pairs import binned_kde_batch, scott_factor

    x = np.random.default_rng(4).multivariate_normal(
        [0, 1, 2], [[1, 0.5, 0.2], [0.5, 2, 0.1], [0.2, 0.1, 0.7]], size=4000
    )
    arrays = _stored_analysis(x)
    edges, n = arrays["pair_edges"], len(x)
    widths = np.array([[edges[0, 1] - edges[0, 0], edges[2, 1] - edges[2, 0]]])
    cov2 = arrays["cov"][np.ix_([0, 2], [0, 2])]
    expected = binned_kde_batch(arrays["pair_counts"][1:2].astype(float), widths, cov2[None], n)[0]
    density = pair_density(arrays, "", 0, 2, x)
    assert density.source == ANALYSIS and density.rows == n
    assert np.allclose(density.values, expected) and np.allclose(
        density.levels, hdr_levels(expected)
    )
    assert density.factor == scott_factor(n)
    swapped = pair_density(arrays, "", 2, 0, x)  # stored as (0, 2): drawn transposed
    assert np.allclose(swapped.values, expected.T) and np.allclose(swapped.x, density.y)
    pca_cov = arrays["pca_components"] @ arrays["cov"] @ arrays["pca_components"].T
    pca = pair_density(arrays, "pca_", 0, 1, x)
    pca_widths = np.array([[edges[0, 1] - edges[0, 0], edges[1, 1] - edges[1, 0]]])
    pca_expected = binned_kde_batch(
        arrays["pair_counts"][:1].astype(float), pca_widths, pca_cov[None, :2, :2], n
    )[0]
    assert np.allclose(pca.values, pca_expected)
    rows = x[:1500]
    fallback = pair_density(arrays, "", 1, 2, rows)  # (1, 2) was not counted
    grid = robust_edges(rows[:, [1, 2]], 24)
    counts = np.histogram2d(rows[:, 1], rows[:, 2], bins=[grid[0], grid[1]])[0]
    own = binned_kde_batch(
        counts[None], np.diff(grid[:, :2]).T, arrays["cov"][np.ix_([1, 2], [1, 2])][None], 1500
    )[0]
    assert fallback.source == SAMPLE and fallback.rows == 1500 and np.allclose(fallback.values, own)
