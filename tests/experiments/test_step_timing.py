"""The fine-tune plan's timing memo (`experiments/timing.Timings`): each step shape and evaluation pass is
timed once per improve invocation, whichever phase asks first."""

from __future__ import annotations

from liftlab.config import Recipe, with_values
from liftlab.experiments.improve.finetune_plan import finetune_recipe
from liftlab.experiments.improve.step_timing import StepTiming, Timings
from liftlab.strategies import apply_strategies


def counting_timings() -> tuple[Timings, list[tuple[int, int]], list[tuple[int, str]]]:
    steps: list[tuple[int, int]] = []
    evaluations: list[tuple[int, str]] = []

    def step_timer(recipe: Recipe, classes: int) -> StepTiming:
        steps.append((recipe.augment.train_size, recipe.optim.batch_size))
        return StepTiming(0.001 * recipe.augment.train_size, "fp32")

    def eval_timer(recipe: Recipe, classes: int, size: int, dtype: str) -> float:
        evaluations.append((size, dtype))
        return 0.0001 * size

    return Timings(step_timer, eval_timer), steps, evaluations


BASE = Recipe.model_validate(
    {"model": {"pretrained": "efficientnet_lite0", "finetune": "linear"}, "data": {"size": 224}}
)


def test_the_plan_and_the_winners_fine_tune_time_each_shape_once() -> None:
    timings, steps, evaluations = counting_timings()
    # the transfer plan times the base probe's fine-tune at the smallest side, tested at the probe's size
    plan = finetune_recipe(BASE, 1, 160, 224)
    assert timings.step(plan, 6) == StepTiming(0.16, "fp32")
    assert timings.evaluation(plan, 6, 224, "fp32") == 0.0224
    # the search's winner has another head and augmentation: same network, same cost, no new timing
    winner = finetune_recipe(apply_strategies(BASE, "head=mlp,flip,label-smoothing=0.1"), 1, 160, 224)
    assert timings.step(winner, 6) == StepTiming(0.16, "fp32")
    assert timings.evaluation(winner, 6, 224, "fp32") == 0.0224
    assert steps == [(160, 32)] and evaluations == [(224, "fp32")]
    # another training side is another step; the test size alone is not
    assert timings.step(finetune_recipe(BASE, 1, 192, 256), 6).seconds == 0.192
    assert timings.step(finetune_recipe(BASE, 1, 160, 256), 6).seconds == 0.16
    assert steps == [(160, 32), (192, 32)]
    # another evaluation size or precision is timed
    timings.evaluation(winner, 6, 256, "fp32")
    timings.evaluation(winner, 6, 256, "bf16")
    assert evaluations == [(224, "fp32"), (256, "fp32"), (256, "bf16")]


def test_another_backbone_or_batch_is_timed_again() -> None:
    timings, steps, _ = counting_timings()
    timings.step(finetune_recipe(BASE, 1, 160, 224), 6)
    timings.step(finetune_recipe(apply_strategies(BASE, "pretrained=efficientnet_lite1"), 1, 160, 224), 6)
    timings.step(with_values(finetune_recipe(BASE, 1, 160, 224), {"optim.batch_size": 16}), 6)
    timings.step(finetune_recipe(BASE, 1, 160, 224), 10)
    assert steps == [(160, 32), (160, 32), (160, 16), (160, 32)]


def test_has_step_says_what_step_would_not_time_again() -> None:
    timings, steps, _ = counting_timings()
    plan = finetune_recipe(BASE, 1, 160, 224)
    assert not timings.has_step(plan, 6)
    timings.step(plan, 6)
    assert timings.has_step(plan, 6) and timings.has_step(finetune_recipe(BASE, 1, 160, 256), 6)
    assert not timings.has_step(finetune_recipe(BASE, 1, 192, 224), 6)
    assert steps == [(160, 32)]
