"""Is the model shown the images far below their own resolution? A short probe at a larger size tells.

The classic remedy "change the image size" helps when the class lives in detail that downsampling destroys
(texture, small parts, print). The check: when the images' median short side is at least `FAR_BELOW` times the
side the recipe trains at, train the recipe briefly at the original size and at a larger one (up to
`PROBE_SCALE` times it, never above the native side), same optimizer steps (half the recipe's, at least
`PROBE_MIN_STEPS`: an undertrained net at the larger size loses to the smaller one for lack of steps, not of
detail), same seed; `RESOLUTION_TOO_LOW` fires when
the larger size reaches a validation accuracy clearly above the smaller one (more than `MARGIN_SE` standard
errors of the difference and at least `MIN_GAIN`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from liftlab.config import Recipe, with_values
from liftlab.data.loading import ImageData, load_data
from liftlab.models.backbones import DEFAULT_BACKBONE, PHOTO_SIDE
from liftlab.models.backbones import get as get_backbone
from liftlab.records import Finding
from liftlab.train.loop import fit

FAR_BELOW = 2.0
PROBE_SCALE = 4
MAX_PROBE_SIZE = 224
PROBE_SHARE = 0.5  # of the recipe's epochs, for both short runs
# ... but never fewer optimizer steps than this: 5 epochs of batch 128 on 3,068 clothing photos (120 steps)
# left a from-scratch net at 128 px behind the same net at 32 px (40% against 53% validation accuracy), an
# undertrained comparison; liftlab's profile wants 400 steps for a full from-scratch run, the probe half that.
PROBE_MIN_STEPS = 200
MARGIN_SE = 2.0
MIN_GAIN = 0.02


@dataclass(frozen=True)
class ResolutionProbe:
    native_short_side: float
    size: int
    probe_size: int
    epochs: int
    steps: int  # optimizer steps of each run (same images, same batch at both sizes)
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


def probe_epochs(recipe_epochs: int, steps_per_epoch: int) -> int:
    """Epochs of each short run: PROBE_SHARE of the recipe's, or more to make PROBE_MIN_STEPS optimizer steps.

    >>> probe_epochs(10, 100), probe_epochs(10, 24), probe_epochs(5, 500)
    (5, 9, 3)
    """
    return max(1, math.ceil(recipe_epochs * PROBE_SHARE), math.ceil(PROBE_MIN_STEPS / max(steps_per_epoch, 1)))


def steps_per_epoch(recipe: Recipe, n_train: int) -> int:
    return max(n_train // recipe.optim.batch_size, 1)


def probe_cost(seconds_per_epoch: float, epochs: int, size: int, larger: int) -> float:
    """Seconds the two short runs should take, from the baseline's epoch: cost grows with the pixel count."""
    return seconds_per_epoch * epochs * (1 + (larger / size) ** 2)


def measure_resolution(
    spec: str, recipe: Recipe, data: ImageData, native_short_side: float, larger: int, *, skip_bad: bool = False
) -> ResolutionProbe:
    """Train `recipe` for `probe_epochs` at its size (on `data`) and at `larger`; both validated."""
    per_epoch = steps_per_epoch(recipe, len(data.train))
    epochs = probe_epochs(recipe.epochs, per_epoch)
    short = with_values(recipe, {"epochs": epochs})
    at_size = fit(short, data, validate_every_epoch=False)
    bigger = with_values(short, {"data.size": larger})
    at_larger = fit(bigger, load_data(spec, bigger.data, skip_bad=skip_bad), validate_every_epoch=False)
    return ResolutionProbe(
        native_short_side=native_short_side,
        size=recipe.data.size,
        probe_size=larger,
        epochs=epochs,
        steps=epochs * per_epoch,
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
            f"(median short side): in the same {probe.steps} optimizer steps, {probe.probe_size} px reached "
            f"{high:.3f} validation accuracy against {low:.3f} at {probe.size} px",
            probe.to_dict() | {"standard_error": standard_error},
        )
    ]


def from_scratch_findings(native_short_side: float | None, recipe: Recipe) -> list[Finding]:
    """FROM_SCRATCH_ON_PHOTOS when a from-scratch recipe trains far below the size of photographs: the classic
    advice is to start from a pretrained model, at (up to) its native size, as liftlab's data profile does."""
    if recipe.model.pretrained or native_short_side is None:
        return []
    if native_short_side < PHOTO_SIDE or native_short_side < FAR_BELOW * recipe.data.size:
        return []
    backbone = get_backbone(DEFAULT_BACKBONE)
    size = min(backbone.native_size, int(math.ceil(native_short_side / 32) * 32))
    return [
        Finding(
            "FROM_SCRATCH_ON_PHOTOS",
            "warning",
            f"the model trains from scratch at {recipe.data.size} px on photographs (median short side "
            f"{native_short_side:.0f} px): start from a pretrained backbone ({backbone.name}) at {size} px, as "
            f"liftlab's data profile does (`liftlab diagnose` without --recipe diagnoses that baseline; "
            f"`liftlab improve` starts from it)",
            {
                "native_short_side": native_short_side,
                "size": recipe.data.size,
                "backbone": backbone.name,
                "suggested_size": size,
            },
        )
    ]
