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


FLOOR = 1e-17  # below float64 resolution of a correlation: where log10 |r| is clipped


def log_off_diagonal(corr: np.ndarray) -> tuple[np.ndarray, float, tuple[int, int]]:
    """`(log10 |off-diagonal| with NaN on the diagonal, largest |off-diagonal|, its (i, j)
    with i < j)`; zeros are clipped to `FLOOR` so the logarithm stays finite."""
    off = np.abs(np.nan_to_num(np.asarray(corr, dtype=np.float64)))
    np.fill_diagonal(off, np.nan)
    if off.shape[0] < 2:
        return np.full(off.shape, np.nan), 0.0, (0, 0)
    flat = int(np.nanargmax(off))
    i, j = sorted(int(v) for v in np.unravel_index(flat, off.shape))
    return np.log10(np.maximum(off, FLOOR)), float(off[i, j]), (i, j)


def off_diagonal_heatmap(corr: np.ndarray, title: str) -> Figure:
    """log10 |off-diagonal correlation|: shows a diagonalisation error of 1e-12 as plainly
    as one of 0.1; the largest value is stated in the title."""
    logged, largest, (i, j) = log_off_diagonal(corr)
    figure, axes = new_figure(width=5.6, height=4.6)
    axis = axes[0, 0]
    finite = logged[np.isfinite(logged)]
    low = float(np.floor(finite.min())) if finite.size else -17.0
    high = max(0.0, float(np.ceil(finite.max()))) if finite.size else 0.0
    image = axis.imshow(logged, cmap="magma", vmin=low, vmax=high, interpolation="nearest")
    figure.colorbar(image, ax=axis, shrink=0.8, label="log10 |correlation|")
    axis.set_title(f"{title}\nmax |off-diagonal| = {largest:.2g} at ({i}, {j})", fontsize=10)
    axis.set_xlabel("component")
    axis.set_ylabel("component")
    return figure
