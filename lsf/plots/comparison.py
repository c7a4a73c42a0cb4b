"""Side-by-side figures of model variants (`lsf compare`): explained-variance curves and
Mahalanobis QQ curves of every variant on one axis (one colour per seed group, one line
style per seed), the least elliptic pair of each variant, and each variant's mvn grid."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from lsf.plots import new_figure, panel_grid
from lsf.stats.pairs import SIGMAS, Ellipse

STYLES = ("-", "--", ":", "-.")


def _line_styles(groups: dict[str, str]) -> dict[str, tuple[str, str]]:
    """variant -> (colour, line style): one colour per group, one style per member."""
    colours, seen, styles = {}, {}, {}
    for variant, group in groups.items():
        colours.setdefault(group, f"C{len(colours) % 10}")
        k = seen.get(group, 0)
        seen[group] = k + 1
        styles[variant] = (colours[group], STYLES[k % len(STYLES)])
    return styles


def explained_variance_curves(
    curves: dict[str, np.ndarray], groups: dict[str, str], count: int = 120
) -> Figure:
    """Cumulative explained variance ratio of the first `count` PCA components per variant."""
    figure, axes = new_figure(width=7, height=4.2)
    axis = axes[0, 0]
    styles = _line_styles(groups)
    for name, cumulative in curves.items():
        shown = cumulative[:count]
        colour, style = styles[name]
        axis.plot(np.arange(1, len(shown) + 1), shown, style, color=colour, label=name)
    for target in (0.8, 0.9):
        axis.axhline(target, color="grey", lw=0.6, ls=":")
    axis.set_xscale("log")
    axis.set_xlabel("number of PCA components")
    axis.set_ylabel("cumulative explained variance")
    axis.set_ylim(0, 1.02)
    axis.legend(fontsize=7, loc="lower right")
    return figure


def qq_curves(curves: dict[str, tuple], groups: dict[str, str]) -> Figure:
    """Squared Mahalanobis distances against chi2(dof) per variant, both divided by dof so
    variants of different latent sizes share the axes; the diagonal is a normal."""
    figure, axes = new_figure(width=5.5, height=5)
    axis = axes[0, 0]
    styles = _line_styles(groups)
    top = 0.0
    for name, (expected, observed, dof) in curves.items():
        colour, style = styles[name]
        x, y = np.asarray(expected) / dof, np.asarray(observed) / dof
        axis.plot(x, y, style, color=colour, label=name, lw=1.2)
        top = max(top, float(x.max()), float(y.max()))
    axis.plot([0, top], [0, top], "k", lw=0.8, alpha=0.6, label="chi2 expectation")
    axis.set_xlabel("chi2(dof) quantile / dof")
    axis.set_ylabel("observed squared Mahalanobis distance / dof")
    axis.legend(fontsize=7)
    return figure


def pair_histograms(panels: list[dict], columns: int = 3) -> Figure:
    """One pair per panel: its stored 2D counts (log scale) and 1/2/3-sigma ellipses. Each
    dict: counts [B, B], x_edges, y_edges, centre, semi_major, semi_minor, angle_deg, names,
    title."""
    columns = max(1, min(columns, len(panels)))
    figure, axes = panel_grid(len(panels), columns, width=3.4, height=3.2)
    for axis, p in zip(axes, panels, strict=True):
        counts = np.asarray(p["counts"], dtype=np.float64)
        shown = np.where(counts > 0, np.log10(np.maximum(counts, 1)), np.nan)
        axis.pcolormesh(p["x_edges"], p["y_edges"], shown.T, cmap="Blues", shading="flat")
        for n, colour in zip(SIGMAS, ("crimson", "darkorange", "gold"), strict=True):
            ellipse = Ellipse(p["centre"], n * p["semi_major"], n * p["semi_minor"], p["angle_deg"])
            outline = ellipse.outline()
            axis.plot(outline[:, 0], outline[:, 1], color=colour, lw=1.0, label=f"{n} sigma")
        axis.set_xlabel(p["names"][0])
        axis.set_ylabel(p["names"][1])
        axis.set_title(p["title"], fontsize=8)
    axes[0].legend(fontsize=7, loc="upper left")
    return figure


def image_grids(images: dict[str, np.ndarray], columns: int = 3) -> Figure:
    """Images (e.g. each variant's mvn sample grid) side by side, titled by name."""
    columns = max(1, min(columns, len(images)))
    rows = -(-len(images) // columns)
    figure, axes = new_figure(rows, columns, width=3.6 * columns, height=3.8 * rows)
    for axis, name in zip(axes.ravel(), [*images, *[None] * (rows * columns)], strict=False):
        axis.set_axis_off()
        if name is not None:
            axis.imshow(images[name])
            axis.set_title(name, fontsize=8)
    return figure
