"""The comparison outputs of `lsf compare`: `WORKDIR/compare/` with `compare.json`,
`compare.parquet` (one row per variant) and `index.html` (seed-group means ± standard
deviations, every variant, failed variants with their error, side-by-side figures).

`write_comparison` renders everything in a staged folder and moves it into place whole, so
a reader never sees half a comparison. The page opens from the file system.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
from PIL import Image

from lsf import __version__
from lsf.core.outputs import local_copy, staged_output_dir, write_json_atomic
from lsf.data.shards import write_table
from lsf.pages.numbers import mean_and_spread, measured
from lsf.pages.page import Page, document
from lsf.pages.tables import Cell, table
from lsf.plots.comparison import (
    explained_variance_curves,
    image_grids,
    pair_histograms,
    qq_curves,
)
from lsf.sweep.table import MEASURES, SAMPLER_MEASURES, VariantOutputs

TABLE_JSON = "compare.json"
TABLE_PARQUET = "compare.parquet"


def _plain(value):
    """JSON-safe: NaN and infinities become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _column(values: list) -> pa.Array:
    """A Parquet column of the values as they are, or as JSON text if their types mix."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else json.dumps(v) for v in values])


def table_of(rows: list[dict], axes: list[str], columns: list[str]) -> pa.Table:
    """compare.parquet: variant, group, status, error, one column per axis, the measures."""
    data = {
        "variant": pa.array([r["variant"] for r in rows]),
        "group": pa.array([r["group"] for r in rows]),
        "status": pa.array([r["status"] for r in rows]),
        "error": pa.array([r.get("error") for r in rows], type=pa.string()),
        "trial_starts": pa.array([r.get("trial_starts", 0) for r in rows], type=pa.int64()),
    }
    for axis in axes:
        data[axis] = _column([r["values"][axis] for r in rows])
    for column in columns:
        values = [r.get(column) for r in rows]
        floats = [None if v is None or not math.isfinite(v) else float(v) for v in values]
        data[column] = pa.array(floats, type=pa.float64())
    return pa.table(data)


def _spread(group: dict, column: str) -> str:
    return mean_and_spread(group["mean"].get(column), group["std"].get(column))


def _describe(column: str) -> str:
    if column in MEASURES:
        return MEASURES[column]
    kind, _, sampler = column.partition(".")
    if kind in SAMPLER_MEASURES:
        return f"{SAMPLER_MEASURES[kind]}, sampler {sampler}"
    return column


def _table(header: list[str], rows: list[list[str]], titles: list[str] | None = None) -> str:
    """Rows headed by their first cell (hover text `titles[k]`)."""
    return table(
        header,
        [
            [Cell(row[0], header=True, title=titles[k] if titles else ""), *row[1:]]
            for k, row in enumerate(rows)
        ],
    )


def _measure_tables(columns: list[str], heads: list[str], cell) -> str:
    """Measures as rows (fragmentation first, then the samplers), variants/groups as
    columns: `cell(column, k)` formats the k-th column's value."""
    parts = []
    fragmentation = [c for c in columns if c in MEASURES or c == "latent_dim"]
    generation = [c for c in columns if c.partition(".")[0] in SAMPLER_MEASURES]
    for title, chosen in (
        ("Fragmentation measures", fragmentation),
        ("Generation (per sampler)", generation),
    ):
        if not chosen:
            continue
        rows = [[c, *[cell(c, k) for k in range(len(heads))]] for c in chosen]
        parts.append(f"<h3>{title}</h3>")
        parts.append(_table(["measure", *heads], rows, [_describe(c) for c in chosen]))
    return "\n".join(parts)


def _figures(page: Page, outputs: dict[str, VariantOutputs], groups: dict[str, str]) -> None:
    """The side-by-side figures, saved beside the page."""
    if not outputs:
        return
    page.figure(
        "explained_variance",
        explained_variance_curves(
            {n: o.analysis.pca.model.cumulative_ratio for n, o in outputs.items()},
            groups,
        ),
        "Cumulative explained variance of the PCA components (log axis): one colour per seed "
        "group, one line style per seed.",
    )
    page.figure(
        "mahalanobis_qq",
        qq_curves(
            {
                n: (
                    o.analysis.normality.chi2_quantiles,
                    o.analysis.normality.observed_quantiles,
                    o.analysis.normality.dof,
                )
                for n, o in outputs.items()
            },
            groups,
        ),
        "QQ plot of squared Mahalanobis distances against chi2(dof), divided by dof.",
    )
    panels = [
        {
            **o.worst_pair,
            "names": (f"z{o.worst_pair['i']}", f"z{o.worst_pair['j']}"),
            "title": f"{n}: z{o.worst_pair['i']}, z{o.worst_pair['j']}, "
            f"score {o.worst_pair['score']:.2f}",
        }
        for n, o in outputs.items()
        if o.worst_pair is not None
    ]
    if panels:
        page.figure(
            "worst_pairs",
            pair_histograms(panels),
            "The least elliptic component pair of each variant (highest non-ellipticity "
            "score): stored 2D counts (log colour) and the 1/2/3-sigma ellipses.",
        )
    grids = {}
    for n, o in outputs.items():
        if o.mvn_grid is not None:
            with local_copy(o.mvn_grid) as path:
                grids[n] = np.asarray(Image.open(path).convert("RGB"))
    if grids:
        page.figure(
            "mvn_grids",
            image_grids(grids),
            "Faces decoded from the mvn sampler (full-covariance normal) of each variant.",
        )


def write_comparison(
    out: str,
    header: dict,
    rows: list[dict],
    groups: list[dict],
    axes: list[str],
    columns: list[str],
    outputs: dict[str, VariantOutputs],
) -> None:
    """Write `out/` (compare.json, compare.parquet, index.html and figures) atomically,
    replacing an earlier comparison."""
    compare_json = {
        "lsf_version": __version__,
        **header,
        "measures": {c: _describe(c) for c in columns},
        "columns": columns,
        "variants": rows,
        "groups": groups,
    }
    seed_of = {r["variant"]: r["group"] for r in rows}
    with staged_output_dir(out, overwrite=True) as tmp:
        folder = Path(tmp)
        write_json_atomic(str(folder / TABLE_JSON), _plain(compare_json))
        write_table(table_of(rows, axes, columns), str(folder / TABLE_PARQUET))
        ok = [r for r in rows if r["status"] == "ok"]
        failed = [r for r in rows if r["status"] != "ok"]
        parts = [
            f"<h1>lsf compare: {html.escape(str(header['sweep']['config']))}</h1>",
            f"<p>lsf {__version__}; base config <code>{html.escape(header['sweep']['base'])}"
            f"</code>; axes {html.escape(', '.join(axes))}; {len(rows)} variants, "
            f"{len(ok)} complete, {len(failed)} failed. One row per variant in "
            f"<code>{TABLE_PARQUET}</code>; hover a measure for its definition.</p>",
        ]
        multi = [g for g in groups if len(g["variants"]) > 1]
        if multi:
            parts.append("<h2>Seed groups: mean ± standard deviation over seeds</h2>")
            parts.append(
                "<p>Variants that differ only by <code>train.seed</code>; a difference "
                "between groups smaller than their spread is noise.</p>"
            )
            heads = [f"{g['group']} (n={g['n']})" for g in groups]
            parts.append(_measure_tables(columns, heads, lambda c, k: _spread(groups[k], c)))
        parts.append("<h2>Every variant</h2>")
        heads = [r["variant"] for r in ok]
        parts.append(_measure_tables(columns, heads, lambda c, k: measured(ok[k].get(c))))
        parts.append(
            _table(
                ["variant", "status", "trials started by this run", "folder"],
                [
                    [r["variant"], r["status"], str(r.get("trial_starts", 0)), r["folder"]]
                    for r in rows
                ],
            )
        )
        if failed:
            parts.append("<h2>Failed variants</h2>")
            parts.append(
                _table(
                    ["variant", "error"],
                    [[r["variant"], r.get("error") or r["status"]] for r in failed],
                )
            )
        parts.append("<h2>Side by side</h2>")
        figures = Page(folder)
        _figures(figures, outputs, seed_of)
        parts += figures.parts
        (folder / "index.html").write_text(document("lsf compare", "\n".join(parts)))
