"""One-dimensional figures: component histograms with Gaussian fits, the trimming curve,
the Mahalanobis QQ plot against chi2(D) and the training curves."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
from scipy import stats

from lsf.plots import new_figure, panel_grid
from lsf.stats.fits import GaussianFits, gaussian


def _fit_curve(axis, edges, amplitude, mu, sigma) -> None:
    if np.isfinite(sigma) and sigma > 0:
        x = np.linspace(edges[0], edges[-1], 200)
        axis.plot(x, gaussian(x, amplitude, mu, sigma), color="crimson", lw=1)


def histograms_overview(edges, counts, fits: GaussianFits, columns: int = 16, label="z") -> Figure:
    """Small panels for every component: histogram bars and the fitted Gaussian."""
    d = len(counts)
    rows = -(-d // columns)
    figure, axes = new_figure(rows, columns, width=columns * 0.9, height=rows * 0.75 + 0.4)
    for k, axis in enumerate(axes.ravel()):
        axis.set_xticks([]), axis.set_yticks([])
        if k >= d:
            axis.set_axis_off()
            continue
        axis.stairs(counts[k], edges[k], fill=True, color="steelblue")
        _fit_curve(axis, edges[k], fits.amplitude[k], fits.mu[k], fits.sigma[k])
        axis.set_title(f"{label}{k}", fontsize=6, pad=1)
    figure.suptitle(f"All {d} component histograms with Gaussian fits", fontsize=10)
    return figure


def histogram_details(
    edges, counts, fits: GaussianFits, components, label="z", columns: int | None = None
) -> Figure:
    """Larger panels for chosen components, with mu, sigma and FWHM in the legend; `columns`
    panels a row (all in one row by default)."""
    components = list(components)
    columns = max(1, min(columns or len(components), len(components)))
    figure, axes = panel_grid(len(components), columns, width=3.2, height=2.8)
    for axis, k in zip(axes, components, strict=True):
        axis.stairs(counts[k], edges[k], fill=True, color="steelblue", label="counts")
        _fit_curve(axis, edges[k], fits.amplitude[k], fits.mu[k], fits.sigma[k])
        axis.set_title(
            f"{label}{k}: mu {fits.mu[k]:.2f}, sigma {fits.sigma[k]:.2f}, FWHM {fits.fwhm[k]:.2f}",
            fontsize=8,
        )
        axis.set_xlabel("value")
    return figure


def trimming_curve(facts, survivors, total: int) -> Figure:
    figure, axes = new_figure(width=5, height=3.2)
    axis = axes[0, 0]
    axis.plot(facts, np.asarray(survivors) / total, "o-")
    axis.set_xlabel("fact (kept: |z_j - mu_j| < fact * FWHM_j for every j)")
    axis.set_ylabel("fraction of points kept")
    axis.set_ylim(0, 1.02)
    axis.grid(alpha=0.3)
    return figure


BULK = (0.01, 0.99)  # chi2 probabilities framing the bulk panel of the QQ plot


def bulk_window(chi2_quantiles, observed_quantiles, dof: int) -> tuple[float, float]:
    """Axis limits of the bulk panel: the chi2(dof) quantiles at `BULK`, widened to the
    observed quantiles of the points between them, so the bulk fills the panel whatever the
    tail beyond the 99th percentile does."""
    lo, hi = stats.chi2.ppf(BULK, dof)
    inside = (chi2_quantiles >= lo) & (chi2_quantiles <= hi)
    seen = observed_quantiles[inside] if inside.any() else np.array([lo, hi])
    low, high = min(lo, float(seen.min())), max(hi, float(seen.max()))
    pad = 0.03 * (high - low)
    return float(low - pad), float(high + pad)


def _qq_axis(axis, chi2_quantiles, observed_quantiles, dof: int, low: float, high: float):
    axis.plot(chi2_quantiles, observed_quantiles, ".", ms=3, label="latents")
    axis.plot([low, high], [low, high], "k--", lw=1, label="chi2 expectation")
    for level in (0.5, 0.9, 0.99):
        axis.axvline(stats.chi2.ppf(level, dof), color="grey", lw=0.6, ls=":")
    axis.set_xlabel(f"chi2({dof}) quantile")
    axis.grid(alpha=0.3)


def mahalanobis_qq(chi2_quantiles, observed_quantiles, dof: int) -> Figure:
    """Two panels: the bulk (chi2 probabilities 1 % to 99 %) on linear axes, and every
    quantile on log-log axes, so a tail at 40x the bulk does not flatten the bulk into a line;
    dotted lines: the chi2 0.5, 0.9 and 0.99 quantiles."""
    chi2_quantiles = np.asarray(chi2_quantiles, dtype=np.float64)
    observed_quantiles = np.asarray(observed_quantiles, dtype=np.float64)
    figure, axes = new_figure(1, 2, width=9.5, height=4.2)
    bulk, full = axes[0]
    low, high = bulk_window(chi2_quantiles, observed_quantiles, dof)
    _qq_axis(bulk, chi2_quantiles, observed_quantiles, dof, low, high)
    bulk.set_xlim(low, high), bulk.set_ylim(low, high)
    bulk.set_ylabel("observed squared Mahalanobis distance")
    bulk.set_title("bulk: chi2 probability 1 % to 99 %", fontsize=9)
    positive = (chi2_quantiles > 0) & (observed_quantiles > 0)
    x, y = chi2_quantiles[positive], observed_quantiles[positive]
    top = max(x.max(), y.max()) if positive.any() else 1.0
    bottom = min(x.min(), y.min()) if positive.any() else 0.1
    _qq_axis(full, x, y, dof, bottom, top)
    full.set_xscale("log"), full.set_yscale("log")
    for axis in (full.xaxis, full.yaxis):  # plain numbers, no crowded minor-tick labels
        axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axis.set_minor_formatter(NullFormatter())
    largest = y.max() if positive.any() else float("nan")
    full.set_title(f"all quantiles, log axes (largest observed {largest:.3g})", fontsize=9)
    bulk.legend(fontsize=8, loc="upper left")
    return figure


def training_curves(epochs, train_loss, val_loss) -> Figure:
    figure, axes = new_figure(width=5, height=3.2)
    axis = axes[0, 0]
    axis.plot(epochs, train_loss, "o-", label="train")
    axis.plot(epochs, val_loss, "s-", label="validation")
    axis.set_xlabel("epoch")
    axis.set_ylabel("reconstruction loss")
    axis.set_yscale("log")
    axis.legend()
    axis.grid(alpha=0.3)
    return figure
