"""The sampler table of `metrics.json`, read back typed, with its significance marks.

Rows: the references (real = noise floor, reconstruction = ceiling, the interpolation rows),
then n01 and uniform-box (the floors a sampler should beat), then every other sampler.
Columns: FD, KID, precision, recall, density, coverage, memorised share, d2/dof, each an
`Estimate` (mean of R draws and its 95 % interval). `best_rows` marks, per column with a
direction, the best sampler and every sampler whose interval overlaps the best's (the
others are significantly worse). Used by `lsf.generate` (terminal) and `lsf.report`.
"""

from __future__ import annotations

from dataclasses import dataclass

from lsf.sampling.quality import Estimate

REFERENCE_ROWS = ("real", "reconstruction", "interpolation-linear", "interpolation-spherical")
FLOOR_ROWS = ("n01", "uniform-box")


@dataclass(frozen=True)
class Column:
    key: str  # metrics.json key
    title: str
    better: str | None  # "lower", "higher" or None (no single direction)
    digits: str  # format of the value
    half: str = ""  # format of the interval's half width (default: the value's)


COLUMNS = (
    Column("frechet_distance", "FD", "lower", ".2f"),
    Column("kid", "KID", "lower", ".3g", ".2g"),
    Column("precision", "precision", "higher", ".3f"),
    Column("recall", "recall", "higher", ".3f"),
    Column("density", "density", None, ".3f"),
    Column("coverage", "coverage", "higher", ".3f"),
    Column("memorised_share", "memorised", None, ".3f"),
    Column("reencoded_d2_per_dof_median", "d2/dof", None, ".2f"),
)


@dataclass
class TableRow:
    name: str
    values: dict[str, Estimate]  # column key -> estimate (absent: not measured)
    info: dict  # the rest of the row: sampler facts, draws, set size, files

    @property
    def is_sampler(self) -> bool:
        return self.name not in REFERENCE_ROWS


def row_from_json(name: str, row: dict) -> TableRow:
    """A metrics.json row; rows without `intervals` (one draw, older samples) read as
    estimates without bounds."""
    intervals = row.get("intervals", {})
    values = {}
    for column in COLUMNS:
        if row.get(column.key) is not None:
            low, high = intervals.get(column.key, [None, None])
            values[column.key] = Estimate(float(row[column.key]), low, high, [])
    keys = {c.key for c in COLUMNS} | {"intervals"}
    return TableRow(name, values, {k: v for k, v in row.items() if k not in keys})


def ordered_names(names) -> list[str]:
    names = list(names)
    first = [n for n in (*REFERENCE_ROWS, *FLOOR_ROWS) if n in names]
    return first + [n for n in names if n not in first]


def table_rows(samplers: dict) -> list[TableRow]:
    """The `samplers` mapping of metrics.json as typed rows in table order."""
    return [row_from_json(name, samplers[name]) for name in ordered_names(samplers)]


def best_rows(rows: list[TableRow], column: Column) -> set[str]:
    """Samplers tied for best in `column`: the best mean and every sampler whose interval
    overlaps its interval (only the best where there are no intervals: one draw, older
    samples). Empty for columns without a direction."""
    measured = [r for r in rows if r.is_sampler and column.key in r.values]
    if column.better is None or not measured:
        return set()
    sign = 1.0 if column.better == "lower" else -1.0
    best = min(measured, key=lambda r: sign * r.values[column.key].value).values[column.key]
    if best.low is None:
        return {r.name for r in measured if r.values[column.key] is best}
    return {
        r.name
        for r in measured
        if r.values[column.key] is best
        or (r.values[column.key].low is not None and not r.values[column.key].apart_from(best))
    }


def cell(estimate: Estimate | None, column: Column) -> str:
    """`value ±half-width` (the value alone for one draw; `-` when not measured)."""
    if estimate is None:
        return "-"
    text = format(estimate.value, column.digits)
    if estimate.low is not None and estimate.high is not None:
        text += "±" + format(0.5 * (estimate.high - estimate.low), column.half or column.digits)
    return text


def display_name(row: TableRow) -> str:
    components = row.info.get("components")
    if components is not None:
        by = "BIC" if row.info.get("components_by") == "bic" else "fixed"
        return f"{row.name} ({components}, {by})"
    return row.name


def format_table(samplers: dict) -> list[str]:
    """Terminal lines of the table; `*` marks the best sampler of a column and those not
    significantly worse (intervals overlapping)."""
    rows = table_rows(samplers)
    marks = {c.key: best_rows(rows, c) for c in COLUMNS}
    width = max([len(display_name(r)) for r in rows] + [7]) + 1
    cells = [
        [cell(r.values.get(c.key), c) + ("*" if r.name in marks[c.key] else "") for c in COLUMNS]
        for r in rows
    ]
    widths = [max([len(c.title)] + [len(line[k]) for line in cells]) for k, c in enumerate(COLUMNS)]
    header = f"{'sampler':{width}s}" + "".join(
        f" {c.title:>{w}s}" for c, w in zip(COLUMNS, widths, strict=True)
    )
    lines = [header, "-" * len(header)]
    for row, line in zip(rows, cells, strict=True):
        lines.append(
            f"{display_name(row):{width}s}"
            + "".join(f" {v:>{w}s}" for v, w in zip(line, widths, strict=True))
        )
    return lines


def table_footer(evaluation: dict) -> str:
    """The line under the terminal table: N, R and what the marks mean."""
    return (
        f"N = {evaluation['reference_images']} real reference images; each row is the mean of "
        f"R = {evaluation['repeats']} fresh seeded draws ({evaluation['generated_per_draw']} "
        "images per sampler draw) ± the half width of its 95 % interval; * the best sampler of "
        "a column and those whose interval overlaps it"
    )
