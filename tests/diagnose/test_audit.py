"""The augmentation audit tests each augmentation at its strategy's own strength and flags changes that go
consistently to another class (issue 17, item 8) or that are most of the correct predictions wherever they go
(issue 32, item 8), not a weak model's minority of scattered changes. A hand-made model reads where a bright
blob sits, so the right answers are known without training."""

from __future__ import annotations

import torch
from torch import nn

from liftlab.config import Recipe, apply_overrides
from liftlab.diagnose.audit import (
    CHANGE_FACTOR,
    CHANGE_MARGIN,
    CONSISTENT,
    MOST,
    AuditResult,
    Strengths,
    audit_augmentations,
    audit_findings,
    lower_bound,
)
from liftlab.train.inference import Preprocess, predict_logits

SIDE = 32


class WhereIsTheBlob(nn.Module):
    """Logits for left, right, top, bottom: the mean brightness of each outer third."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(10.0))  # inference reads the device off a parameter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        third = SIDE // 3
        edges = [x[..., :third], x[..., -third:], x[..., :third, :], x[..., -third:, :]]
        return torch.stack([e.mean(dim=(1, 2, 3)) for e in edges], dim=1) * self.scale


def _blobs(per_class: int = 30) -> tuple[torch.Tensor, torch.Tensor]:
    """A bright square off-centre towards the left, right, top or bottom edge (classes 0-3)."""
    generator = torch.Generator().manual_seed(0)
    images = torch.full((4 * per_class, 3, SIDE, SIDE), 40, dtype=torch.uint8)
    labels = torch.arange(4).repeat(per_class)
    for i, label in enumerate(labels.tolist()):
        along = int(torch.randint(12, 15, (1,), generator=generator))  # straddling the middle: no ties
        across = int(torch.randint(1, 5, (1,), generator=generator))
        rows, cols = (slice(along, along + 6), slice(across, across + 6))
        if label == 1:
            cols = slice(SIDE - across - 6, SIDE - across)
        elif label in (2, 3):
            rows, cols = (slice(across, across + 6), slice(along, along + 6))
            if label == 3:
                rows = slice(SIDE - across - 6, SIDE - across)
        images[i, :, rows, cols] = 230
    return images, labels


def test_the_audit_uses_each_strategys_own_strength() -> None:
    images, labels = _blobs()
    preprocess = Preprocess.fit(images, Recipe())
    model = WhereIsTheBlob()
    gentle = audit_augmentations(model, images, labels, preprocess, torch.float32, Strengths(15, 4))
    assert gentle.changes["flip"] > 0.35 and "flip" in gentle.flagged, "left becomes right (half the classes)"
    assert gentle.consistency["flip"] == 1.0 and gentle.kinds["flip"] == "swap"
    assert "rotate" not in gentle.flagged and gentle.changes["rotate"] < 0.1, "15 degrees keeps the side"
    assert "crop" not in gentle.flagged
    quarter = audit_augmentations(model, images, labels, preprocess, torch.float32, Strengths(90, 4))
    assert "rotate" in quarter.flagged and quarter.strengths["rotate_degrees"] == 90


def test_strengths_follow_the_recipe_or_the_strategys_default() -> None:
    assert Strengths.of(Recipe()) == Strengths(15.0, 4)
    assert Strengths.of(apply_overrides(Recipe(), ["augment.rotate=30", "augment.crop_padding=2"])) == Strengths(30, 2)


class MirrorSensitiveHash(nn.Module):
    """A model that a mirror unsettles: it hashes two statistics of the column profile's steps, the mean
    cubed step (which a mirror negates, weighted by `mirror_weight`) and the mean squared step (which it
    keeps), into six classes. A shift of flat borders leaves both exactly unchanged; a mirror sends an image
    to an unrelated class, scattered over the others rather than consistently to one: most images at a large
    weight, a minority (those near a class boundary) at a small one."""

    def __init__(self, mirror_weight: float) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(10.0))
        self.mirror_weight = mirror_weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps = x.mean(dim=(1, 2)).diff(dim=1)
        hashed = torch.frac(self.mirror_weight * (steps**3).mean(1) + 3.0 * (steps**2).mean(1) + 100.0)
        classes = (hashed * 6).long().clamp(max=5)
        return nn.functional.one_hot(classes, 6).float() * self.scale


def _profiles(count: int = 300) -> torch.Tensor:
    """Images whose rows are all one random smooth profile, flat over the five columns at either edge."""
    generator = torch.Generator().manual_seed(0)
    middle = torch.rand(count, SIDE - 10, generator=generator) * 180 + 40
    middle = nn.functional.avg_pool1d(middle[:, None], 3, 1, 1)[:, 0]
    profile = torch.cat([middle[:, :1].expand(count, 5), middle, middle[:, -1:].expand(count, 5)], 1)
    return profile[:, None, None, :].expand(count, 3, SIDE, SIDE).round().to(torch.uint8).contiguous()


def _mirror_audit(mirror_weight: float) -> tuple[AuditResult, int]:
    images = _profiles()
    preprocess = Preprocess.fit(images, Recipe())
    model = MirrorSensitiveHash(mirror_weight)
    labels = predict_logits(model, images, preprocess, torch.float32).argmax(1)  # every answer right
    assert torch.bincount(labels, minlength=6).min() >= 30, "all six classes are present"
    result = audit_augmentations(model, images, labels, preprocess, torch.float32, Strengths(15, 4))
    assert result.reference_change == 0.0 and result.changes["crop"] == 0.0, "the borders are flat"
    return result, len(images)


def test_a_minority_of_changes_scattered_over_classes_is_not_flagged() -> None:
    result, count = _mirror_audit(0.3)
    threshold = max(CHANGE_FACTOR * result.reference_change, result.reference_change + CHANGE_MARGIN)
    assert lower_bound(round(result.changes["flip"] * count), count) > threshold, (
        "by the change rate alone the mirror would be flagged"
    )
    assert lower_bound(round(result.changes["flip"] * count), count) < MOST, "but it changes a minority"
    assert result.consistency["flip"] < CONSISTENT, "and its changes scatter over the other classes"
    assert "flip" not in result.flagged


def test_most_predictions_changed_are_flagged_as_lost_information_even_when_they_scatter() -> None:
    result, count = _mirror_audit(7.0)
    assert lower_bound(round(result.changes["flip"] * count), count) > MOST
    assert result.consistency["flip"] < 0.4, "the changes scatter: no class is swapped for another"
    assert "flip" in result.flagged and result.kinds["flip"] == "scatter"
    (finding,) = [f for f in audit_findings(result) if f.evidence["strategy"] == "flip"]
    assert finding.evidence["effect"] == "scatter" and "scatter over the classes" in finding.message
