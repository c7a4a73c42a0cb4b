"""Figures of the study's own demonstrations: grids of pair densities with their ellipses
(the 45 pairs of the first ten PCA components, the first nine against a spread of later
ones, one pair across the trimming facts), the core-alignment heatmap, labelled image rows
(faces with a number under each) and a latent path projected onto several planes with the
origin and the centre marked. Arrays in, a matplotlib `Figure` out; `lsf.report` saves them.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from lsf.plots import new_figure, panel_grid
from lsf.stats.pairs import SIGMAS, confidence_ellipse

COLOURS = ("crimson", "darkorange", "gold")


def _ellipses(axis, mean2, cov2, sigmas) -> None:
    for n in sigmas:
        outline = confidence_ellipse(mean2, cov2, n).outline()
        axis.plot(outline[:, 0], outline[:, 1], color=COLOURS[(n - 1) % 3], lw=0.9)


def density_panel(axis, panel: dict, sigmas=SIGMAS) -> None:
    """A pair's KDE as an image with its HDR contours and the n-sigma ellipses. `panel`:
    density `(x centres, y centres, values [Bx, By], levels)`, mean2, cov2, names, title."""
    x, y, values, levels = panel["density"]
    axis.pcolormesh(x, y, values.T, cmap="Blues", shading="nearest", rasterized=True)
    levels = np.unique(levels)
    if len(levels) > 1:
        axis.contour(x, y, values.T, levels=levels, colors="navy", linewidths=0.6)
    if np.isfinite(panel["cov2"]).all() and np.linalg.det(panel["cov2"]) > 0:
        _ellipses(axis, panel["mean2"], panel["cov2"], sigmas)
    axis.set_xlim(x[0], x[-1])
    axis.set_ylim(y[0], y[-1])
    axis.set_title(panel.get("title", ""), fontsize=6, pad=2)
    axis.tick_params(labelsize=5)


def density_grid(panels: list[dict], columns: int, title: str = "", sigmas=SIGMAS) -> Figure:
    """Small density panels in a grid, `columns` wide (e.g. the 45 pairs of PCA 0-9)."""
    columns = max(1, min(columns, len(panels)))
    figure, axes = panel_grid(len(panels), columns, width=1.9, height=1.8)
    for axis, panel in zip(axes, panels, strict=True):
        density_panel(axis, panel, sigmas)
    if title:
        figure.suptitle(title, fontsize=9)
    return figure


def alignment_heatmap(
    angles: np.ndarray, facts, pair_labels: list[str], axis_angles: np.ndarray | None
) -> Figure:
    """Left: core alignment angle `[F, P]` (degrees) per pair (rows) and fact (columns);
    right: angle between each fact's PCA axis k and the chosen basis's `[F, K]`."""
    angles = np.asarray(angles, dtype=np.float64)
    panels = 2 if axis_angles is not None else 1
    height = max(3.0, 0.16 * len(pair_labels) + 1.2)
    figure, axes = new_figure(1, panels, width=4.2 * panels + 1, height=height)
    axis = axes[0, 0]
    image = axis.imshow(angles.T, aspect="auto", cmap="magma", vmin=0, vmax=90)
    axis.set_xticks(range(len(facts)), [f"{f:g}" for f in facts], fontsize=7)
    axis.set_yticks(range(len(pair_labels)), pair_labels, fontsize=6)
    axis.set_xlabel("fact")
    axis.set_title("core alignment angle (degrees)", fontsize=9)
    figure.colorbar(image, ax=axis, shrink=0.8)
    if axis_angles is not None:
        axis = axes[0, 1]
        axis_angles = np.asarray(axis_angles, dtype=np.float64)
        image = axis.imshow(axis_angles.T, aspect="auto", cmap="viridis", vmin=0, vmax=90)
        axis.set_xticks(range(len(facts)), [f"{f:g}" for f in facts], fontsize=7)
        axis.set_yticks(range(axis_angles.shape[1]))
        axis.set_ylabel("PCA axis k")
        axis.set_xlabel("fact")
        axis.set_title("angle of each fact's PCA axis k to the basis's", fontsize=9)
        figure.colorbar(image, ax=axis, shrink=0.8)
    return figure


def split_strip(strip: np.ndarray, count: int) -> list[np.ndarray]:
    """The `count` equal-width images of a one-row strip `(H, count*W, C)`."""
    width = strip.shape[1] // count
    return [strip[:, k * width : (k + 1) * width] for k in range(count)]


def labelled_rows(rows: list[tuple[str, list[np.ndarray], list[str]]]) -> Figure:
    """Rows of images, each row `(title, images, labels)`, a label printed under each image
    (e.g. each step's squared Mahalanobis distance)."""
    columns = max(len(images) for _, images, _ in rows)
    figure, axes = new_figure(
        len(rows), columns, width=max(4.0, 1.05 * columns), height=1.45 * len(rows)
    )
    for r, (title, images, labels) in enumerate(rows):
        for k, axis in enumerate(axes[r]):
            axis.set_xticks([]), axis.set_yticks([])
            if k >= len(images):
                axis.set_axis_off()
                continue
            axis.imshow(images[k])
            axis.set_xlabel(labels[k], fontsize=6)
            for side in axis.spines.values():
                side.set_visible(False)
        axes[r, 0].set_title(title, fontsize=7, loc="left")
    return figure


def path_planes(path: np.ndarray, cloud: np.ndarray, planes, names: str = "z") -> Figure:
    """A path `[S, D]` projected onto each plane `(i, j)` over the cloud `[n, D]`: path
    steps red, its first point (the origin) yellow, its last (the centre) orange."""
    figure, axes = panel_grid(len(planes), min(3, len(planes)), width=3.3, height=3.0)
    for axis, (i, j) in zip(axes, planes, strict=True):
        axis.scatter(cloud[:, i], cloud[:, j], s=1, alpha=0.2, color="steelblue", rasterized=True)
        axis.plot(path[:, i], path[:, j], "o", color="crimson", ms=3, label="path")
        axis.plot(path[0, i], path[0, j], "o", color="gold", ms=8, mec="k", label="origin")
        axis.plot(path[-1, i], path[-1, j], "o", color="darkorange", ms=8, mec="k", label="centre")
        axis.set_xlabel(f"{names}{i}")
        axis.set_ylabel(f"{names}{j}")
    axes[0].legend(fontsize=6)
    return figure


def plane_lines(lines: list[np.ndarray], angles, cloud2: np.ndarray, mean2, cov2, names) -> Figure:
    """Lines `[S, 2]` through the centre of one plane at several angles over the cloud, with
    the pair's 1/2/3-sigma ellipses (the core)."""
    figure, axes = new_figure(width=4.6, height=4.2)
    axis = axes[0, 0]
    axis.scatter(cloud2[:, 0], cloud2[:, 1], s=1, alpha=0.2, color="grey", rasterized=True)
    _ellipses(axis, mean2, cov2, SIGMAS)
    for line, angle in zip(lines, angles, strict=True):
        axis.plot(line[:, 0], line[:, 1], "-o", ms=2.5, lw=1, label=f"{angle:g} deg")
    axis.plot(*mean2, "k+", ms=10, mew=2)
    axis.set_xlabel(names[0])
    axis.set_ylabel(names[1])
    axis.legend(fontsize=6)
    return figure
