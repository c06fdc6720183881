"""A learning-rate range test (Smith, 2017): raise the rate exponentially over a short run on a copy of
the model, smooth the loss curve, and suggest a rate below the point where it turns up.

The sweep runs the recipe's own optimizer (SGD or AdamW), parameter groups (frozen layers, norm-bias
scale) and learning-rate units (`optim.units`), and its rates are in those units, so a suggestion goes back
into `optim.lr` as it is: a sweep of raw SGD rates fed back as a `per-1024` or AdamW rate was off by the
unit conversion (or by the optimizer's whole scale).

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
from liftlab.train.freezing import FineTuning
from liftlab.train.losses import classification_loss
from liftlab.train.optimizer import make_optimizer, parameter_groups, torch_rates


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
    span: tuple[float, float] = (1e-4, 100.0),
    steps: int = 60,
    seed: int = 0,
) -> RangeTest:
    """Sweep the learning rate (in the recipe's units) from `span[0]` to `span[1]` times the recipe's own on
    a copy of `model`, with the recipe's optimizer; the model is untouched."""
    trial = copy.deepcopy(model).train()
    batch_size = min(recipe.optim.batch_size, len(labels))
    start, end = recipe.optim.lr * span[0], recipe.optim.lr * span[1]
    _, decay = torch_rates(recipe.optim, batch_size, start)
    tuning = FineTuning(trial, recipe.model.finetune, bool(recipe.model.pretrained), 1)
    optimizer = make_optimizer(parameter_groups(tuning.optimizer_groups(decay), trial, recipe.optim, decay),
                               recipe.optim, start)  # fmt: skip
    # each group's decay relative to the base one (0 for no decay, 1/scale for norm biases): in per-1024
    # units the PyTorch decay depends on the rate, so it is set again at every step
    decay_shares = [group["weight_decay"] / decay if decay else 0.0 for group in optimizer.param_groups]
    generator = torch.Generator(device=images.device).manual_seed(seed)
    factor = (end / start) ** (1.0 / max(steps - 1, 1))
    lrs: list[float] = []
    losses: list[float] = []
    smoothed = 0.0
    best = math.inf
    for step in range(steps):
        lr = start * factor**step
        torch_lr, torch_decay = torch_rates(recipe.optim, batch_size, lr)
        for group, share in zip(optimizer.param_groups, decay_shares, strict=True):
            group["lr"] = torch_lr * group["lr_scale"]
            group["weight_decay"] = torch_decay * share
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
