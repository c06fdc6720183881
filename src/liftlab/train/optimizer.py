"""The optimizer a recipe asks for, with its parameter groups and learning-rate units.

Two unit conventions (`optim.units`):
- "batch": lr is PyTorch's learning rate for the mean loss of a batch; weight decay applies to
  weights (conv and linear kernels), not to norms and biases (decaying those only fights the norm).
- "per-1024" (airbench's): lr and weight_decay say how far the weights move per 1,024 training
  examples, whatever the batch size and momentum. With Nesterov momentum m, constant gradients give
  steps 1 + 1/(1-m) times the raw gradient step, so the PyTorch learning rate is
  lr * batch / (1024 * (1 + 1/(1-m))); decay is decoupled from lr and applies to every parameter.
`optim.norm_bias_lr_scale` multiplies the learning rate of norm biases (airbench uses 64: with
scale-free BN weights the biases are the only per-channel knobs, and they move slowly at the base rate)
while their decay per step stays that of the other parameters.
"""

from __future__ import annotations

from typing import TypedDict

import torch
from torch import nn

from liftlab.config import OptimConfig
from liftlab.models.fastnet import BiasNorm

NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, BiasNorm)


def momentum_gain(momentum: float, nesterov: bool) -> float:
    """How much larger than one raw gradient step a step becomes under constant gradients."""
    return 1 + 1 / (1 - momentum) if nesterov else 1 / (1 - momentum)


def torch_rates(config: OptimConfig, batch_size: int, lr: float) -> tuple[float, float]:
    """(PyTorch lr for the mean batch loss, PyTorch weight_decay) for the recipe's units.

    >>> from liftlab.config import OptimConfig
    >>> config = OptimConfig(units="per-1024", lr=11.5, weight_decay=0.0153, momentum=0.85)
    >>> [round(x, 4) for x in torch_rates(config, 1024, config.lr)]
    [1.5, 0.0013]
    """
    if config.units == "batch":
        return lr, config.weight_decay
    scale = batch_size / (1024 * momentum_gain(config.momentum, config.nesterov))
    torch_lr = lr * scale
    # decay per step = torch_lr * wd_torch * p must equal weight_decay * scale * p (decoupled from lr)
    return torch_lr, config.weight_decay * scale / torch_lr


class ParamGroup(TypedDict):
    """One optimizer parameter group as torch takes it, with liftlab's `lr_scale`: each step sets the group's
    learning rate to the schedule's rate times it (`time_limits.set_lr`)."""

    params: list[nn.Parameter]
    weight_decay: float
    lr_scale: float


def norm_bias_ids(model: nn.Module) -> set[int]:
    return {id(m.bias) for m in model.modules() if isinstance(m, NORMS) and getattr(m, "bias", None) is not None}


def parameter_groups(
    groups: list[ParamGroup], model: nn.Module, config: OptimConfig, weight_decay: float
) -> list[ParamGroup]:
    """Split fine-tuning groups (each with `lr_scale`) by unit convention and norm-bias scaling."""
    biases = norm_bias_ids(model)
    result: list[ParamGroup] = []
    for group in groups:
        decays = group["weight_decay"] > 0 or config.units == "per-1024"
        decay = weight_decay if decays else 0.0
        plain = [p for p in group["params"] if id(p) not in biases]
        norm_biases = [p for p in group["params"] if id(p) in biases]
        if plain:
            result.append(ParamGroup(params=plain, weight_decay=decay, lr_scale=group["lr_scale"]))
        if norm_biases:
            scale = config.norm_bias_lr_scale
            lr_scale = group["lr_scale"] * scale
            result.append(ParamGroup(params=norm_biases, weight_decay=decay / scale, lr_scale=lr_scale))
    return result


FUSED_DEVICES = ("cpu", "cuda")


def adamw(groups: list[ParamGroup], lr: float) -> torch.optim.AdamW:
    """AdamW with PyTorch's fused kernel where every parameter allows it (floating point, on a CPU or a CUDA
    device). On a CPU PyTorch's default is a loop over the tensors, about ten small kernels each: measured by
    `python -m benchmarks.optimizer_step`, EfficientNet-Lite0's partial fine-tune step at 192 px (102 trainable
    tensors, batch 32) took 500 ms fused against 521 ms (0.96). SGD keeps the default: its fused kernel was no
    faster on the from-scratch convnet (1.02)."""
    tensors = [p for group in groups for p in group["params"]]
    fused = all(p.is_floating_point() and p.device.type in FUSED_DEVICES for p in tensors)
    return torch.optim.AdamW([dict(group) for group in groups], lr=lr, fused=fused or None)


def make_optimizer(groups: list[ParamGroup], config: OptimConfig, lr: float) -> torch.optim.Optimizer:
    if config.name == "adamw":
        return adamw(groups, lr)
    return torch.optim.SGD([dict(group) for group in groups], lr=lr, momentum=config.momentum, nesterov=config.nesterov)
