"""Rich progress bars that stay quiet when output is not a terminal or the user asked for quiet."""

from __future__ import annotations

import sys

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel, where Rich draws the bars as widgets (stderr is no terminal there)."""
    from rich.console import Console

    return Console().is_jupyter


def make_progress(quiet: bool = False) -> Progress:
    """A progress display; disabled when `quiet`, or when stderr is not a terminal outside a notebook."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        disable=quiet or not (sys.stderr.isatty() or in_notebook()),
        transient=False,
    )
