"""The fine-tuning step's decisions, with fake timings: how many epochs fit, and what the fine-tune changes."""

from __future__ import annotations

import math

import pytest

from liftlab.config import Recipe, apply_overrides, with_values
from liftlab.experiments.transfer import (
    MAX_EPOCHS,
    MIN_EPOCHS,
    START_SECONDS,
    epoch_seconds,
    epochs_that_fit,
    finetune_recipe,
)
from liftlab.train.probe import on_features


@pytest.mark.parametrize(
    ("left", "per_epoch", "expected"),
    [
        (1200, 110, 10),  # 30-minute budget after the probes: ten epochs
        (3 * 110 + START_SECONDS, 110, MIN_EPOCHS),  # exactly the minimum after the run's start-up
        (3 * 110 + START_SECONDS - 1, 110, 0),  # one second short of it: no fine-tune
        (-50, 110, 0),  # the final runs already need more than is left
        (1e9, 1, MAX_EPOCHS),
        (math.inf, 100, 0),
        (100, 0, 0),
    ],
)
def test_epochs_that_fit(left: float, per_epoch: float, expected: int) -> None:
    assert epochs_that_fit(left, per_epoch) == expected


def test_epoch_seconds_grow_with_images_and_step_time() -> None:
    base = epoch_seconds(2000, 250, 32, 1.0)
    assert epoch_seconds(4000, 250, 32, 1.0) > 1.9 * base - 10
    assert epoch_seconds(2000, 250, 32, 2.0) == pytest.approx(2 * base)
    assert base > 2000 // 32  # at least the steps themselves


def test_finetune_keeps_the_probes_backbone_head_and_size_and_trains_everything() -> None:
    probe = apply_overrides(Recipe(), ["model.pretrained=efficientnet_lite1", "model.finetune=linear",
                                       "model.head=mlp", "data.size=240"])  # fmt: skip
    assert on_features(probe)
    tuned = finetune_recipe(probe, 7)
    assert (tuned.model.pretrained, tuned.model.head, tuned.data.size) == ("efficientnet_lite1", "mlp", 240)
    assert tuned.model.finetune == "full" and tuned.epochs == 7
    assert tuned.augment.flip and tuned.augment.resized_crop > 0
    assert not on_features(tuned), "a fine-tune steps the whole network on images"
    assert tuned.compile == "off", "compile measurement costs more than it saves on a CPU here"
    assert finetune_recipe(with_values(probe, {"compile": "on"}), 7).compile == "on", "a user's choice stays"
