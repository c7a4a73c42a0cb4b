"""Pair panels: a scatter of real latents in the plane of two components (original or PCA
coordinates), smoothed-density contours, the 1/2/3-sigma confidence ellipses and the centre,
framed to the density grid and the ellipses; and latent paths projected onto their pair plane
over the point cloud."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from lsf.plots import new_figure, panel_grid
from lsf.stats.pairs import SIGMAS, confidence_ellipse


def pair_panel(ax, points, mean2, cov2, density=None, names=("x", "y")) -> None:
    """Draw one pair on `ax`. `density`: optional `(x_centres, y_centres, values, levels)`."""
    ax.scatter(points[:, 0], points[:, 1], s=1.5, alpha=0.25, color="grey", rasterized=True)
    if density is not None:
        xc, yc, values, levels = density
        levels = np.unique(levels)
        if len(levels) > 1:
            ax.contour(xc, yc, values.T, levels=levels, colors="navy", linewidths=0.8)
    outlines = []
    for n, color in zip(SIGMAS, ("crimson", "darkorange", "gold"), strict=True):
        outlines.append(confidence_ellipse(mean2, cov2, n).outline())
        ax.plot(outlines[-1][:, 0], outlines[-1][:, 1], color=color, lw=1.1, label=f"{n} sigma")
    ax.plot(*mean2, "k+", ms=10, mew=2)
    if density is not None:
        frame_to(ax, density[0], density[1], outlines[-1])
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])


def frame_to(ax, x_centres, y_centres, outline: np.ndarray) -> None:
    """Axis limits that hold the density grid (the robust 0.1 %-99.9 % range) and the
    outermost ellipse: a few far outliers then fall off the panel instead of shrinking the
    bulk to a dot."""
    for values, centres, setter in (
        (outline[:, 0], x_centres, ax.set_xlim),
        (outline[:, 1], y_centres, ax.set_ylim),
    ):
        low, high = min(centres.min(), values.min()), max(centres.max(), values.max())
        pad = 0.02 * (high - low)
        setter(low - pad, high + pad)


def pair_panels(panels: list[dict], columns: int = 3, title: str = "") -> Figure:
    """Several pairs; each dict holds points, mean2, cov2, density (or None), names, title."""
    figure, axes = panel_grid(len(panels), columns, width=3.4, height=3.2)
    for ax, p in zip(axes, panels, strict=True):
        pair_panel(ax, p["points"], p["mean2"], p["cov2"], p.get("density"), p["names"])
        ax.set_title(p.get("title", ""), fontsize=8)
    axes[0].legend(fontsize=7, loc="upper left")
    if title:
        figure.suptitle(title, fontsize=10)
    return figure


def path_projection(strip: np.ndarray, path2: np.ndarray, cloud2: np.ndarray, names) -> Figure:
    """The decoded strip of a path above its points projected on a pair plane."""
    figure, axes = new_figure(2, 1, width=7, height=6.5, height_ratios=[1, 3])
    axes[0, 0].imshow(strip)
    axes[0, 0].set_axis_off()
    ax = axes[1, 0]
    ax.scatter(cloud2[:, 0], cloud2[:, 1], s=1.5, alpha=0.2, color="grey", rasterized=True)
    ax.plot(path2[:, 0], path2[:, 1], "-o", color="crimson", ms=4)
    ax.plot(*path2[0], "s", color="black", ms=6, label="start")
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.legend(fontsize=8)
    return figure
