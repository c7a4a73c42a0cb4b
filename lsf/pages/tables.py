"""The one HTML table of the pages: a header row, then rows of cells. A cell is a value
(formatted with `numbers.significant` and escaped) or a `Cell` that is bold, a row header
(`<th>`) or carries a hover title."""

from __future__ import annotations

import html
from dataclasses import dataclass

from lsf.pages.numbers import significant


@dataclass(frozen=True)
class Cell:
    text: str
    bold: bool = False
    header: bool = False  # a row header, `<th>`
    title: str = ""  # hover text


def _cell(value) -> str:
    if not isinstance(value, Cell):
        return f"<td>{html.escape(significant(value))}</td>"
    text = html.escape(value.text)
    if value.bold:
        text = f"<b>{text}</b>"
    tag = "th" if value.header else "td"
    title = f' title="{html.escape(value.title)}"' if value.title else ""
    return f"<{tag}{title}>{text}</{tag}>"


def table(header: list, rows: list[list], row_styles: list[str] | None = None) -> str:
    """`<table>` with `header` as its `<thead>` and one `<tr>` per row; `row_styles[k]`,
    when given and not empty, is row k's inline CSS."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = []
    for k, row in enumerate(rows):
        style = f' style="{row_styles[k]}"' if row_styles and row_styles[k] else ""
        body.append(f"<tr{style}>" + "".join(_cell(v) for v in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
