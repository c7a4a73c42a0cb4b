"""The sampler section of `lsf report`: the table of every row with intervals and marks,
which sampler differences are significant, each sampler's grid and its closest training pairs.

Reads SAMPLES/metrics.json through `lsf.sampling.table` (typed rows); a samples folder of an
older lsf (no intervals, no KID) shows its numbers without intervals. Called by
`lsf.report.report` with the report's `Page`.
"""

from __future__ import annotations

import html
import shutil
from pathlib import Path

from lsf.pages.page import Page
from lsf.pages.tables import Cell, table
from lsf.sampling.quality import Estimate
from lsf.sampling.table import COLUMNS, TableRow, best_rows, cell, display_name, table_rows

SIGNIFICANCE_COLUMN = COLUMNS[0]  # FD: the pairwise comparison shown as a matrix
REFERENCE_ROW_STYLE = "background:#f7f7f7"  # grey: real, reconstruction, interpolations


def _table_html(rows: list[TableRow]) -> str:
    marks = {c.key: best_rows(rows, c) for c in COLUMNS}
    body = [
        [
            display_name(r),
            *(Cell(cell(r.values.get(c.key), c), bold=r.name in marks[c.key]) for c in COLUMNS),
        ]
        for r in rows
    ]
    styles = ["" if r.is_sampler else REFERENCE_ROW_STYLE for r in rows]
    return table(["row", *(c.title for c in COLUMNS)], body, styles)


def significance_mark(a: Estimate, b: Estimate) -> str:
    """`<` where `a` is significantly lower than `b` (intervals apart), `>` where higher,
    `~` where the intervals overlap."""
    return "~" if not a.apart_from(b) else "<>"[a.value > b.value]


def _significance_html(rows: list[TableRow]) -> str:
    """Matrix of samplers: the row's FD against the column's (`significance_mark`)."""
    key = SIGNIFICANCE_COLUMN.key
    samplers = [r for r in rows if r.is_sampler and key in r.values]
    body = [
        [
            Cell(a.name, header=True),
            *("" if a is b else significance_mark(a.values[key], b.values[key]) for b in samplers),
        ]
        for a in samplers
    ]
    return table(["", *(r.name for r in samplers)], body)


def _intro(metrics: dict) -> str:
    facts = metrics.get("evaluation") or {}
    n = facts.get("reference_images", metrics.get("real_images"))
    repeats = facts.get("repeats", 1)
    memorisation = facts.get("memorisation") or {}
    return (
        f"Feature space: {html.escape(str(metrics['feature_space']))}; every row is measured "
        f"against the same reference of {n} real training images, over {repeats} fresh seeded "
        f"draw(s) of {facts.get('generated_per_draw', n)} images: the mean ± the half width "
        "of its 95 % interval. Lower Frechet distance (FD) and KID, higher precision, recall "
        "and coverage are better; density near 1 means generated images sit where real ones "
        "are as densely as real ones do. <b>Bold</b>: the best sampler of a column and every "
        "sampler whose interval overlaps it (the others are significantly worse). Reference "
        "rows (grey): <code>real</code> is the noise floor (sets of held-out real images: "
        "what a perfect sampler would score), <code>reconstruction</code> the autoencoder's "
        "ceiling, <code>interpolation-*</code> the midpoints of linear and spherical "
        "interpolations between encoded held-out images; <code>n01</code> (N(0, I), a VAE "
        "prior on a plain AE) and <code>uniform-box</code> are the floors every sampler should "
        "beat. memorised: share of images nearer a training image "
        f"({memorisation.get('training_images', '?')} searched) than the median held-out "
        "image is (about 0.5 for new images; near 1 for copies). d2/dof: median squared "
        "Mahalanobis distance of the re-encoded images per latent dimension (about 1 for "
        "on-manifold images)."
    )


def samplers(page: Page, samples: Path, metrics: dict) -> None:
    """The sampler table, the FD significance matrix, and each sampler's grid and closest
    training pairs (copied beside the page)."""
    rows = table_rows(metrics["samplers"])
    page.section("samplers", "Generation: which sampler makes faces", _intro(metrics))
    page.add(_table_html(rows))
    key = SIGNIFICANCE_COLUMN.key
    if any(key in r.values and r.values[key].low is not None for r in rows):
        page.add(
            "<p>Which FD differences are significant: <code>&lt;</code> where the row's "
            "sampler has a significantly lower FD than the column's (intervals apart), "
            "<code>&gt;</code> higher, <code>~</code> not distinguishable.</p>"
        )
        page.add(_significance_html(rows))
    for r in rows:
        if not r.is_sampler:
            continue
        folder = samples / r.info.get("folder", r.name)
        grid = folder / "grid.png"
        if grid.is_file():
            target = f"samples_{r.info.get('folder', r.name)}.png"
            shutil.copy(grid, page.folder / target)
            fd = r.values["frechet_distance"].value
            page.image(
                target,
                f"{display_name(r)}: FD {fd:.2f}. Look for: sharp, varied faces; a grid of near "
                "copies is low recall, broken faces low precision.",
                css="grid",
            )
        pairs = r.info.get("memorised_pairs")
        if pairs and (folder / pairs["png"]).is_file():
            target = f"memorised_{r.info.get('folder', r.name)}.png"
            shutil.copy(folder / pairs["png"], page.folder / target)
            share = r.values.get("memorised_share")
            share_text = f"; memorised share {share.value:.2f}" if share else ""
            page.image(
                target,
                f"{display_name(r)}: its {len(pairs['distances'])} generated images closest to "
                "a training image (top) above that training image (bottom, ids "
                f"{', '.join(str(i) for i in pairs['training_ids'])}){share_text}. Look for: "
                "pairs that are the same face (copies) rather than look-alikes.",
                css="grid",
            )
