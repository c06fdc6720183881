"""The data review's contact sheet: the suspects as pictures with their evidence (`review.html`)."""

from __future__ import annotations

from pathlib import Path

from liftlab.records.review import Review
from liftlab.report.html import pct, render_page

SHOWN = 48
"""Pictures per section: the most suspect images, the farthest outliers, the closest near-copy pairs."""


def _short(path: str) -> str:
    """The last two parts of a path (class folder and file), what a person recognises an image by."""
    return "/".join(Path(path).parts[-2:])


def write_review_page(review: Review, thumbnails: dict[str, str], path: Path, weak_below: float) -> Path:
    """The contact sheet; below `weak_below` out-of-fold accuracy it warns that the suspects are the heads' errors
    as much as wrong labels."""
    return render_page(
        "review.html",
        path,
        r=review,
        thumbs=thumbnails,
        label_suspects=review.label_suspects(SHOWN),
        outliers=review.outlier_images(SHOWN),
        shown=SHOWN,
        pct=pct,
        short=_short,
        weak=weak_below,
    )
