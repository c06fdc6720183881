"""The images' own geometry (median short side and aspect ratio) before liftlab resizes them, from the file
headers alone, so that a model can say when it is shown images unlike those it was trained on."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
from PIL import Image

from liftlab.data.sources import SplitItems
from liftlab.records.runs import Geometry

SAMPLE = 256
"""Files read per split: evenly spaced, enough for a median, and a header read costs well under 1 ms."""
SIDE_FACTOR = 2.0
"""A short side this many times larger or smaller than the training images' is a resolution mismatch."""
ASPECT_CHANGE = 0.25
"""An aspect ratio that differs by more than this share from the training images' is a mismatch."""


def _median(sizes: list[tuple[int, int]]) -> Geometry | None:
    if not sizes:
        return None
    widths, heights = np.array(sizes, dtype=float).T
    return Geometry(float(np.median(np.minimum(widths, heights))), float(np.median(widths / heights)), len(sizes))


def geometry_of_paths(paths: list[Path]) -> Geometry | None:
    """Median geometry of up to SAMPLE evenly spaced files (unreadable ones skipped)."""
    step = max(len(paths) // SAMPLE, 1)
    sizes = []
    for path in paths[::step][:SAMPLE]:
        with contextlib.suppress(OSError, ValueError, Image.DecompressionBombError), Image.open(path) as image:
            sizes.append(image.size)
    return _median(sizes)


def geometry_of_items(items: SplitItems) -> Geometry | None:
    if items.images is not None:
        _, _, height, width = items.images.shape
        return _median([(width, height)] * min(len(items), 1))
    return geometry_of_paths(items.paths or [])


def mismatch(trained: Geometry | None, seen: Geometry | None) -> str | None:
    """A warning when `seen` images differ clearly in resolution or aspect from the `trained` images.

    >>> mismatch(Geometry(288, 1.33, 10), Geometry(32, 1.0, 10)) is not None
    True
    >>> mismatch(Geometry(288, 1.33, 10), Geometry(300, 1.3, 10)) is None
    True
    """
    if trained is None or seen is None:
        return None
    side, aspect = trained.short_side, trained.aspect_ratio
    ratio = max(seen.short_side / side, side / seen.short_side)
    if ratio < SIDE_FACTOR and abs(seen.aspect_ratio / aspect - 1) <= ASPECT_CHANGE:
        return None
    return (
        f"these images (median short side {seen.short_side:.0f} px, aspect {seen.aspect_ratio:.2f}) differ from the "
        f"training images ({side:.0f} px, aspect {aspect:.2f}): both are resized to the model's input, but detail and "
        "shape differ (a train/test resolution mismatch), so expect lower accuracy than measured on the test split"
    )
