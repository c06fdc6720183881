"""Timings behind the fine-tune's plan in `improve`: one training step and one evaluation pass of a fine-tune
recipe, measured here (the machine decides, never a constant), and the memo `improve` keeps them in (`Timings`,
by `timing_key` and `evaluation_key`), so a recipe of the same cost is not timed twice.

The plan's arithmetic on these timings is pure, in `finetune_plan.py`.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from typing import Any, NamedTuple

import torch

from liftlab.config import Recipe

RATE_STEPS = 10
"""Training steps timed for the fine-tune's plan (the median of the last eight counts)."""


class StepTiming(NamedTuple):
    seconds: float
    """One training step."""
    dtype: str
    """The precision it runs at, measured fastest (evaluation runs at it too)."""


def measured_step_seconds(recipe: Recipe, num_classes: int) -> StepTiming:
    """Seconds of one training step of `recipe` here, at the precision and layout measured fastest (the
    verdict is cached, so the run itself then finds it)."""
    from liftlab.data.cache import cache_root
    from liftlab.models import build_model
    from liftlab.train.fitted import resolve_device
    from liftlab.train.freezing import FineTuning
    from liftlab.train.precision import choose_execution, time_steps

    device = resolve_device(recipe.device)
    model = build_model(recipe.model, 1 if recipe.data.color == "gray" else 3, num_classes).to(device)
    # a partial fine-tune's frozen layers need no backward pass: time the step the run will take
    FineTuning(model, recipe.model.finetune, bool(recipe.model.pretrained), recipe.epochs).begin_epoch(0)
    side = recipe.augment.train_size or recipe.data.size
    shape = (recipe.optim.batch_size, 1 if recipe.data.color == "gray" else 3, side, side)
    execution = choose_execution(
        recipe.precision, recipe.memory_format, "off", model, shape, num_classes, device, cache_root(), 0
    )
    # The choice rests on the best of two steps per variant, which came out 0.48 to 0.61 s for the same
    # TrashNet step in three runs, where single steps ranged 0.38-0.90 s; the plan needs the rate itself,
    # so the chosen variant is timed again and the median of more steps counts (4 s at 160 px).
    timer = time_steps(model, shape, num_classes, device, steps=RATE_STEPS, statistic=statistics.median,
                       adamw=recipe.optim.name == "adamw")  # fmt: skip
    return StepTiming(timer(execution.dtype, execution.memory_format, False)[1], execution.dtype)


def shape_timing_seconds(recipe: Recipe, step_seconds: float) -> float:
    """About what timing a new step shape of `recipe` costs when its step takes `step_seconds`: the execution
    choice runs TIMED_STEPS of every precision and layout it chooses among (`train.precision.choose_execution`),
    then `measured_step_seconds` RATE_STEPS at the chosen one. EfficientNet-Lite2's full fine-tune at 256 px
    here: 4 variants, a 1.96-s step, about 50 s. The slower variants' steps are counted at this rate, so it
    errs low.

    >>> shape_timing_seconds(Recipe(device="cpu"), 2.0)  # fp32 and bf16, two layouts
    52.0
    """
    from liftlab.train.fitted import resolve_device
    from liftlab.train.precision import TIMED_STEPS, candidate_dtypes, candidate_layouts

    device = resolve_device(recipe.device)
    variants = len(candidate_dtypes(recipe.precision, device)) * len(candidate_layouts(recipe.memory_format))
    return (variants * TIMED_STEPS + RATE_STEPS) * step_seconds


def _network_fields(recipe: Recipe, num_classes: int) -> dict[str, Any]:
    """What a step's and an evaluation pass's cost both depend on: the network without its head (an MLP head's
    share of a Lite0 step at 160 px is counted below 1%: 0.13 of about 20 GFLOP for a batch of 32), the
    input's channels, the classes and the execution settings."""
    return {
        "model": recipe.model.model_dump(mode="json", exclude={"head"}), "color": recipe.data.color,
        "classes": num_classes, "precision": recipe.precision, "memory_format": recipe.memory_format,
        "device": recipe.device, "compile": recipe.compile,
    }  # fmt: skip


def timing_key(recipe: Recipe, num_classes: int) -> str:
    """What a fine-tuning step's time depends on in `recipe`: the network (its head aside), the input's
    channels, the side it trains at, the batch, the optimizer and the execution settings. Two probes that
    differ only in head, augmentation, loss or schedule fine-tune at the same cost, so `improve` times the
    base probe's fine-tune once and reuses it for a winner that differs from it only so: on TrashNet the
    fine-tune step ran 10-20 s of timing again for the search's winner (an MLP head where the base probe has
    a linear one).

    >>> from liftlab.experiments.improve.finetune_plan import finetune_recipe
    >>> from liftlab.strategies import apply_strategies
    >>> base = Recipe.model_validate({"model": {"pretrained": "efficientnet_lite0", "finetune": "linear"},
    ...                               "data": {"size": 224}})
    >>> winner = apply_strategies(base, "head=mlp,flip,label-smoothing=0.1")
    >>> timing_key(finetune_recipe(base, 1, 160), 6) == timing_key(finetune_recipe(winner, 1, 160), 6)
    True
    >>> other = apply_strategies(base, "pretrained=efficientnet_lite1")
    >>> timing_key(finetune_recipe(base, 1, 160), 6) == timing_key(finetune_recipe(other, 1, 160), 6)
    False
    >>> timing_key(finetune_recipe(base, 1, 160), 6) == timing_key(finetune_recipe(base, 1, 192), 6)
    False

    The test size does not change a training step's cost (its crops are decoded larger, not trained larger):
    >>> timing_key(finetune_recipe(base, 1, 160, 224), 6) == timing_key(finetune_recipe(base, 1, 160, 256), 6)
    True
    """
    fields = _network_fields(recipe, num_classes) | {
        "train_side": recipe.augment.train_size or recipe.data.size, "batch": recipe.optim.batch_size,
        "optimizer": recipe.optim.name,
    }  # fmt: skip
    return json.dumps(fields, sort_keys=True)


def evaluation_key(recipe: Recipe, num_classes: int, size: int, dtype: str) -> str:
    """What an evaluation pass's time per image depends on: the network (its head aside), the channels, the
    size and precision it runs at, the evaluation batch and the test-time views. The side a recipe trains at
    does not count:
    >>> from liftlab.experiments.improve.finetune_plan import finetune_recipe
    >>> base = Recipe.model_validate({"model": {"pretrained": "efficientnet_lite0"}, "data": {"size": 128}})
    >>> key = evaluation_key(finetune_recipe(base, 1, 96, 128), 10, 224, "fp32")
    >>> key == evaluation_key(finetune_recipe(base, 1, 192, 224), 10, 224, "fp32")
    True
    >>> key == evaluation_key(finetune_recipe(base, 1, 192, 224), 10, 192, "fp32")
    False
    """
    fields = _network_fields(recipe, num_classes) | {
        "size": size, "dtype": dtype, "eval_batch": recipe.eval_batch_size, "tta": recipe.tta,
    }  # fmt: skip
    return json.dumps(fields, sort_keys=True)


class Timings:
    """The fine-tune plan's timings, each measured once per `improve` invocation: a training step by
    `timing_key`, an evaluation pass by `evaluation_key`. The plan (before the search) and the fine-tune (after
    it, for the search's winner and the side it picks) ask the same memo, so a shape timed once is not timed
    again (each timing costs 4-20 s of the budget). The timers are parameters so tests can count the calls.
    """

    def __init__(
        self,
        step_timer: Callable[[Recipe, int], StepTiming] | None = None,
        eval_timer: Callable[[Recipe, int, int, str], float] | None = None,
    ) -> None:
        self._step_timer = step_timer or measured_step_seconds
        self._eval_timer = eval_timer or measured_eval_seconds
        self._steps: dict[str, StepTiming] = {}
        self._evaluations: dict[str, float] = {}

    def step(self, recipe: Recipe, num_classes: int) -> StepTiming:
        """One fine-tuning step of `recipe` (`measured_step_seconds`), timed the first time its key is asked."""
        key = timing_key(recipe, num_classes)
        if key not in self._steps:
            self._steps[key] = self._step_timer(recipe, num_classes)
        return self._steps[key]

    def has_step(self, recipe: Recipe, num_classes: int) -> bool:
        """Whether a step of `recipe`'s cost has been timed already (`step` would not time it again)."""
        return timing_key(recipe, num_classes) in self._steps

    def evaluation(self, recipe: Recipe, num_classes: int, size: int, dtype: str) -> float:
        """Seconds per image of evaluating `recipe`'s network at `size` px and `dtype` (`measured_eval_seconds`),
        timed the first time its key is asked."""
        key = evaluation_key(recipe, num_classes, size, dtype)
        if key not in self._evaluations:
            self._evaluations[key] = self._eval_timer(recipe, num_classes, size, dtype)
        return self._evaluations[key]


def measured_eval_seconds(recipe: Recipe, num_classes: int, size: int, dtype: str) -> float:
    """Seconds per image of evaluating `recipe`'s network at `size` px here, in the batches evaluation uses
    (`train.inference.eval_rows`) and at precision `dtype`. Timed, not derived from the training step: a
    forward pass cost half a training step's time per image here, not the third that counting operations
    suggests. In float32 on a CPU the faster of eager mode and a frozen copy (`train/frozen.py`), as a long
    evaluation measures and uses. Times the recipe's test-time views (`tta`)."""
    from liftlab.models import build_model
    from liftlab.train.fitted import resolve_device
    from liftlab.train.frozen import frozen_forward_seconds
    from liftlab.train.inference import eval_rows, tta_view_count
    from liftlab.train.precision import time_forward

    device = resolve_device(recipe.device)
    channels = 1 if recipe.data.color == "gray" else 3
    model = build_model(recipe.model, channels, num_classes).to(device)
    rows = eval_rows(recipe.eval_batch_size, size * size, device)
    shape = (rows, channels, size, size)
    _, seconds = time_forward(model, shape, device)(dtype, "channels_last", False)
    if device.type == "cpu" and dtype == "fp32":
        batch = torch.randn(shape, generator=torch.Generator().manual_seed(0))
        layout = torch.channels_last
        frozen = frozen_forward_seconds(model.to(memory_format=layout), batch.contiguous(memory_format=layout))
        seconds = min(seconds, frozen) if frozen is not None else seconds
    return seconds / rows * tta_view_count(recipe.tta)
