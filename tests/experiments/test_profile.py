"""The data profile's rule: what the data check measured -> the baseline improve starts from."""

from __future__ import annotations

import pytest

from liftlab.data.check import CheckReport
from liftlab.experiments.improve.profile import MIN_STEPS, PROBE_STEPS, UPSCALED_SIDE, profile_data


def _check(
    short_side: float, aspect: float, per_class: int, classes: int = 6, mode: str = "RGB", spec: str = "photos"
) -> CheckReport:
    return CheckReport(
        spec,
        [f"c{i}" for i in range(classes)],
        {"train": {f"c{i}": per_class for i in range(classes)}},
        1.0,
        {},
        {mode: per_class * classes},
        train_image_size={"short_side": {"median": short_side}, "aspect_ratio": {"median": aspect}},
    )


def test_photographs_start_as_a_linear_probe_at_the_backbone_native_size() -> None:
    profile = profile_data(_check(288, 1.33, 360))  # TrashNet-like: 384x288 photos
    o = profile.overrides
    assert (o["model.pretrained"], o["model.finetune"], o["data.size"]) == ("efficientnet_lite0", "linear", 224)
    assert o["data.resize"] == "stretch"
    steps = o["epochs"] * (6 * 360 // o["optim.batch_size"])
    assert steps >= PROBE_STEPS * 0.95
    assert any("photographs" in reason for reason in profile.reasons)


def test_small_photographs_are_seen_at_their_own_short_side() -> None:
    assert profile_data(_check(100, 1.0, 200)).overrides["data.size"] == 128
    assert profile_data(_check(96, 1.0, 200)).overrides["data.size"] == 96


def test_colour_thumbnails_start_from_the_backbone_upscaled() -> None:
    o = profile_data(_check(32, 1.0, 900, classes=10)).overrides  # CIFAR-10-like
    assert (o["model.pretrained"], o["model.finetune"], o["data.size"]) == (
        "efficientnet_lite0",
        "linear",
        UPSCALED_SIDE,
    )
    assert any("thumbnails" in reason for reason in profile_data(_check(32, 1.0, 900, classes=10)).reasons)


@pytest.mark.parametrize(
    ("short_side", "mode", "spec", "because"),
    [
        (12, "RGB", "photos", "icons"),  # below THUMBNAIL_SIDE: a blur at 128 px
        (32, "L", "photos", "grayscale"),
        (32, "RGB", "builtin:shapes-few", "built-in"),  # drawn shapes: their known answers are from scratch
        (8, "L", "builtin:digits", "icons"),
    ],
)
def test_icons_grayscale_thumbnails_and_builtin_sets_train_from_scratch_at_their_size(
    short_side: float, mode: str, spec: str, because: str
) -> None:
    profile = profile_data(_check(short_side, 1.0, 150, classes=10, mode=mode, spec=spec))
    assert "model.pretrained" not in profile.overrides
    assert profile.overrides["data.size"] == max(-(-short_side // 8) * 8, 8), "its own size, in steps of 8"
    assert because in profile.reasons[0]
    assert (profile.overrides.get("data.color") == "gray") == (mode == "L")


@pytest.mark.parametrize("per_class", [30, 100, 1000])
def test_training_length_counts_optimizer_steps(per_class: int) -> None:
    o = profile_data(_check(32, 1.0, per_class, classes=10, spec="builtin:shapes-few")).overrides
    steps_per_epoch = 10 * per_class // o["optim.batch_size"]
    assert steps_per_epoch >= 8, "a batch small enough for several steps an epoch"
    assert o["epochs"] * steps_per_epoch >= MIN_STEPS or o["epochs"] == 100
    assert o["epochs"] >= 10
    # 300 images no longer get 10 epochs of 2 steps: the short runs that underfit and flatten the curve
    if per_class == 30:
        assert o["optim.batch_size"] <= 32 and o["epochs"] * steps_per_epoch >= MIN_STEPS


def test_wide_images_keep_their_aspect() -> None:
    assert profile_data(_check(200, 2.0, 100)).overrides["data.resize"] == "keep-aspect"
    assert profile_data(_check(200, 0.5, 100)).overrides["data.resize"] == "keep-aspect"


def test_a_users_set_wins_over_the_profile() -> None:
    from liftlab.experiments.improve.profile import profiled_baseline

    recipe, profile = profiled_baseline(_check(288, 1.33, 360), ["data.size=160", "optim.lr=0.01"])
    assert profile.overrides["data.size"] == 224
    assert (recipe.data.size, recipe.optim.lr) == (160, 0.01)
    assert recipe.model.pretrained == "efficientnet_lite0", "what the user did not set follows the profile"
