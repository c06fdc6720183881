"""Is the model shown the images far below their own resolution? A short probe at a larger size tells.

The classic remedy "change the image size" helps when the class lives in detail that downsampling destroys
(texture, small parts, print). The check: when the images' median short side is at least `FAR_BELOW` times the
side the recipe trains at, train the recipe briefly at the original size and at a larger one (up to
`PROBE_SCALE` times it, never above the native side), same epochs, same seed; `RESOLUTION_TOO_LOW` fires when
the larger size reaches a validation accuracy clearly above the smaller one (more than `MARGIN_SE` standard
errors of the difference and at least `MIN_GAIN`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from liftlab.config import Recipe, with_values
from liftlab.data.loading import ImageData, load_data
from liftlab.records import Finding
from liftlab.train.loop import fit

FAR_BELOW = 2.0
PROBE_SCALE = 4
MAX_PROBE_SIZE = 224
PROBE_SHARE = 0.5  # of the recipe's epochs, for both short runs
MARGIN_SE = 2.0
MIN_GAIN = 0.02


@dataclass(frozen=True)
class ResolutionProbe:
    native_short_side: float
    size: int
    probe_size: int
    epochs: int
    val_acc_at_size: float
    val_acc_at_probe_size: float
    n_val: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def probe_size(native_short_side: float | None, size: int) -> int | None:
    """The larger side to probe, or None when the images are not far larger than `size`.

    >>> probe_size(288, 32), probe_size(96, 16), probe_size(40, 32)
    (128, 64, None)
    """
    if native_short_side is None or native_short_side < FAR_BELOW * size:
        return None
    larger = min(PROBE_SCALE * size, int(native_short_side) // 8 * 8, MAX_PROBE_SIZE)
    return larger if larger > size else None


def probe_cost(baseline_seconds: float, size: int, larger: int) -> float:
    """Seconds the two short runs should take, from the baseline's: cost grows with the pixel count."""
    return PROBE_SHARE * baseline_seconds * (1 + (larger / size) ** 2)


def measure_resolution(
    spec: str, recipe: Recipe, data: ImageData, native_short_side: float, larger: int, *, skip_bad: bool = False
) -> ResolutionProbe:
    """Train `recipe` for PROBE_SHARE of its epochs at its size (on `data`) and at `larger`; both validated."""
    epochs = max(1, math.ceil(recipe.epochs * PROBE_SHARE))
    short = with_values(recipe, {"epochs": epochs})
    at_size = fit(short, data, validate_every_epoch=False)
    bigger = with_values(short, {"data.size": larger})
    at_larger = fit(bigger, load_data(spec, bigger.data, skip_bad=skip_bad), validate_every_epoch=False)
    return ResolutionProbe(
        native_short_side=native_short_side,
        size=recipe.data.size,
        probe_size=larger,
        epochs=epochs,
        val_acc_at_size=float(at_size.val_acc or 0.0),
        val_acc_at_probe_size=float(at_larger.val_acc or 0.0),
        n_val=len(data.val),
    )


def resolution_findings(probe: ResolutionProbe | None) -> list[Finding]:
    """RESOLUTION_TOO_LOW when the larger size trained clearly better in the same short budget."""
    if probe is None:
        return []
    low, high = probe.val_acc_at_size, probe.val_acc_at_probe_size
    p = min(max((low + high) / 2, 0.01), 0.99)
    standard_error = math.sqrt(2 * p * (1 - p) / max(probe.n_val, 1))
    if high - low <= max(MARGIN_SE * standard_error, MIN_GAIN):
        return []
    return [
        Finding(
            "RESOLUTION_TOO_LOW",
            "warning",
            f"the model sees the images at {probe.size} px, far below their native {probe.native_short_side:.0f} px "
            f"(median short side): in the same {probe.epochs} epochs, {probe.probe_size} px reached "
            f"{high:.3f} validation accuracy against {low:.3f} at {probe.size} px",
            probe.to_dict() | {"standard_error": standard_error},
        )
    ]
