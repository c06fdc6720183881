"""Timings behind the fine-tune's plan in `improve`: one training step and one evaluation pass of a fine-tune
recipe, measured here (the machine decides, never a constant), and the key under which `improve` keeps them
(`timing_key`), so a recipe of the same cost is not timed twice.

The plan's arithmetic on these timings is pure, in `transfer.py`.
"""

from __future__ import annotations

import json
import statistics
from typing import NamedTuple

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
    from liftlab.train.finetune import FineTuning
    from liftlab.train.fitted import resolve_device
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


def timing_key(recipe: Recipe, num_classes: int) -> str:
    """What a fine-tuning step's and an evaluation pass's timings depend on in `recipe`: the network (its head
    aside), the input's channels and sides, the batch, the optimizer, the execution settings and the test-time
    views. Two probes that differ only in head, augmentation, loss or schedule fine-tune at the same cost, so
    `improve` times the base probe's fine-tune once and reuses it for a winner that differs from it only so: on
    TrashNet the fine-tune step ran 10-20 s of timing again for the search's winner (an MLP head where the base
    probe has a linear one). The MLP head's share of a Lite0 step at 160 px is counted below 1% (0.13 of about
    20 GFLOP for a batch of 32).

    >>> from liftlab.experiments.transfer import finetune_recipe
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
    """
    model = recipe.model.model_dump(mode="json", exclude={"head"})
    fields = {
        "model": model, "color": recipe.data.color, "size": recipe.data.size, "train_size": recipe.augment.train_size,
        "batch": recipe.optim.batch_size, "optimizer": recipe.optim.name, "precision": recipe.precision,
        "memory_format": recipe.memory_format, "device": recipe.device, "compile": recipe.compile,
        "eval_batch": recipe.eval_batch_size, "tta": recipe.tta, "classes": num_classes,
    }  # fmt: skip
    return json.dumps(fields, sort_keys=True)


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
