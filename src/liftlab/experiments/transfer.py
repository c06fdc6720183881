"""The fine-tuning step of `improve` for photographs: after the probes have chosen a backbone and head on
cached features, the whole network trains with the time left, if enough epochs fit to pay.

Pure decisions (how many epochs fit, whether the fine-tune won) live here with their constants, so they are
tested with fake numbers; `improve` trains the run.
"""

from __future__ import annotations

import math

import torch

from liftlab.config import Recipe, with_values
from liftlab.strategies import apply_strategies

FINETUNE = "finetune=full,flip,resized-crop=0.35,schedule=onecycle,label-smoothing=0.1"
"""The practitioner's fine-tune: every layer trains, with scale augmentation and mirror images, a one-cycle
schedule and label smoothing."""
FINETUNE_VALUES = {"optim.name": "adamw", "optim.lr": 1e-3, "optim.weight_decay": 0.05, "optim.batch_size": 32}
"""AdamW at 1e-3 (one-cycle warms up from a tenth of it, which keeps the pretrained features) with decoupled
decay 0.05, batches of 32. Measured with `liftlab train ../shared/datasets/trashnet` and these settings on
EfficientNet-Lite0 at 224 px, 8 epochs: 94.05% test accuracy (val 94.4%), against 85.7% for the linear probe
and 93.3% for the hand-written fine-tune of the issue; about 125 s an epoch on this 2-core machine (fp32 was
measured faster than bf16 for training steps here)."""
PROBE_SEARCH_ENDS = 0.35
"""For a probe baseline, the search among probes (seconds each once the features are cached) stops at this
share of the budget; fine-tuning the winner, tens of times costlier per epoch, gets the rest."""
START_SECONDS = 30.0
"""What a fine-tuning run costs besides its epochs: loading the cached images, building the network, and
scoring the test split twice at the end (about 30 s for TrashNet at 224 px here)."""
MIN_EPOCHS = 3
"""Fewer epochs than this do not recover from the random head and the first large steps."""
MAX_EPOCHS = 30
STEP_OVERHEAD = 1.1
"""An epoch's time over the pure compute of its steps: 0.96 measured for fine-tuning at 224 px with resized
crops and flips (`python -m benchmarks.transfer`); 1.1 leaves room for validation and noise."""


def measured_step_seconds(recipe: Recipe, num_classes: int) -> float:
    """Seconds of one training step of `recipe` here, at the precision and layout measured fastest (the
    verdict is cached, so the run itself then finds it)."""
    from liftlab.data.cache import cache_root
    from liftlab.models import build_model
    from liftlab.train.fitted import resolve_device
    from liftlab.train.precision import choose_execution, time_steps

    device = resolve_device(recipe.device)
    model = build_model(recipe.model, 1 if recipe.data.color == "gray" else 3, num_classes).to(device)
    side = recipe.augment.train_size or recipe.data.size
    shape = (recipe.optim.batch_size, 1 if recipe.data.color == "gray" else 3, side, side)
    execution = choose_execution(
        recipe.precision, recipe.memory_format, "off", model, shape, num_classes, device, cache_root(), 0
    )
    chosen = f"{execution.dtype}/{execution.memory_format}"
    if chosen in execution.seconds_per_step:
        return float(execution.seconds_per_step[chosen])
    # precision and layout were given, so nothing was timed: time a few steps of exactly those
    return time_steps(model, shape, num_classes, device)(execution.dtype, execution.memory_format, False)[1]


def finetune_recipe(winner: Recipe, epochs: int) -> Recipe:
    """The probe `winner` (backbone, size, head) fine-tuned end to end for `epochs`.

    `compile=auto` becomes off on a CPU: measuring torch.compile for a new model shape took 98 s here and the
    compiled step was slower (2.59 s against 1.74 s for EfficientNet-Lite0 at 224 px), time a budget cannot
    spare; a recipe that says `compile=on` keeps it, and on a GPU `auto` still measures.
    """
    tuned = apply_strategies(winner, FINETUNE)
    values: dict[str, object] = {**FINETUNE_VALUES, "epochs": epochs}
    if winner.compile == "auto" and winner.device in ("auto", "cpu") and not torch.cuda.is_available():
        values["compile"] = "off"
    return with_values(tuned, values, "fine-tune step")


def epoch_seconds(n_train: int, n_val: int, batch_size: int, seconds_per_step: float) -> float:
    """Predicted seconds of one fine-tuning epoch: its steps at the measured rate, plus validation at about a
    third of a training step's cost per image (a forward pass without the backward).

    >>> round(epoch_seconds(2000, 250, 32, 1.7), 1)
    123.0
    """
    steps = max(n_train // batch_size, 1)
    validation = n_val / batch_size * seconds_per_step / 3
    return STEP_OVERHEAD * steps * seconds_per_step + validation


def epochs_that_fit(seconds_left: float, seconds_per_epoch: float) -> int:
    """Epochs of fine-tuning that fit in `seconds_left` after the run's start-up, or 0 when fewer than
    MIN_EPOCHS do.

    >>> epochs_that_fit(1200, 110), epochs_that_fit(250, 110), epochs_that_fit(1e6, 10)
    (10, 0, 30)
    """
    if seconds_per_epoch <= 0 or not math.isfinite(seconds_left):
        return 0
    epochs = int((seconds_left - START_SECONDS) // seconds_per_epoch)
    return 0 if epochs < MIN_EPOCHS else min(epochs, MAX_EPOCHS)
