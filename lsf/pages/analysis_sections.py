"""The analysis's own sections of `lsf report`: the headline numbers, training (curves and
reconstructions of the run the analysis points to), the component histograms, trimming, PCA
and multivariate normality.

Each function takes the report's `Page` and the `StoredAnalysis` and adds one section.
Called by `lsf.report.report`.
"""

from __future__ import annotations

import csv
import html

import fsspec
import numpy as np

from lsf.core.config import AnalyzeConfig, ReportConfig
from lsf.core.outputs import join
from lsf.pages.page import Page
from lsf.plots.distributions import (
    histogram_details,
    histograms_overview,
    mahalanobis_qq,
    training_curves,
    trimming_curve,
)
from lsf.plots.matrices import (
    correlation_heatmap,
    explained_variance,
    log_off_diagonal,
    off_diagonal_heatmap,
)
from lsf.stats.analysis_store import StoredAnalysis


def headline(page: Page, a: StoredAnalysis) -> None:
    h = a.headline
    page.section("headline", "Headline numbers")
    page.table(
        ["quantity", "value"],
        [
            ["latents", a.n_samples],
            ["latent dimension", a.latent_dim],
            ["non-finite rows (excluded)", h.non_finite_rows],
            ["components fitted", h.fitted],
            ["dominant components", len(h.dominant_components)],
            ["max |correlation| between components", h.max_abs_correlation],
            ["PCA basis", f"{a.pca.basis} ({a.pca.rows} rows)"],
            *[[f"PCA components for {k} of the variance", v] for k, v in h.components_for.items()],
            [
                "max |off-diagonal| correlation in PCA coordinates",
                h.max_abs_off_diagonal_correlation,
            ],
        ],
    )


def training(page: Page, run: str) -> None:
    page.section("training", "Training", f"Run folder <code>{html.escape(run)}</code>.")
    fs, folder = fsspec.core.url_to_fs(run)
    metrics, reconstructions = join(folder, "metrics.csv"), join(folder, "reconstructions.png")
    if fs.isfile(metrics):
        with fs.open(metrics, "r") as f:
            rows = list(csv.DictReader(f))
        epochs = [int(r["epoch"]) for r in rows]
        page.figure(
            "training_curves",
            training_curves(
                epochs, [float(r["train_loss"]) for r in rows], [float(r["val_loss"]) for r in rows]
            ),
            "Reconstruction loss per epoch (log scale). Look for: both curves falling and "
            "flattening together; validation far above train means overfitting.",
        )
    if fs.isfile(reconstructions):
        fs.get_file(reconstructions, str(page.folder / "reconstructions.png"))
        page.image(
            "reconstructions.png",
            "Validation images (top) and their reconstructions (bottom). Look for: faces "
            "that keep pose, colour and layout; blur is the autoencoder's limit.",
            css="grid",
        )


def dominant_rule_text(analyze_config: AnalyzeConfig) -> str:
    """The analysis's dominant rule in words (the settings it ran with)."""
    if analyze_config.dominant_rule == "study":
        return (
            f"|mu| > {analyze_config.dominant_min_abs_mu:g} and half width "
            f"FWHM/2 > {analyze_config.dominant_min_half_width:g}, the study's rule"
        )
    return "|mu| > 2 median sigma or FWHM > 2 median FWHM"


def histograms(page: Page, a: StoredAnalysis, config: ReportConfig) -> None:
    d = a.latent_dim
    fits = a.fits.gaussians
    dominant = np.flatnonzero(a.fits.dominant)
    detail = list(dominant[: config.detail_components]) or list(range(min(d, 4)))
    rule = dominant_rule_text(a.config)
    page.section(
        "histograms",
        "Component histograms",
        "Each latent component with its Gaussian fit (FWHM = 2.355 sigma). Dominant "
        f"components ({html.escape(rule)}) are detailed.",
    )
    edges, counts = a.fits.hist.edges, a.fits.hist.counts
    page.figure(
        "histograms",
        histograms_overview(edges, counts, fits),
        "All components. Look for: bars that follow the red Gaussian; skewed, flat-topped "
        "or two-peaked bars are components that are not normal.",
    )
    page.figure(
        "histogram_details",
        histogram_details(edges, counts, fits, detail, columns=5),
        "Detail of the dominant (or first) components. Look for: the fitted mu and sigma in "
        "the titles, and tails the Gaussian misses.",
    )
    page.figure(
        "correlation",
        correlation_heatmap(a.moments.corr),
        "Pearson correlation between latent components. Look for: strong off-diagonal "
        "colour, i.e. components that encode the same factor (PCA below removes it).",
    )


def trimming(page: Page, a: StoredAnalysis) -> None:
    page.section("trimming", "Trimming")
    page.figure(
        "trimming",
        trimming_curve(a.trimming.facts, a.trimming.survivors, a.moments.count),
        "Fraction of latents kept for each fact. Look for: the fact where the curve reaches "
        "its plateau; a slow climb means long tails in some component.",
    )


def pca(page: Page, a: StoredAnalysis) -> None:
    pca, d = a.pca, a.latent_dim
    page.section("pca", "PCA", f"Eigen-decomposition of the covariance of the {pca.basis} set.")
    page.figure(
        "explained_variance",
        explained_variance(pca.model.explained_variance_ratio, pca.model.cumulative_ratio),
        "Explained variance ratio (first 40) and cumulative ratio (first 120). Look for: "
        "where the cumulative curve crosses the 0.8/0.9/0.95 lines (components needed).",
    )
    shown = min(d, 32)
    pca_fits = pca.fits.first(shown)
    page.figure(
        "pca_histograms",
        histograms_overview(
            pca.hist.edges[:shown],
            pca.hist.counts[:shown],
            pca_fits,
            label="pc",
        ),
        f"The first {shown} PCA components with Gaussian fits. Look for: the same as above, "
        "now on uncorrelated axes.",
    )
    _, largest, (i, j) = log_off_diagonal(pca.corr)
    page.figure(
        "pca_correlation",
        off_diagonal_heatmap(pca.corr, "Correlation in PCA coordinates"),
        f"log10 |off-diagonal correlation| in PCA coordinates (diagonal blank); the largest "
        f"is {largest:.2g} (pc{i}, pc{j}). Look for: everything dark, far below 0.01: PCA "
        "diagonalised the covariance; bright cells would be the diagonalisation error.",
    )


def normality(page: Page, a: StoredAnalysis) -> None:
    normality = a.normality
    dof = normality.dof
    page.section(
        "normality",
        "Multivariate normality",
        f"Squared Mahalanobis distances against chi2({dof}): in high dimension the mass sits "
        "near radius sqrt(D), so coverage is read at chi2 quantile radii.",
    )
    page.figure(
        "mahalanobis_qq",
        mahalanobis_qq(normality.chi2_quantiles, normality.observed_quantiles, dof),
        "QQ plot of squared Mahalanobis distances. Left: the bulk (chi2 quantiles 1 % to 99 %) "
        "on linear axes; right: every quantile on log axes, so the tail shows beside the bulk. "
        "Look for: points on the dashed line; points above it on the right are latents "
        "further out than a normal would put them (heavy tails, outliers).",
    )
    cover = normality.coverage
    page.table(
        ["chi2 level", "radius^2", "observed fraction inside"],
        [
            [f"{level:g}", float(r), float(o)]
            for level, r, o in zip(cover.levels, cover.radii_squared, cover.observed, strict=True)
        ],
    )
    mardia = normality.mardia
    page.table(
        ["Mardia test", "statistic", "p-value"],
        [
            ["skewness", mardia.skewness_statistic, mardia.skewness_p],
            ["kurtosis (z)", mardia.kurtosis_z, mardia.kurtosis_p],
        ],
    )
