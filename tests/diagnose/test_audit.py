"""The augmentation audit tests each augmentation at its strategy's own strength and flags only changes that
go consistently to another class (issue 17, item 8). A hand-made model reads where a bright blob sits, so
the right answers are known without training."""

from __future__ import annotations

import torch
from torch import nn

from liftlab.config import Recipe, apply_overrides
from liftlab.diagnose.audit import Strengths, audit_augmentations
from liftlab.train.inference import Preprocess

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
    assert gentle.consistency["flip"] == 1.0
    assert "rotate" not in gentle.flagged and gentle.changes["rotate"] < 0.1, "15 degrees keeps the side"
    assert "crop" not in gentle.flagged
    quarter = audit_augmentations(model, images, labels, preprocess, torch.float32, Strengths(90, 4))
    assert "rotate" in quarter.flagged and quarter.strengths["rotate_degrees"] == 90


def test_strengths_follow_the_recipe_or_the_strategys_default() -> None:
    assert Strengths.of(Recipe()) == Strengths(15.0, 4)
    assert Strengths.of(apply_overrides(Recipe(), ["augment.rotate=30", "augment.crop_padding=2"])) == Strengths(30, 2)
