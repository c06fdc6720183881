"""Test-time views: `tta=flip` averages the image and its mirror, and a recipe names only the views there are."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from liftlab.config import Recipe, apply_overrides
from liftlab.errors import BadInputError
from liftlab.train.inference import Preprocess, predict_logits, tta_view_count


class _LeftHalf(nn.Module):
    """Scores the left half of the image against the right: a mirror view swaps the two."""

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        half = inputs.shape[-1] // 2
        left, right = inputs[..., :half].mean((1, 2, 3)), inputs[..., half:].mean((1, 2, 3))
        return torch.stack([left - right, right - left], 1) * 10


def test_flip_views_average_the_image_and_its_mirror() -> None:
    images = torch.zeros(4, 3, 8, 8, dtype=torch.uint8)
    images[..., :4] = 255  # bright on the left: the image says class 0, its mirror class 1
    model = _LeftHalf()
    model.register_parameter("unused", nn.Parameter(torch.zeros(1)))  # predict_logits finds the device here
    plain = Preprocess([0.0] * 3, [1.0] * 3, 8)
    flipped = Preprocess([0.0] * 3, [1.0] * 3, 8, tta="flip")
    one_view = predict_logits(model, images, plain, torch.float32).exp()
    two_views = predict_logits(model, images, flipped, torch.float32).exp()
    assert one_view[:, 0].min() > 0.99
    expected = (F.softmax(model(images.float() / 255), 1) + F.softmax(model(images.flip(3).float() / 255), 1)) / 2
    assert torch.allclose(two_views, expected, atol=1e-6) and torch.allclose(two_views, torch.full((4, 2), 0.5))
    assert (tta_view_count(False), tta_view_count("flip"), tta_view_count(True)) == (1, 2, 6)


def test_a_recipe_takes_flip_views_and_names_the_valid_values_otherwise() -> None:
    assert apply_overrides(Recipe(), ["tta=flip"]).tta == "flip"
    assert apply_overrides(Recipe(), ["tta=true"]).tta is True
    with pytest.raises(BadInputError, match="tta"):
        apply_overrides(Recipe(), ["tta=shift"])
