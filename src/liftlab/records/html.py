"""Records that show themselves in Jupyter: the small HTML tables `_repr_html_` returns for a diagnosis, an
ablation and an improve result (plain escaped HTML, no template engine: the records layer imports nothing
above it). The full reports with their plots are the report layer's report.html pages."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape


def percent(value: float | None) -> str:
    """
    >>> percent(0.81234), percent(None)
    ('81.23%', 'n/a')
    """
    return "n/a" if value is None else f"{100 * value:.2f}%"


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """An HTML table of `rows` under `header`, every cell escaped.

    >>> table(["a"], [["<b>"]])
    '<table><tr><th>a</th></tr><tr><td>&lt;b&gt;</td></tr></table>'
    """
    head = "".join(f"<th>{escape(str(cell))}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def section(title: str, *parts: str) -> str:
    return f"<div><h4>{escape(title)}</h4>{''.join(parts)}</div>"


def paragraphs(lines: Iterable[str]) -> str:
    return "".join(f"<p>{escape(line)}</p>" for line in lines)
