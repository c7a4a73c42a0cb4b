"""The page being built: its sections (headings for the table of contents), figures saved
as PNG beside it, tables and notes; the CSS and the document shell both pages share.

A section module adds to a `Page`; the verb (`lsf.report`, `lsf.sweep.page`) wraps
`Page.parts` in `document` and writes the file. The page opens from the file system.
"""

from __future__ import annotations

import html
from pathlib import Path

from lsf.pages.tables import table

MISSING = "not in this analysis"
STYLE = """body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;
color:#222}img{max-width:100%;border:1px solid #ddd}figure{margin:1em 0}figcaption{color:#444;
font-size:.92em;max-width:60em}table{border-collapse:collapse;margin:1em 0}td,th{border:1px
solid #ccc;padding:.25em .6em;text-align:right}th{background:#f3f3f3}h2{border-bottom:2px solid
#eee;margin-top:2em}nav ol{columns:2;line-height:1.6}nav h2{margin-top:1em}img.grid{
width:min(100%,560px);image-rendering:pixelated}"""


class Page:
    """Collects figures (saved as PNG in `folder`), HTML parts and the table of contents."""

    def __init__(self, folder: Path):
        self.folder, self.parts, self.figures, self.toc = Path(folder), [], 0, []

    def section(self, anchor: str, title: str, text: str = "") -> None:
        """A linked `<h2>`; `text` (HTML) is the paragraph under it."""
        self.toc.append((anchor, title))
        self.parts.append(f'<h2 id="{anchor}">{html.escape(title)}</h2>')
        if text:
            self.parts.append(f"<p>{text}</p>")

    def add(self, fragment: str) -> None:
        """HTML as it is (the caller escaped what needs it)."""
        self.parts.append(fragment)

    def note(self, text: str) -> None:
        """A line in italics: what a section lacks and why."""
        self.parts.append(f"<p><em>{html.escape(text)}</em></p>")

    def missing(self, what: str) -> None:
        """The line a section shows for inputs its analysis or samples folder lacks."""
        self.note(f"{what}: {MISSING}.")

    def figure(self, name: str, figure, caption: str) -> None:
        figure.savefig(self.folder / f"{name}.png", dpi=110)
        self.image(f"{name}.png", caption)

    def image(self, file: str, caption: str, css: str = "") -> None:
        """A PNG already in the folder; `css="grid"` scales a small image grid up, pixelated."""
        self.figures += 1
        kind = f' class="{css}"' if css else ""
        self.parts.append(
            f'<figure><img{kind} src="{html.escape(file)}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    def table(self, header: list, rows: list[list], row_styles: list[str] | None = None) -> None:
        self.parts.append(table(header, rows, row_styles))

    def contents(self) -> str:
        items = "".join(
            f'<li><a href="#{anchor}">{html.escape(title)}</a></li>' for anchor, title in self.toc
        )
        return f'<nav id="contents"><h2>Contents</h2><ol>{items}</ol></nav>'


def document(title: str, body: str) -> str:
    """The whole HTML file: `body` (HTML) under the shared style."""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        + body
        + "</body></html>\n"
    )
