"""Plain, self-contained HTML reports (pictures inlined) rendered with Jinja2 from records.

Every report is a template in `report/templates/` that extends `base.html` (one stylesheet) and draws its
pictures with the `figures` macro; this module holds the environment, the picture inlining and the
number formats the templates share."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from liftlab.io import write_text
from liftlab.records import AblationResult
from liftlab.report.plots import CURVES

# Autoescape everything: class names, file names and recipe values come from the user's data.
ENV = Environment(loader=PackageLoader("liftlab", "report/templates"), autoescape=select_autoescape(default=True))


def inline_images(plots: Iterable[tuple[str, Path]]) -> list[tuple[str, str]]:
    """(title, PNG path) pairs -> (title, base64 text) pairs, for a page that needs no other file."""
    return [(title, base64.b64encode(path.read_bytes()).decode()) for title, path in plots]


def render_page(template: str, path: Path, **context: Any) -> Path:
    """Render `templates/<template>` with `context` into `path`."""
    write_text(path, ENV.get_template(template).render(**context))
    return path


def pct(value: float | None) -> str:
    """0.9127 -> '91.27%'; None -> ''."""
    return "" if value is None else f"{100 * value:.2f}%"


def signed(value: float) -> str:
    """0.0556 -> '+5.56 pt'."""
    return f"{100 * value:+.2f} pt"


def ablation_report(summary: AblationResult, plots: dict[str, Path], path: Path) -> Path:
    titles = {"test_acc": "Test accuracy per arm"} | {name: curve.title.capitalize() for name, curve in CURVES.items()}
    images = inline_images((titles[name], plots[name]) for name in titles if name in plots)
    return render_page("ablation.html", path, s=summary, images=images, pct=pct, signed=signed)
