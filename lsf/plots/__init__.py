"""Figures of the study: pure functions, arrays in and a matplotlib `Figure` out.

Every module uses `new_figure` (the one figure style: Agg backend, constrained layout);
saving is the caller's business (the page kit, `lsf.pages`). No HTML here.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402


def new_figure(
    rows: int = 1, columns: int = 1, *, width: float = 6.0, height: float = 4.0, **kwargs
) -> tuple[Figure, object]:
    """A Figure (not registered with pyplot, so nothing leaks) and its axes grid."""
    figure = Figure(figsize=(width, height), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False, **kwargs)
    return figure, axes


def panel_grid(count: int, columns: int, *, width: float, height: float) -> tuple[Figure, list]:
    """A grid of `count` panels, `columns` wide (each `width` x `height` inches): the figure
    and the panels' axes in reading order; the grid's spare axes are switched off."""
    rows = -(-count // columns)
    figure, axes = new_figure(rows, columns, width=width * columns, height=height * rows)
    flat = list(axes.ravel())
    for axis in flat[count:]:
        axis.set_axis_off()
    return figure, flat[:count]
