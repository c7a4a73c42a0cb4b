"""Matrix and spectrum figures: the correlation heatmap and the explained variance."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from lsf.plots import new_figure


def correlation_heatmap(corr: np.ndarray, title: str = "Pearson correlation") -> Figure:
    figure, axes = new_figure(width=5.2, height=4.5)
    axis = axes[0, 0]
    image = axis.imshow(np.nan_to_num(corr), cmap="RdBu_r", vmin=-1, vmax=1)
    figure.colorbar(image, ax=axis, shrink=0.8)
    axis.set_title(title)
    axis.set_xlabel("component")
    axis.set_ylabel("component")
    return figure


def explained_variance(ratio: np.ndarray, cumulative: np.ndarray) -> Figure:
    """Ratio of the first 40 components and cumulative ratio of the first 120."""
    figure, axes = new_figure(1, 2, width=9, height=3.3)
    first = min(40, len(ratio))
    axes[0, 0].bar(np.arange(first), ratio[:first], color="steelblue")
    axes[0, 0].set_xlabel("PCA component")
    axes[0, 0].set_ylabel("explained variance ratio")
    many = min(120, len(cumulative))
    axes[0, 1].plot(np.arange(1, many + 1), cumulative[:many], "-")
    for target in (0.8, 0.9, 0.95):
        axes[0, 1].axhline(target, color="grey", lw=0.6, ls=":")
    axes[0, 1].set_xlabel("number of components")
    axes[0, 1].set_ylabel("cumulative explained variance")
    axes[0, 1].set_ylim(0, 1.02)
    return figure
