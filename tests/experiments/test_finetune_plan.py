"""The fine-tuning step's decisions, with fake timings: how many epochs fit, and what the fine-tune changes."""

from __future__ import annotations

import math

import pytest

from liftlab.config import Recipe, apply_overrides, with_values
from liftlab.experiments.improve.finetune_plan import (
    GOOD_EPOCHS,
    MAX_EPOCHS,
    MIN_EPOCHS,
    SMALLEST_TRAIN_SIDE,
    UPSCALED_GOOD_EPOCHS,
    UPSCALED_LARGEST_SIDE,
    UPSCALED_SMALLEST_SIDE,
    epoch_seconds,
    epochs_that_fit,
    finetune_need,
    finetune_recipe,
    finetune_size,
    keeps_finetune,
    plan_finetune,
    train_sides,
    upscaled,
)
from liftlab.experiments.improve.probe_features import new_feature_rows
from liftlab.experiments.improve.time_plan import PLAN_MARGIN, START_SECONDS
from liftlab.strategies import apply_strategies
from liftlab.train.probe import on_features


@pytest.mark.parametrize(
    ("left", "per_epoch", "expected"),
    [
        (1200, 100, 13),  # 30-minute budget after the probes: planned a little past the prediction
        (3 * 110 * PLAN_MARGIN + START_SECONDS, 110, MIN_EPOCHS),  # exactly the minimum after the start-up
        (3 * 110 * PLAN_MARGIN + START_SECONDS - 1, 110, 0),  # one second short of it: no fine-tune
        (3 * 110 + START_SECONDS, 110, MIN_EPOCHS),  # exactly as predicted: a slower machine anneals sooner
        (-50, 110, 0),  # the final runs already need more than is left
        (1e9, 1, MAX_EPOCHS),
        (math.inf, 100, 0),
        (100, 0, 0),
    ],
)
def test_epochs_that_fit(left: float, per_epoch: float, expected: int) -> None:
    assert epochs_that_fit(left, per_epoch) == expected


def test_epoch_seconds_grow_with_images_step_time_and_validation() -> None:
    base = epoch_seconds(2048, 250, 32, 1.0, 0.0)
    assert epoch_seconds(4096, 250, 32, 1.0, 0.0) == pytest.approx(2 * base)
    assert epoch_seconds(2048, 250, 32, 2.0, 0.0) == pytest.approx(2 * base)
    assert base > 2000 // 32  # at least the steps themselves
    # validation counts at its measured cost per image: 250 images at 40 ms add 10 s
    assert epoch_seconds(2048, 250, 32, 1.0, 0.04) == pytest.approx(base + 10)


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
    # a fine-tune is scored on the image and its mirror (two passes), never on the probe's six views
    assert finetune_recipe(with_values(probe, {"tta": True}), 7).tta == "flip"
    assert finetune_recipe(probe, 7).tta == "flip"
    assert "tta" not in finetune_recipe(apply_strategies(probe, "tta"), 7).strategies, "nor are they named"
    stacked = finetune_recipe(apply_strategies(probe, "head=mlp,flip,label-smoothing=0.1"), 7).strategies
    assert stacked.count("flip") == stacked.count("label-smoothing=0.1") == 1, "what the probe did is named once"
    assert stacked[:3] == ["head=mlp", "flip", "label-smoothing=0.1"] and "finetune=full" in stacked
    assert finetune_recipe(with_values(probe, {"compile": "on"}), 7).compile == "on", "a user's choice stays"


@pytest.mark.parametrize(
    ("left", "per_epoch", "expected"),
    [
        (GOOD_EPOCHS * 110 * PLAN_MARGIN + START_SECONDS, 110, (224, GOOD_EPOCHS)),  # enough at full size
        (1e9, 110, (224, MAX_EPOCHS)),
        # 10-minute budget: 3 epochs at 224, 4 at 192, 6 at 160 (an epoch there ~0.51 of the time)
        (350, 107, (160, 6)),
        # 7 at 224 and 9 at 192: the smaller side buys GOOD_EPOCHS
        ((7 * 100 + 50) * PLAN_MARGIN + START_SECONDS, 100, (192, 10)),
        (150, 107, (224, 0)),  # not even MIN_EPOCHS at 160: no fine-tune
    ],
)
def test_plan_finetune_trades_resolution_for_epochs_only_below_good_epochs(
    left: float, per_epoch: float, expected: tuple[int, int]
) -> None:
    assert plan_finetune(left, per_epoch, 224) == expected


def test_train_sides_stay_within_the_crop_zoom_of_the_test_size() -> None:
    assert train_sides(224) == [224, 192, 160]
    assert all(side >= SMALLEST_TRAIN_SIDE * 300 for side in train_sides(300))
    assert train_sides(32) == [32]
    assert train_sides(224, 288.0) == [224, 192, 160], "photos with their own pixels: the crop-zoom floor holds"


def test_upscaled_images_train_down_to_the_smallest_useful_side_and_test_near_it() -> None:
    # 32-px CIFAR-10 on a 240-px probe: no side shows more detail than another, so a smaller one buys epochs
    assert upscaled(240, 32.0) and not upscaled(224, 288.0) and not upscaled(224, None)
    assert train_sides(240, 32.0)[-1] == UPSCALED_SMALLEST_SIDE
    assert plan_finetune(704, 411, 240) == (240, 0), "at the photo floor (192 px) not three epochs fit"
    side, epochs = plan_finetune(704, 411, 240, 32.0)
    assert side < 240 and epochs >= UPSCALED_GOOD_EPOCHS
    assert finetune_size(96, 240, 32.0) == 128, "tested a little above the side, below the probe's 240 px"
    assert finetune_need(100, 240, 32.0) < finetune_need(100, 240), "the plan reserves less for upscaled images"


def test_upscaled_images_train_above_the_probes_size_when_the_epochs_fit() -> None:
    # CIFAR-10's profile: a probe at 128 px. 3 epochs at 192 px beat 11 at 128 (89.2% against 88.0-88.6% val)
    assert train_sides(128, 32.0) == [UPSCALED_LARGEST_SIDE, 160, 128, 96]
    assert finetune_size(UPSCALED_LARGEST_SIDE, 128, 32.0) == 224, "tested at 1.17x, as measured best"
    per_epoch = 60.0  # at the probe's 128 px; 135 s at 192
    roomy = UPSCALED_GOOD_EPOCHS * PLAN_MARGIN * per_epoch * (192 / 128) ** 2 + START_SECONDS
    assert plan_finetune(roomy, per_epoch, 128, 32.0) == (192, UPSCALED_GOOD_EPOCHS)
    # a little less: resolution gives way to epochs one step down
    side, epochs = plan_finetune(roomy - 30, per_epoch, 128, 32.0)
    assert side == 160 and epochs >= UPSCALED_GOOD_EPOCHS
    # photos keep their GOOD_EPOCHS rule and never train above the probe's size
    assert max(train_sides(224, 288.0)) == 224


def test_the_plan_keeps_the_test_passes_of_the_side_it_picks() -> None:
    # scoring 10,000 test images twice costs more at 224 px than at 160: the plan counts it per side
    def scoring(test_size: int) -> float:
        return 2 * 10_000 * 0.017 * (test_size / 224) ** 2

    left, per_epoch = 800.0, 60.0
    free_side, _ = plan_finetune(left, per_epoch, 128, 32.0)
    side, epochs = plan_finetune(left, per_epoch, 128, 32.0, scoring)
    assert side < free_side, "the larger side's test passes leave too few epochs"
    assert epochs_that_fit(left - scoring(finetune_size(side, 128, 32.0)), per_epoch * (side / 128) ** 2) == epochs


def test_a_side_not_timed_yet_is_chosen_only_when_its_epochs_fit_after_its_timing() -> None:
    timed = {192}

    def to_time(side: int) -> float:
        return 0.0 if side in timed else 50.0

    left, per_epoch = 130.0, 14.0  # Lite2 at 260 px on 240 photos
    free_side, _ = plan_finetune(left, per_epoch, 260, 3024.0)
    side, epochs = plan_finetune(left, per_epoch, 260, 3024.0, to_time=to_time)
    assert free_side > 192 and side == 192, "timing a larger side would spend the time that makes it fit"
    assert epochs == epochs_that_fit(left, per_epoch * (192 / 260) ** 2)
    # with room to spare the larger side is still worth its timing
    assert plan_finetune(10 * left, per_epoch, 260, 3024.0, to_time=to_time)[0] == 260
    # a side already timed costs nothing more
    timed.add(260)
    assert plan_finetune(left, per_epoch, 260, 3024.0, to_time=to_time) == plan_finetune(left, per_epoch, 260, 3024.0)


def test_finetune_need_grows_with_epoch_time_and_counts_the_start() -> None:
    assert finetune_need(0.0, 224) == START_SECONDS
    assert finetune_need(200, 224) == pytest.approx(2 * finetune_need(100, 224) - START_SECONDS)
    # with its margin: GOOD_EPOCHS at the smallest side, each PLAN_MARGIN times its prediction
    assert finetune_need(100, 224) == pytest.approx(START_SECONDS + GOOD_EPOCHS * PLAN_MARGIN * 100 * (160 / 224) ** 2)
    # upscaled images: the epochs they prefer at the largest side (CIFAR-10's probe at 128 px trains at 192)
    upscaled_need = START_SECONDS + UPSCALED_GOOD_EPOCHS * PLAN_MARGIN * 60 * (UPSCALED_LARGEST_SIDE / 128) ** 2
    assert finetune_need(60, 128, 32.0) == pytest.approx(upscaled_need)


def test_finetune_need_keeps_the_test_pass_at_the_test_size_of_its_plan() -> None:
    sizes: list[int] = []

    def scoring(test_size: int) -> float:
        sizes.append(test_size)
        return 10_000 * 0.017 * (test_size / 224) ** 2

    assert finetune_need(60, 128, 32.0, scoring) == pytest.approx(finetune_need(60, 128, 32.0) + 170.0)
    assert sizes == [finetune_size(UPSCALED_LARGEST_SIDE, 128, 32.0)] == [224]
    sizes.clear()
    finetune_need(100, 224, 288.0, scoring)
    assert sizes == [finetune_size(160, 224, 288.0)], "photos: tested at the size the smallest side implies"


def test_a_smaller_train_side_becomes_train_size_and_keeps_the_test_size() -> None:
    probe = apply_overrides(Recipe(), ["model.pretrained=efficientnet_lite0", "model.finetune=linear", "data.size=224"])
    small = finetune_recipe(probe, 6, 160)
    assert (small.augment.train_size, small.data.size, small.epochs) == (160, 224, 6)
    assert finetune_recipe(probe, 6, 224).augment.train_size == 0, "the full side needs no train-size"


LITE0 = ["model.pretrained=efficientnet_lite0", "model.finetune=linear", "data.size=224"]
COUNTS = {"train": 2000, "val": 250, "test": 250}


@pytest.mark.parametrize(
    ("strategies", "rows", "cost"),
    [
        ("head=mlp", 0, 1.0),  # a new head on the cached features: nothing to compute
        ("label-smoothing=0.1", 0, 1.0),
        ("flip", 2000, 1.0),  # the mirror view of each training image
        ("tta", 5 * 500, 1.0),  # five more views of each val and test image
        ("pretrained=efficientnet_lite1,size=240", 2500, 1.4),  # everything again on a costlier backbone
        ("size=160", 2500, (160 / 224) ** 2),
    ],
)
def test_new_feature_rows_count_what_the_cache_lacks(strategies: str, rows: int, cost: float) -> None:
    base = apply_overrides(Recipe(), LITE0)
    found_rows, found_cost = new_feature_rows(base, apply_strategies(base, strategies), COUNTS)
    assert found_rows == rows
    assert found_cost == pytest.approx(cost)


def test_a_flipping_base_needs_no_new_rows_for_a_flipping_arm() -> None:
    base = apply_strategies(apply_overrides(Recipe(), LITE0), "flip")
    assert new_feature_rows(base, apply_strategies(base, "head=mlp"), COUNTS) == (0, 1.0)


def test_the_finetune_tests_high_where_the_photos_have_the_pixels() -> None:
    probe = apply_overrides(Recipe(), ["model.pretrained=efficientnet_lite0", "model.finetune=linear", "data.size=224"])
    assert finetune_size(224, 224, 288.0) == 288, "FixRes: trained at 224, tested at 1.28x"
    assert finetune_size(224, 224, 240.0) == 224, "never above the photos' own short side (in steps of 32)"
    assert finetune_size(160, 224, 1000.0) == 224, "never below the probe's size"
    assert finetune_size(224, 224, None) == 224
    tuned = finetune_recipe(probe, 8, 224, 288)
    assert (tuned.data.size, tuned.augment.train_size) == (288, 224), "decoded at 288, crops of 224"


@pytest.mark.parametrize(
    ("finetune_val", "probe_val", "cut", "kept"),
    [
        (0.9127, 0.8849, False, True),  # TrashNet at 10 minutes: 2.8 points up, within 2 paired errors, kept
        (0.99, 0.8849, True, False),  # the deadline cut it: not the recipe, however well it scored
        (0.8849, 0.8849, False, False),  # a tie keeps the cheaper probe
        (0.80, 0.8849, False, False),
    ],
)
def test_the_finetune_replaces_the_probe_when_it_scores_higher_and_finished(
    finetune_val: float, probe_val: float, cut: bool, kept: bool
) -> None:
    assert keeps_finetune(finetune_val, probe_val, cut) is kept


def test_a_partial_finetune_freezes_the_earliest_third_and_keeps_the_rest_of_the_recipe() -> None:
    probe = apply_overrides(Recipe(), ["model.pretrained=efficientnet_lite0", "model.finetune=linear", "data.size=128"])
    full, partial = finetune_recipe(probe, 8, 96, 128), finetune_recipe(probe, 8, 96, 128, partial=True)
    assert (full.model.finetune, partial.model.finetune) == ("full", "partial")
    assert partial.model_copy(update={"model": full.model, "strategies": full.strategies}) == full


def test_upscaled_images_search_the_profiles_backbone_at_its_size_only() -> None:
    from liftlab.experiments.improve.finetune_phase import another_backbone_or_size

    base = apply_overrides(Recipe(), ["model.pretrained=efficientnet_lite0", "model.finetune=linear", "data.size=128"])
    assert not another_backbone_or_size(base, apply_strategies(base, "head=mlp"))
    assert not another_backbone_or_size(base, apply_strategies(base, "flip,label-smoothing=0.1"))
    assert another_backbone_or_size(base, apply_strategies(base, "pretrained=efficientnet_lite1,size=240"))
    assert another_backbone_or_size(base, apply_strategies(base, "size=160"))


def test_when_not_even_the_cheapest_fine_tune_fits_the_probe_search_gets_the_time() -> None:
    from liftlab.experiments.improve.finetune_plan import finetune_minimum, finetune_need
    from liftlab.experiments.improve.time_plan import PROBE_SEARCH_ENDS, probe_search_share

    # the scene set at --budget 10m: 212 s fine-tuning epochs at 150 px (its own size), 150 s used before the plan
    minimum = finetune_minimum(212, 150, 150.0)
    smallest = train_sides(150, 150.0)[-1]
    assert minimum == pytest.approx(START_SECONDS + MIN_EPOCHS * PLAN_MARGIN * 212 * (smallest / 150) ** 2)
    end, fits = probe_search_share(600, 150, finetune_need(212, 150, 150.0), minimum, kept_s=60)
    assert not fits and end == pytest.approx((600 - 60) / 600), "the search runs until the final runs' time"
    # TrashNet at 20 minutes: the preferred fine-tune fits, and the search ends where it still does
    end, fits = probe_search_share(1200, 40, finetune_need(107, 224), finetune_minimum(107, 224), kept_s=100)
    assert fits and end == PROBE_SEARCH_ENDS
    # tight: the preferred plan does not fit, the cheapest does; the search keeps its minimum share
    end, fits = probe_search_share(400, 40, finetune_need(107, 224), finetune_minimum(107, 224), kept_s=60)
    assert fits and end == pytest.approx(40 / 400 + 0.05)


def test_probe_arms_are_kept_while_their_feature_extraction_fits_together() -> None:
    from liftlab.experiments.improve.probe_features import arms_whose_features_fit, new_feature_rows

    base = apply_overrides(Recipe(), ["model.pretrained=efficientnet_lite0", "model.finetune=linear", "data.size=224"])
    lite1 = with_values(base, {"model.pretrained": "efficientnet_lite1", "data.size": 240})
    lite2 = with_values(base, {"model.pretrained": "efficientnet_lite2", "data.size": 260})
    arms = {"baseline": base, "lite1": lite1, "lite1+mlp": with_values(lite1, {"model.head": "mlp"}), "lite2": lite2}
    counts = {"train": 5000, "val": 1000, "test": 1000}
    each = {name: new_feature_rows(base, arm, counts) for name, arm in arms.items()}
    seconds = {name: rows * cost * 0.01 for name, (rows, cost) in each.items()}
    # each of Lite1 and Lite2 fits alone; together they do not: the later one is left out
    allowance = max(seconds["lite1"], seconds["lite2"]) * 1.2
    assert seconds["lite1"] + seconds["lite2"] > allowance
    kept, dropped = arms_whose_features_fit(base, arms, counts, 0.01, allowance)
    assert kept == ["baseline", "lite1", "lite1+mlp"] and dropped == ["lite2"], "Lite1's features are paid once"
