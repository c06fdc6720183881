"""Linear probes on cached features: the same model as the step loop would give, one forward pass per view."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from liftlab.config import DataConfig, Recipe, apply_overrides
from liftlab.data import load_data
from liftlab.train import fit
from liftlab.train.inference import evaluate, predict_logits
from liftlab.train.precision import DTYPES
from liftlab.train.probe import on_features

PROBE = ["data.size=32", "model.pretrained=efficientnet_lite0", "model.finetune=linear", "optim.batch_size=32",
         "epochs=3", "optim.name=adamw", "optim.lr=0.003", "precision=fp32"]  # fmt: skip


@pytest.fixture(scope="module")
def shapes() -> Any:
    return load_data("builtin:shapes-few", DataConfig(size=32))


def test_which_recipes_train_on_cached_features() -> None:
    probe = apply_overrides(Recipe(), PROBE)
    assert on_features(probe)
    assert on_features(apply_overrides(probe, ["augment.flip=true", "augment.alternating_flip=true", "tta=true"]))
    assert not on_features(apply_overrides(probe, ["augment.crop_padding=4"])), "a crop needs the images"
    assert not on_features(apply_overrides(probe, ["model.finetune=full"]))
    assert not on_features(apply_overrides(Recipe(), ["model.finetune=linear"])), "no backbone"


def test_probe_scores_equal_the_full_network_on_the_images(shapes: Any) -> None:
    recipe = apply_overrides(Recipe(), [*PROBE, "augment.flip=true"])
    result = fit(recipe, shapes)
    assert result.execution["path"] == "features"
    features = result.extra["features"]
    assert features["views"] == 2
    assert features["computed"] + features["reused"] == 2 * len(shapes.train) + len(shapes.val) + len(shapes.test)
    # validation read off the cached features equals the whole network run on the validation images
    val_loss, val_acc, val_predictions = evaluate(result.model, shapes.val, result.preprocess, DTYPES[result.dtype])
    assert val_acc == pytest.approx(result.history[-1].val_acc, abs=1e-6)
    assert val_predictions == result.val_predictions, "the run records its last validation's predictions"
    assert val_loss == pytest.approx(result.history[-1].val_loss, rel=1e-3)
    # and so does the test split's scoring, which the run folder and the runner take from the features
    on_images = predict_logits(result.model, shapes.test.images, result.preprocess, DTYPES[result.dtype])
    assert result.test_log_probs is not None
    # (as for validation: equal accuracy; per-image values within the batch-size noise of reduced precision)
    accuracy = [float((p.argmax(1) == shapes.test.labels).float().mean()) for p in (result.test_log_probs, on_images)]
    assert accuracy[0] == pytest.approx(accuracy[1], abs=1e-6)
    assert torch.allclose(result.test_log_probs, on_images, atol=2e-2)
    assert result.history[-1].train_loss < result.history[0].train_loss, "the head learns"


def test_second_fit_reuses_every_feature_and_repeats_the_history(shapes: Any) -> None:
    recipe = apply_overrides(Recipe(), [*PROBE, "tta=true", "seed=3"])
    first = fit(recipe, shapes)
    second = fit(recipe, shapes)
    assert second.extra["features"]["computed"] == 0
    assert second.extra["features"]["reused"] == len(shapes.train) + 6 * len(shapes.val) + 6 * len(shapes.test)
    keys = ("train_loss", "train_acc", "val_loss", "val_acc")
    assert [[getattr(r, k) for k in keys] for r in first.history] == [
        [getattr(r, k) for k in keys] for r in second.history
    ]
    weights = second.model.state_dict()
    assert all(torch.equal(v, weights[k]) for k, v in first.model.state_dict().items())


@pytest.mark.parametrize("path", ["features", "images"])
def test_both_training_paths_honour_the_same_time_options(shapes: Any, path: str) -> None:
    """`fit` on cached features (a probe) and on the images (a fine-tune of the same backbone) read one clock
    for both limits: `anneal_within` ends the schedule by time, annealed and validated; `max_seconds` cuts after
    a finished epoch. (The probe used to ignore `anneal_within` and run every epoch.)"""
    finetune = "linear" if path == "features" else "full"
    overrides = [f"model.finetune={finetune}", "epochs=40", "schedule.name=onecycle", "optim.batch_size=8"]
    recipe = apply_overrides(Recipe(), [*PROBE, *overrides])
    assert on_features(recipe) == (path == "features")
    steps = -(-len(shapes.train) // 8)

    def ticking(tick: float) -> Any:
        now = [0.0]

        def clock() -> float:
            now[0] += tick
            return now[0]

        return clock

    # one clock reading a step and a few an epoch: about 2 epochs' steps of time for a 40-epoch schedule
    annealed = fit(recipe, shapes, anneal_within=2.0 * steps, clock=ticking(1.0))
    ended = annealed.extra["annealed_by_time"]
    assert len(annealed.history) == ended["epoch"] < 5, ended
    assert annealed.history[-1].val_acc is not None, "the run ends validated"
    assert annealed.history[-1].lr < 0.15 * recipe.optim.lr, "its last steps ran at the schedule's end"
    assert "stopped_by_time" not in annealed.extra
    cut = fit(recipe, shapes, max_seconds=2.5 * steps, clock=ticking(1.0))
    assert 1 <= cut.extra["stopped_by_time"] < 5 and "annealed_by_time" not in cut.extra
