"""The page kit (lsf.pages): `lsf/plots` holds figures only, no HTML; the number formatters
and the one HTML table against hand-written strings and `html.escape`."""

import html
import math
import re
from pathlib import Path

import numpy as np
import pytest

import lsf.plots
from lsf.pages.numbers import (
    DASH,
    claim,
    counted,
    mean_and_spread,
    measured,
    number,
    percent,
    significant,
)
from lsf.pages.page import STYLE, Page, document
from lsf.pages.tables import Cell, table

HTML_MARKS = re.compile(
    r"<(?:table|div|p|figure|img|h[1-6]|tr|td|th|ul|li)\b|html\.escape|import html"
)


def html_in(folder: Path) -> dict[str, list[str]]:
    """Per module of `folder`, the HTML it holds (tags, html.escape, import html)."""
    found = {}
    for path in sorted(folder.rglob("*.py")):
        if marks := HTML_MARKS.findall(path.read_text()):
            found[path.name] = marks
    return found


def test_the_html_check_finds_planted_html(tmp_path):
    (tmp_path / "figure.py").write_text("def f():\n    return 1\n")
    (tmp_path / "section.py").write_text('import html\nPART = f"<table>{html.escape(x)}"\n')
    assert set(html_in(tmp_path)) == {"section.py"}


def test_plots_modules_hold_no_html():
    assert html_in(Path(lsf.plots.__file__).parent) == {}


@pytest.mark.parametrize(
    "value, expected",
    [
        (0.123456, "0.1235"),
        (123456.0, "1.235e+05"),
        (2.0, "2"),
        (np.float32(0.5), "0.5"),
        (np.float64(1 / 3), "0.3333"),
        (7, "7"),
        (123456, "123456"),
        ("fits (300 rows)", "fits (300 rows)"),
        (math.nan, "nan"),
    ],
)
def test_significant_gives_floats_four_digits_and_the_rest_as_text(value, expected):
    assert significant(value) == expected


def test_number_prints_float32_noise_at_the_centre_as_zero():
    assert number(4e-7) == "0" and number(-9.9e-7) == "0"
    assert number(1e-6) == "1e-06" and number(41.537) == "41.5" and number(41.537, 4) == "41.54"


def test_percent_and_its_missing_values():
    assert percent(0.5) == "50.0 %" and percent(0.12345) == "12.3 %" and percent(1) == "100.0 %"
    assert percent(None) == "n/a" and percent(math.nan) == "n/a" and percent(math.inf) == "n/a"


def test_claim_brackets_lists_and_says_n_a_for_none():
    assert claim([0.84253, 0.8675, 0.9]) == "[0.8425, 0.8675, 0.9]"
    assert claim(None) == "n/a" and claim(120) == "120" and claim("aligned") == "aligned"
    assert claim((1, [2.0, None])) == "[1, [2, n/a]]"


def test_measured_and_mean_and_spread_put_a_dash_where_there_is_no_value():
    assert DASH == "\u2013"
    assert [measured(v) for v in (None, math.nan, -math.inf, 8, 12.3456789)] == [
        DASH,
        DASH,
        DASH,
        "8",
        "12.35",
    ]
    assert mean_and_spread(0.16175, 0.05423) == "0.1618 ± 0.054"
    assert mean_and_spread(3.0, None) == "3" and mean_and_spread(None, 0.1) == DASH


def test_counted_says_one_without_the_plural():
    assert counted(1, "region") == "1 region" and counted(0, "merge") == "0 merges"


def test_the_table_escapes_every_header_and_cell():
    quoted = "it's"
    header, rows = ["a<b", "x & y"], [["<script>", 0.123456], [7, quoted]]
    expected = (
        "<table><thead><tr>"
        f"<th>{html.escape('a<b')}</th><th>{html.escape('x & y')}</th>"
        "</tr></thead><tbody>"
        f"<tr><td>{html.escape('<script>')}</td><td>0.1235</td></tr>"
        f"<tr><td>7</td><td>{html.escape(quoted)}</td></tr>"
        "</tbody></table>"
    )
    assert table(header, rows) == expected
    assert "&lt;script&gt;" in expected and "it&#x27;s" in expected


def test_table_cells_can_be_bold_row_headers_with_titles_and_rows_styled():
    rows = [
        [Cell("fd", header=True, title='FD "Frechet"'), Cell("9.30±0.40", bold=True)],
        [Cell("gmm", header=True), "<"],
    ]
    assert table(["", "mvn"], rows, ["background:#f7f7f7", ""]) == (
        "<table><thead><tr><th></th><th>mvn</th></tr></thead><tbody>"
        '<tr style="background:#f7f7f7"><th title="FD &quot;Frechet&quot;">fd</th>'
        "<td><b>9.30±0.40</b></td></tr>"
        "<tr><th>gmm</th><td>&lt;</td></tr></tbody></table>"
    )


def test_the_page_links_its_sections_escapes_captions_and_counts_figures(tmp_path):
    page = Page(tmp_path)
    page.section("pairs", "Pairs & more", "Text with <code>html</code>.")
    page.image("grid.png", 'a "grid" <1>', css="grid")
    page.note("none <here>")
    assert page.figures == 1 and page.toc == [("pairs", "Pairs & more")]
    assert page.parts == [
        '<h2 id="pairs">Pairs &amp; more</h2>',
        "<p>Text with <code>html</code>.</p>",
        '<figure><img class="grid" src="grid.png" alt="a &quot;grid&quot; &lt;1&gt;">'
        "<figcaption>a &quot;grid&quot; &lt;1&gt;</figcaption></figure>",
        "<p><em>none &lt;here&gt;</em></p>",
    ]
    assert page.contents() == (
        '<nav id="contents"><h2>Contents</h2><ol>'
        '<li><a href="#pairs">Pairs &amp; more</a></li></ol></nav>'
    )
    whole = document("lsf <report>", "".join(page.parts))
    assert whole.startswith("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>")
    assert f"<title>lsf &lt;report&gt;</title><style>{STYLE}</style></head><body>" in whole
    assert whole.endswith("</body></html>\n")
