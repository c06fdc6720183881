"""Augmentation audit: would this augmentation change what the images mean?

A trained baseline predicts the validation images, then the same images transformed by each
candidate augmentation at the strength its strategy would use. A label-preserving change (a shift of a
few pixels) moves some predictions of an imperfect model; an augmentation that changes far more
predictions than that, on images the model got right, either sends them consistently to another class
(a swap: a flip on left/right arrows) or changes most of them, wherever they go (information lost:
grayscale when hue is the class). A flag is advice: `improve` tries a flagged remedy last rather than
never, and validation decides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from scipy import stats
from torch import nn

from liftlab.augment.ops import affine, rotation_matrices
from liftlab.config import Recipe
from liftlab.records import Finding
from liftlab.strategies import get as get_strategy
from liftlab.train.inference import Preprocess, predict_logits


def _shift(images: torch.Tensor, pixels: int) -> torch.Tensor:
    """Move the picture down-right by `pixels`, repeating the edge (no new black border to react to)."""
    padded = F.pad(images.float(), (pixels, 0, pixels, 0), mode="replicate").to(images.dtype)
    return padded[:, :, : images.shape[2], : images.shape[3]]


def _gray(images: torch.Tensor) -> torch.Tensor:
    if images.shape[1] != 3:
        return images
    weights = torch.tensor([0.299, 0.587, 0.114])[None, :, None, None]
    luma = (images.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(images.dtype)
    return luma.expand_as(images).contiguous()


def _rotated(degrees: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """Rotation by the strategy's own largest angle (mirrored edges, as in training)."""

    def rotate(images: torch.Tensor) -> torch.Tensor:
        angles = torch.full((images.shape[0],), float(degrees))
        return affine(images.float(), rotation_matrices(angles)).round().clamp(0, 255).to(images.dtype)

    return rotate


@dataclass(frozen=True)
class Strengths:
    """How strongly each audited strategy transforms, as the recipe (or the strategy's default) sets it: the
    audit tests the augmentation that would be used, not a stronger one (rotate at 15 degrees, not 90)."""

    rotate_degrees: float = 15.0
    crop_pixels: int = 4

    @classmethod
    def of(cls, recipe: Recipe) -> Strengths:
        rotate = recipe.augment.rotate or float(get_strategy("rotate").default or 15)
        crop = recipe.augment.crop_padding or int(get_strategy("crop").default or 4)
        return cls(rotate, crop)


def candidates(strengths: Strengths) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """Strategy name -> the deterministic transform that stands for it in the audit, at its own strength."""
    return {
        "flip": lambda x: x.flip(3),
        "vflip": lambda x: x.flip(2),
        "rotate": _rotated(strengths.rotate_degrees),
        "color": _gray,
        # the crop's largest shift, edges repeated: what it moves out of the frame, not the black border a
        # model trained without crops has never seen
        "crop": lambda x: _shift(x, max(1, strengths.crop_pixels)),
    }


CHANGE_FACTOR = 3.0  # flagged when it changes 3x as many predictions as the reference shift ...
CHANGE_MARGIN = 0.15  # ... and at least 15 points more (both at the 95% lower bound of the change) ...
# ... and, with more than two classes, most changes go to one other class (per original class), at the 95%
# lower bound. Measured: a mirror on left/right arrows sends 97% of its changes to the mirrored class; on
# CIFAR-10 (fast recipe, 500 validation images) grayscale, a rotation and a crop send 59-62% to the nearest
# look-alike class (cat -> dog), which a share of one half flagged (grayscale) though none changes the label.
CONSISTENT = 0.7
# Or, wherever the changes go, when they are most of the correct predictions (95% lower bound above one half):
# the transform destroys what the class is told by. Measured (builtin:shapes-hue, class = hue at a random
# brightness, 3 seeds): grayscale changes 72-80% of the correct predictions with a consistency of 0.56-1.0, so
# the swap rule alone missed 2 seeds of 3; CIFAR-10 grayscale changes 29% (a weak model's confusion) and
# stays unflagged.
MOST = 0.5


def lower_bound(successes: int, trials: int) -> float:
    """One-sided 95% Clopper-Pearson lower bound of a binomial proportion.

    >>> round(lower_bound(30, 100), 2), lower_bound(0, 10)
    (0.22, 0.0)
    """
    if trials == 0 or successes == 0:
        return 0.0
    return float(stats.beta.ppf(0.05, successes, trials - successes + 1))


@dataclass
class AuditResult:
    reference_change: float
    changes: dict[str, float]
    flagged: list[str]
    consistency: dict[str, float] = field(default_factory=dict)  # share of changes going to one other class
    strengths: dict[str, float] = field(default_factory=dict)
    # flagged name -> "swap" (the changes go consistently to another class) or "scatter" (most predictions change,
    # wherever they go: information lost)
    kinds: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"reference_change": self.reference_change, "changes": self.changes, "flagged": self.flagged,
                "consistency": self.consistency, "strengths": self.strengths, "kinds": self.kinds}  # fmt: skip


def audit_augmentations(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    preprocess: Preprocess,
    dtype: torch.dtype,
    strengths: Strengths | None = None,
) -> AuditResult:
    """Share of correctly predicted validation images whose prediction each transform changes; flagged when
    the change is far above a small shift's (at its binomial lower bound) and, with more than two classes,
    either the changed predictions go consistently to one other class per class (a swap: a flip turning
    "left" into "right") or they are most of the correct predictions wherever they go (a scatter: grayscale
    when hue is the class). A weak model unsettled by any transform, changing a minority of its predictions
    in all directions, is neither."""
    strengths = strengths or Strengths()
    original = predict_logits(model, images, preprocess, dtype).argmax(1)
    right = original == labels
    n_right = int(right.sum())
    if n_right == 0:
        return AuditResult(0.0, {}, [])
    kept = images[right]
    base = original[right]
    n_classes = int(max(int(labels.max()), int(original.max())) + 1)

    def moved(transform: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        return predict_logits(model, transform(kept), preprocess, dtype).argmax(1)

    reference = float((moved(lambda x: _shift(x, max(1, x.shape[-1] // 16))) != base).float().mean())
    threshold = max(CHANGE_FACTOR * reference, reference + CHANGE_MARGIN)
    changes: dict[str, float] = {}
    consistency: dict[str, float] = {}
    flagged: list[str] = []
    kinds: dict[str, str] = {}
    for name, transform in candidates(strengths).items():
        if name == "color" and images.shape[1] != 3:
            continue
        predicted = moved(transform)
        changed = predicted != base
        n_changed = int(changed.sum())
        changes[name] = n_changed / n_right
        # per original class, how many changes went to its most common new class
        pairs = torch.bincount(base[changed] * n_classes + predicted[changed], minlength=n_classes**2)
        modal = int(pairs.view(n_classes, n_classes).max(1).values.sum())
        consistency[name] = modal / n_changed if n_changed else 0.0
        consistent = n_classes <= 2 or lower_bound(modal, n_changed) > CONSISTENT
        changed_bound = lower_bound(n_changed, n_right)
        if changed_bound > threshold and (consistent or changed_bound > MOST):
            flagged.append(name)
            kinds[name] = "swap" if consistent else "scatter"
    record = {"rotate_degrees": strengths.rotate_degrees, "crop_pixels": float(strengths.crop_pixels)}
    return AuditResult(reference, changes, flagged, consistency, record, kinds)


EFFECTS = {
    "swap": "they go consistently to another class: it likely turns one class into another here",
    "scatter": "they scatter over the classes: it likely erases what tells the classes apart here",
}


def audit_findings(result: AuditResult, active: frozenset[str] = frozenset()) -> list[Finding]:
    """One finding per flagged augmentation: a warning when the recipe uses it, else advice (info)."""
    findings = []
    for name in result.flagged:
        kind = result.kinds.get(name, "swap")
        findings.append(
            Finding(
                "AUGMENTATION_CHANGES_LABEL",
                "warning" if name in active else "info",
                f"'{name}' changes {result.changes[name]:.0%} of the baseline's correct predictions (a small "
                f"shift: {result.reference_change:.0%}), and {EFFECTS[kind]}; do not use it",
                {
                    "strategy": name,
                    "change": result.changes[name],
                    "reference_change": result.reference_change,
                    "consistency": result.consistency.get(name, 0.0),
                    "effect": kind,
                    "plot": "augmentation audit",
                },
            )
        )
    return findings
