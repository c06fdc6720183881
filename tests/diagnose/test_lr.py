"""The diagnosis's learning-rate check sweeps the network the recipe trains, not an unfitted copy."""

from __future__ import annotations

from liftlab.config import DataConfig, apply_overrides, preset
from liftlab.data import load_data
from liftlab.diagnose.lr import check_learning_rate, lr_findings

# the fast recipe at 16 px on digits (as tests/train/test_fast_recipe.py runs it)
SMALL = ["data.size=16", "model.width=16", "optim.batch_size=64", "epochs=12", "precision=fp32"]


def test_the_range_test_of_the_fast_recipe_sweeps_its_whitened_network_to_the_end() -> None:
    # the fast net's stem is fitted to the training images before training; swept unfitted, its loss sat at
    # ln(10) and turned non-finite after two steps, so the "curve" had two points and the rules read noise
    recipe = apply_overrides(preset("fast"), SMALL)
    check = check_learning_rate(recipe, load_data("builtin:digits", DataConfig(size=16)))
    losses = check.curve["losses"]
    assert len(losses) >= 40, "the sweep ran until the loss exploded, not two steps"
    assert min(losses) < losses[0] - 0.1, "the loss falls somewhere in the sweep"
    assert set(check.rules) == {"min_over_10", "steepest", "valley"}, "all three rules read a real curve"
    assert lr_findings(check) == [], "the recipe's own rate trains this net: no LR finding"


def test_a_rate_500x_too_low_is_found_inside_the_sweep() -> None:
    # the lab's lr-far-too-low scenario: SGD at 1e-4 where 0.05 trains; the sweep reaches 10,000x the rate
    from liftlab.config import Recipe

    recipe = apply_overrides(Recipe(), ["data.size=16", "model.width=16", "epochs=8", "optim.lr=0.0001"])
    check = check_learning_rate(recipe, load_data("builtin:digits", DataConfig(size=16)))
    assert [f.code for f in lr_findings(check)] == ["LR_TOO_LOW"]
    assert 0.01 < check.confirmed_lr < 0.5
