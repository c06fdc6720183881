"""Augmentation audit: would this augmentation change what the images mean?

A trained baseline predicts the validation images, then the same images transformed by each
candidate augmentation. A label-preserving change (a shift of a few pixels) moves some predictions
of an imperfect model; an augmentation that changes far more predictions than that, on images the
model got right, turns one class into another (a flip on left/right arrows, grayscale on
colour-coded classes) and must not be used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from liftlab.diagnose.findings import Finding
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


def _crop_at_its_limit(images: torch.Tensor) -> torch.Tensor:
    """The largest shift of the default random crop (size/8), edges repeated: what it moves out of
    the frame, not the black border a model trained without crops has never seen."""
    return _shift(images, max(1, images.shape[-1] // 8))


# strategy name -> the deterministic transform that stands for it in the audit
CANDIDATES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "flip": lambda x: x.flip(3),
    "vflip": lambda x: x.flip(2),
    "rotate": lambda x: torch.rot90(x, 1, dims=(2, 3)),
    "color": _gray,
    "crop": _crop_at_its_limit,
}
CHANGE_FACTOR = 3.0  # flagged when it changes 3x as many predictions as the reference shift ...
CHANGE_MARGIN = 0.15  # ... and at least 15 points more


@dataclass
class AuditResult:
    reference_change: float
    changes: dict[str, float]
    flagged: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"reference_change": self.reference_change, "changes": self.changes, "flagged": self.flagged}


def audit_augmentations(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, preprocess: Preprocess, dtype: torch.dtype
) -> AuditResult:
    """Share of correctly predicted validation images whose prediction each transform changes."""
    original = predict_logits(model, images, preprocess, dtype).argmax(1)
    right = original == labels
    if int(right.sum()) == 0:
        return AuditResult(0.0, {}, [])
    kept = images[right]
    base = original[right]

    def changed(transform: Callable[[torch.Tensor], torch.Tensor]) -> float:
        moved = predict_logits(model, transform(kept), preprocess, dtype).argmax(1)
        return float((moved != base).float().mean())

    reference = changed(lambda x: _shift(x, max(1, x.shape[-1] // 16)))
    changes = {name: changed(transform) for name, transform in CANDIDATES.items()}
    if images.shape[1] != 3:
        changes.pop("color")
    threshold = max(CHANGE_FACTOR * reference, reference + CHANGE_MARGIN)
    flagged = [name for name, change in changes.items() if change > threshold]
    return AuditResult(reference, changes, flagged)


def audit_findings(result: AuditResult, active: frozenset[str] = frozenset()) -> list[Finding]:
    """One finding per flagged augmentation: a warning when the recipe uses it, else advice (info)."""
    return [
        Finding(
            "AUGMENTATION_CHANGES_LABEL",
            "warning" if name in active else "info",
            f"'{name}' changes {result.changes[name]:.0%} of the baseline's correct predictions (a small shift: "
            f"{result.reference_change:.0%}): it likely turns one class into another here; do not use it",
            {
                "strategy": name,
                "change": result.changes[name],
                "reference_change": result.reference_change,
                "plot": "augmentation audit",
            },
        )
        for name in result.flagged
    ]
