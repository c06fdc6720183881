"""Weight averages that the training loop keeps beside the model, without host syncs.

ExponentialAverage: an EMA copy of the model (parameters and batch-norm statistics) that is evaluated
instead of the model. torch's AveragedModel checks `n_averaged == 0` in Python on every update, which
on a GPU waits for the device each step; this one only issues lerps.

Lookahead as in airbench: every 5 steps the weights are pulled to a slow copy that moves towards
them, with a pull that grows with the cube of progress (0 at the start, 0.95^5 at the end), and the
run ends on the slow weights. Early on it changes nothing; late, it averages away the noise of the
last high-learning-rate steps, like an EMA, but the model keeps training from the averaged point.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

EVERY = 5


def slow_weight(step: int, total_steps: int) -> float:
    """Weight of the slow copy after optimizer step `step` (1-based) of `total_steps`.

    >>> slow_weight(0, 100), round(slow_weight(100, 100), 4)
    (0.0, 0.7738)
    """
    return 0.95**EVERY * (step / max(total_steps, 1)) ** 3


class Lookahead:
    def __init__(self, model: nn.Module) -> None:
        self.slow = {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}

    @torch.no_grad()
    def after_step(self, model: nn.Module, step: int, total_steps: int) -> None:
        """Call after optimizer step `step` (1-based); the last step leaves the model on the slow weights."""
        if step % EVERY == 0:
            self.pull(model, slow_weight(step, total_steps))
        if step >= total_steps:
            self.pull(model, 1.0)

    @torch.no_grad()
    def pull(self, model: nn.Module, weight: float) -> None:
        for name, value in model.state_dict().items():
            if name in self.slow:
                self.slow[name].lerp_(value, 1 - weight)
                value.copy_(self.slow[name])

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.slow)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for name, value in state.items():
            self.slow[name].copy_(value)


class ExponentialAverage:
    """`module` holds decay * average + (1 - decay) * weights after every `update`."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.module = copy.deepcopy(model)
        self.module.requires_grad_(False)
        self.decay = decay

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for average, value in zip(self.module.state_dict().values(), model.state_dict().values(), strict=True):
            if average.is_floating_point():
                average.lerp_(value, 1 - self.decay)
            else:  # counters such as num_batches_tracked
                average.copy_(value)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(state)
