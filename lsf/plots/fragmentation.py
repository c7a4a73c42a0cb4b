"""Figures of the fragmentation (the regions the latents fill): the BIC curve with the merge
steps, maps of the labelled sample coloured by region, and the projection those maps use
(`discriminant_directions`: Fisher's linear discriminants, as scikit-learn's
`LinearDiscriminantAnalysis(solver="eigen")` computes them). Arrays in, `Figure` out; drawn
by `lsf.pages.fragmentation_sections` for `lsf report`.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from scipy import linalg

from lsf.plots import new_figure, panel_grid

PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#393b79",
)
OUTSIDE = "#b0b0b0"  # rows outside every region (label -1)


def region_colour(region: int) -> str:
    return OUTSIDE if region < 0 else PALETTE[region % len(PALETTE)]


def _sign_convention(vectors: np.ndarray) -> np.ndarray:
    """Columns flipped so that each one's largest |loading| is positive."""
    rows = np.abs(vectors).argmax(axis=0)
    signs = np.sign(vectors[rows, np.arange(vectors.shape[1])])
    return vectors * np.where(signs == 0, 1.0, signs)


def discriminant_directions(x: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`(directions [K, C], ratios [C])` of rows `x [n, K]` in classes `labels` (rows
    labelled -1 are left out), C = classes - 1 capped at K: the generalised eigenvectors of
    the between-class scatter Sb = St - Sw and the prior-weighted within-class scatter Sw
    (biased covariances), `Sb v = lambda Sw v`, largest lambda first, scaled to
    `v^T Sw v = 1`, each column's largest |loading| positive; `ratios`: lambda / sum."""
    keep = labels >= 0
    x, labels = np.asarray(x, np.float64)[keep], labels[keep]
    classes, counts = np.unique(labels, return_counts=True)
    priors = counts / counts.sum()
    within = sum(
        p * np.cov(x[labels == c], rowvar=False, bias=True).reshape(x.shape[1], x.shape[1])
        for c, p in zip(classes, priors, strict=True)
    )
    between = np.cov(x, rowvar=False, bias=True) - within
    values, vectors = linalg.eigh(between, within)
    order = np.argsort(values)[::-1][: min(len(classes) - 1, x.shape[1])]
    return _sign_convention(vectors[:, order]), values[order] / values.sum()


def map_directions(x: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Two directions `[K, 2]` that separate the regions best, and their names: the first two
    discriminants; with two regions (one discriminant) the second is the widest within-region
    direction orthogonal to it."""
    directions, _ = discriminant_directions(x, labels)
    if directions.shape[1] >= 2:
        return directions[:, :2], ["discriminant 1", "discriminant 2"]
    first = directions[:, 0] / np.linalg.norm(directions[:, 0])
    keep = labels >= 0
    rows = np.asarray(x, np.float64)[keep]
    classes, index = np.unique(labels[keep], return_inverse=True)
    means = np.stack([rows[index == c].mean(axis=0) for c in range(len(classes))])
    centred = rows - means[index]
    away = np.eye(len(first)) - np.outer(first, first)
    _, vectors = np.linalg.eigh(away @ (centred.T @ centred) @ away)
    second = _sign_convention(vectors[:, -1:])[:, 0]
    return np.stack([directions[:, 0], second], axis=1), ["discriminant", "widest orthogonal"]


def bic_merges(bic: np.ndarray, chosen_k: int, merges: list, threshold: float | None) -> Figure:
    """Left: BIC for k = 1..max_k mixture components, the chosen k marked. Right: each merge
    step (components a + b joined into one region) with its ridgeline dip ratio, and the
    threshold above which components merge."""
    figure, axes = new_figure(1, 2, width=10, height=3.4)
    left, right = axes[0]
    k = np.arange(1, len(bic) + 1)
    fitted = np.isfinite(bic)
    left.plot(k[fitted], bic[fitted], "o-", color="#1f3a93")
    if 1 <= chosen_k <= len(bic) and np.isfinite(bic[chosen_k - 1]):
        left.plot([chosen_k], [bic[chosen_k - 1]], "o", ms=12, mfc="none", mec="crimson", mew=2)
        left.annotate(f"chosen k = {chosen_k}", (chosen_k, bic[chosen_k - 1]), fontsize=8)
    left.set_xlabel("mixture components k")
    left.set_ylabel("BIC (lower is better)")
    left.set_title("BIC of the Gaussian mixture per k", fontsize=9)
    if merges:
        steps = np.arange(1, len(merges) + 1)
        ratios = [np.nan if r is None else r for _, _, r in merges]
        right.bar(steps, ratios, color="#2ca02c", width=0.5)
        for step, (a, b, ratio) in zip(steps, merges, strict=True):
            right.annotate(
                f"c{a}+c{b}",
                (step, 0 if ratio is None else ratio),
                fontsize=7,
                ha="center",
                va="bottom",
            )
        right.set_xticks(steps, [f"{chosen_k - s}" for s in steps])
        right.set_xlabel("regions after the merge")
    else:
        right.text(
            0.5,
            0.5,
            "no merges: each component is a region",
            ha="center",
            va="center",
            transform=right.transAxes,
            fontsize=9,
        )
        right.set_xticks([])
    if threshold is not None:
        right.axhline(threshold, color="crimson", ls="--", lw=1, label=f"threshold {threshold:g}")
        right.legend(fontsize=7, loc="lower right")
    right.set_ylim(0, 1.05)
    right.set_ylabel("ridgeline dip ratio")
    right.set_title("merge steps (no density gap between the two components)", fontsize=9)
    return figure


def region_maps(panels: list[dict]) -> Figure:
    """One scatter per panel `{points [S, 2], labels [S], centres [R, 2], names, title}`:
    points coloured by region (grey: outside every region), centres numbered."""
    figure, axes = panel_grid(len(panels), min(2, len(panels)), width=4.6, height=4.0)
    for axis, panel in zip(axes, panels, strict=True):
        points, labels = panel["points"], panel["labels"]
        for region in np.unique(labels):
            rows = points[labels == region]
            name = "outside" if region < 0 else f"region {region}"
            axis.scatter(
                rows[:, 0],
                rows[:, 1],
                s=3,
                alpha=0.5,
                color=region_colour(region),
                label=name,
                rasterized=True,
            )
        for region, (x, y) in enumerate(panel["centres"]):
            axis.plot(x, y, "X", ms=11, color=region_colour(region), mec="k")
            axis.annotate(
                str(region),
                (x, y),
                xytext=(6, 6),
                textcoords="offset points",
                fontsize=9,
                weight="bold",
            )
        axis.set_xlabel(panel["names"][0])
        axis.set_ylabel(panel["names"][1])
        axis.set_title(panel["title"], fontsize=9)
        axis.legend(fontsize=7, markerscale=3, loc="best")
    return figure


def gap_profiles(paths: list[dict]) -> Figure:
    """Mixture density along each gap path (relative to the smaller region's peak, log
    scale), one line per path `{label, density}`, steps from 0 (centre a) to 1 (centre b)."""
    figure, axes = new_figure(width=6, height=3.2)
    axis = axes[0, 0]
    for path in paths:
        density = np.asarray(path["density"])
        t = np.linspace(0, 1, len(density))
        axis.plot(t, np.clip(density, 1e-300, None), "o-", ms=3, label=path["label"])
    axis.set_yscale("log")
    axis.axhline(1.0, color="grey", lw=0.8, ls=":")
    axis.set_xlabel("position on the segment between the two centres")
    axis.set_ylabel("mixture density / smaller peak")
    axis.set_title("Density through the gaps", fontsize=9)
    axis.legend(fontsize=7)
    return figure
