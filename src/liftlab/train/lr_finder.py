"""A learning-rate range test (Smith, 2017): raise the rate exponentially over a short run on a copy of
the model, smooth the loss curve, and suggest a rate below the point where it turns up.

The diagnosis issue refines this (several suggestion rules and a confirmation run); this is the
version the `lr=find` strategy uses.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from liftlab.augment import augment_batch
from liftlab.config import Recipe
from liftlab.train.losses import classification_loss


@dataclass
class RangeTest:
    lrs: list[float]
    losses: list[float]  # smoothed
    suggestion: float


def lr_range_test(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    transform: Callable[[torch.Tensor], torch.Tensor],
    recipe: Recipe,
    dtype: torch.dtype,
    *,
    start: float = 1e-5,
    end: float = 10.0,
    steps: int = 60,
    seed: int = 0,
) -> RangeTest:
    """Sweep the learning rate from `start` to `end` on a copy of `model`; the model is untouched."""
    trial = copy.deepcopy(model).train()
    optimizer = torch.optim.SGD(trial.parameters(), lr=start, momentum=recipe.optim.momentum, nesterov=False)
    generator = torch.Generator(device=images.device).manual_seed(seed)
    batch_size = min(recipe.optim.batch_size, len(labels))
    factor = (end / start) ** (1.0 / max(steps - 1, 1))
    lrs: list[float] = []
    losses: list[float] = []
    smoothed = 0.0
    best = math.inf
    for step in range(steps):
        lr = start * factor**step
        for group in optimizer.param_groups:
            group["lr"] = lr
        index = torch.randint(0, len(labels), (batch_size,), generator=generator, device=images.device)
        inputs = transform(augment_batch(images[index], recipe.augment, generator))
        with torch.autocast(images.device.type, dtype=dtype, enabled=dtype != torch.float32):
            logits = trial(inputs.contiguous(memory_format=torch.channels_last))
        loss = classification_loss(logits, labels[index], recipe.optim.loss)
        value = float(loss.item())
        if not math.isfinite(value):
            break
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        smoothed = 0.9 * smoothed + 0.1 * value
        debiased = smoothed / (1 - 0.9 ** (step + 1))
        lrs.append(lr)
        losses.append(debiased)
        best = min(best, debiased)
        if debiased > 4 * best and step > 5:
            break
    if not losses:
        return RangeTest([], [], start)
    minimum = min(range(len(losses)), key=lambda i: losses[i])
    return RangeTest(lrs, losses, lrs[minimum] / 10.0)
