"""The data profile: what the data check measured, turned into the baseline `improve` starts from.

The rule, in order (each choice is recorded with its reason in improve.json and the report):

1. **Starting network.** Photographs (median short side at least `PHOTO_SIDE` px) start from a pretrained
   backbone (EfficientNet-Lite0, whose ImageNet features transfer to photos) as a linear probe on cached
   features: about one forward pass over the data, and on TrashNet 86% test accuracy against 75-80% that
   published from-scratch CNNs reach. Colour thumbnails (`THUMBNAIL_SIDE` to `PHOTO_SIDE` px, CIFAR-10's 32 px)
   start from it too, upscaled: on CIFAR-10 (9,000 training images) the probe reached 76% validation accuracy
   at 128 px and a 16-minute fine-tune of it 84.9% test accuracy, where from-scratch remedies plateau at 77%.
   Icons below `THUMBNAIL_SIDE` px, grayscale thumbnails and liftlab's `builtin:` sets (drawn shapes, whose
   known answers are about from-scratch remedies; 8-px digits) train from scratch. Grayscale photographs
   start from the backbone like colour ones.
2. **Image size.** A pretrained start sees photographs at the backbone's native resolution (224 px for Lite0)
   or at their own short side when smaller (rounded up to a multiple of 32); thumbnails at `UPSCALED_SIDE`.
   From scratch: the images' own short side (rounded up to a multiple of 8, between 8 and
   `MAX_SCRATCH_SIZE`), never below the data.
3. **Resize policy.** `stretch` while the median aspect ratio is within `MILD_ASPECT` of square (a crop would
   cut off more than the stretch distorts); `keep-aspect` (letterbox) beyond it.
4. **Training length counts optimizer steps.** A batch small enough for at least `MIN_BATCHES` steps per epoch,
   and epochs enough for `MIN_STEPS` steps (from scratch) or `PROBE_STEPS` (a probe's head), within
   [`MIN_EPOCHS`, `MAX_EPOCHS`]: 300 images get about 400 steps, not the 30 of 10 epochs at batch 128.

A user's `--recipe` replaces the profile altogether, and every `--set` is applied on top of it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

from liftlab.config import Recipe, RecipeValue, apply_overrides, with_values
from liftlab.data.check import CheckReport
from liftlab.models.backbones import DEFAULT_BACKBONE, PHOTO_SIDE
from liftlab.models.backbones import get as get_backbone
from liftlab.records.fields import JsonObject

THUMBNAIL_SIDE = 32
"""Median short side (px) from which colour images start from the pretrained backbone, upscaled: below it an
image is a few ImageNet receptive fields of blur (a 12-px icon at 128 px), and a small net at its own size is
cheap."""
UPSCALED_SIDE = 128
"""The size thumbnails are shown to the frozen backbone at for the probes: its last block keeps a 4x4 map there,
and at 224 px extraction costs 3x as much. The fine-tune picks its own side, 96 to 192 px, by the time left
(`experiments/improve/finetune_plan.py`)."""
GRAY_MODES = frozenset({"L", "1", "I", "I;16", "F"})
MAX_SCRATCH_SIZE = 64
MILD_ASPECT = 1.4
MIN_BATCHES = 8
MIN_STEPS = 400
PROBE_STEPS = 1000
MIN_EPOCHS, MAX_EPOCHS = 10, 100
SCRATCH_BATCH, PROBE_BATCH = 128, 64

PROFILE_SOURCE = "liftlab's data profile, the baseline `liftlab improve` starts from (--recipe default: the plain one)"
"""What a diagnosis of the profiled baseline says about where its recipe came from."""


@dataclass(frozen=True)
class Profile:
    """What the data looks like and the baseline chosen for it: `overrides` are dotted recipe fields."""

    short_side: float | None
    aspect_ratio: float | None
    n_train: int
    smallest_class: int
    image_modes: dict[str, int]
    overrides: dict[str, RecipeValue] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    def record(self) -> JsonObject:
        return asdict(self)


def _round_up(value: float, multiple: int) -> int:
    return int(math.ceil(value / multiple) * multiple)


def _batch_and_epochs(n_train: int, largest_batch: int, steps_wanted: int) -> tuple[int, int]:
    """The largest power-of-two batch up to `largest_batch` that gives MIN_BATCHES steps an epoch, and the
    epochs that make `steps_wanted` steps."""
    batch = largest_batch
    while batch > 8 and n_train // batch < MIN_BATCHES:
        batch //= 2
    steps_per_epoch = max(n_train // batch, 1)
    epochs = min(max(math.ceil(steps_wanted / steps_per_epoch), MIN_EPOCHS), MAX_EPOCHS)
    return batch, epochs


def profile_data(check: CheckReport) -> Profile:
    """The baseline for the data a `check_data(...)` report describes.

    >>> report = CheckReport("photos", ["a", "b"], {"train": {"a": 900, "b": 900}}, 1.0, {}, {"RGB": 1800},
    ...     train_image_size={"short_side": {"median": 288.0}, "aspect_ratio": {"median": 1.33}})
    >>> profile = profile_data(report)
    >>> profile.overrides["model.pretrained"], profile.overrides["data.size"], profile.overrides["data.resize"]
    ('efficientnet_lite0', 224, 'stretch')
    """
    side = check.native_short_side  # the training split's geometry: the test split decides nothing
    aspect = check.train_image_size.get("aspect_ratio", {}).get("median")
    train_counts = dict(check.counts.get("train", {}))
    n_train = sum(train_counts.values())
    smallest = min((c for c in train_counts.values() if c > 0), default=0)
    overrides: dict[str, RecipeValue] = {}
    reasons: list[str] = []
    modes = dict(check.image_modes)
    gray = bool(modes) and set(modes) <= GRAY_MODES
    generated = check.spec.startswith("builtin:")
    photographs = side is not None and side >= PHOTO_SIDE
    thumbnails = side is not None and THUMBNAIL_SIDE <= side < PHOTO_SIDE and not gray and not generated
    if photographs or thumbnails:
        backbone = get_backbone(DEFAULT_BACKBONE)
        size = min(backbone.native_size, _round_up(side or 0, 32)) if photographs else UPSCALED_SIDE
        batch, epochs = _batch_and_epochs(n_train, PROBE_BATCH, PROBE_STEPS)
        overrides |= {
            "model.pretrained": backbone.name,
            "model.finetune": "linear",
            "data.size": size,
            "optim.name": "adamw",
            "optim.lr": 1e-3,
            "optim.weight_decay": 1e-4,
            "optim.batch_size": batch,
            "epochs": epochs,
        }
        if photographs:
            what = f"photographs (median short side {side:.0f} px >= {PHOTO_SIDE})"
            at = "its native size" if size == backbone.native_size else "the images own short side"
        else:
            what = f"colour thumbnails (median short side {side:.0f} px: at least {THUMBNAIL_SIDE}, below {PHOTO_SIDE})"
            at = "upscaled: ImageNet features need the objects at tens of pixels"
        reasons.append(
            f"{what}: start from {backbone.name} (ImageNet top-1 {backbone.imagenet_top1}%) as a linear probe "
            f"on cached features, at {size} px ({at})"
        )
        reasons.append(f"head training: batch {batch}, {epochs} epochs ({epochs * max(n_train // batch, 1)} steps)")
    else:
        size = min(max(_round_up(side or 32, 8), 8), MAX_SCRATCH_SIZE)
        batch, epochs = _batch_and_epochs(n_train, SCRATCH_BATCH, MIN_STEPS)
        overrides |= {"data.size": size, "optim.batch_size": batch, "epochs": epochs}
        if side is None or side < THUMBNAIL_SIDE:
            why = f"icons (median short side {side if side is None else round(side)} px < {THUMBNAIL_SIDE})"
        else:
            why = "grayscale thumbnails" if gray else "a built-in set (builtin:), its known answers are from scratch"
        reasons.append(f"{why}: train from scratch at {size} px")
        reasons.append(
            f"training length: batch {batch}, {epochs} epochs ({epochs * max(n_train // batch, 1)} optimizer steps "
            f"for {n_train} training images; at least {MIN_STEPS} wanted)"
        )
    if aspect is not None and max(aspect, 1 / aspect) > MILD_ASPECT:
        overrides["data.resize"] = "keep-aspect"
        reasons.append(f"median aspect ratio {aspect:.2f}: keep the aspect (letterbox) rather than stretch")
    else:
        overrides["data.resize"] = "stretch"
        reasons.append(f"median aspect ratio {aspect if aspect is None else round(aspect, 2)}: stretch to square")
    if gray:
        overrides["data.color"] = "gray"
        reasons.append("every image is grayscale: one channel")
    return Profile(side, aspect, n_train, smallest, modes, overrides, reasons)


def profiled_baseline(check: CheckReport, user_overrides: list[str]) -> tuple[Recipe, Profile]:
    """liftlab's default recipe with the profile's choices, then the user's `--set key=value`s on top (they win).

    >>> report = CheckReport("icons", ["a", "b"], {"train": {"a": 90, "b": 90}}, 1.0, {},
    ...                      train_image_size={"short_side": {"median": 8.0}})
    >>> profiled_baseline(report, ["data.size=16"])[0].data.size
    16
    """
    profile = profile_data(check)
    recipe = apply_overrides(with_values(Recipe(), profile.overrides, "data profile"), user_overrides)
    # the profile's text names what it chose; a --set that replaced one of those choices is said next to it
    replaced = [o.strip() for o in user_overrides if o.partition("=")[0].strip() in profile.overrides]
    if replaced:
        profile = replace(
            profile, reasons=[*profile.reasons, f"--set {', '.join(replaced)} replaces the profile's choice"]
        )
    return recipe, profile
