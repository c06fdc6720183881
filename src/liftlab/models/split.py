"""A pretrained EfficientNet cut in two at a block boundary: the bottom that a partial fine-tune freezes and
the top that trains. Both halves hold the network's own modules, so training the top trains the network,
and the network on an image equals the top on the bottom's output.

Partial fine-tuning (`model.finetune=partial`) freezes the stem and the first FROZEN_BLOCKS stages of
blocks: the high-resolution layers, where most of a training step's time goes on a CPU, whose edge and colour
features serve any photograph. With the bottom frozen its output for an image never changes, so
`train/activations.py` computes it once per augmented view and trains the top on the cache.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from liftlab.models.zoo import RepeatChannels

FROZEN_BLOCKS = 3
"""Stages of blocks below the cut: EfficientNet-Lite's stem and its stages at strides 2, 4 and 8 (1, 2 and 2
blocks), whose output is 40 channels at an eighth of the side. Timed on this 2-core machine (Lite0, 96 px,
fp32, batch 32): a step of the top alone costs a third of a full step; the cut keeps 3% of the parameters
frozen, so the top still has every block that adapts the features to the task."""


def network_of(model: nn.Module) -> nn.Module:
    """The network inside `model` (a 1-channel wrapper holds one)."""
    return model.model if isinstance(model, RepeatChannels) else model


def splits(model: nn.Module) -> bool:
    """Whether `model` can be cut at a block boundary: timm's EfficientNet family (stem, blocks, head)."""
    net = network_of(model)
    return all(hasattr(net, name) for name in ("conv_stem", "bn1", "blocks", "conv_head", "bn2", "classifier"))


class Bottom(nn.Module):
    """The stem and the first `blocks` stages: what a partial fine-tune freezes."""

    def __init__(self, model: nn.Module, blocks: int = FROZEN_BLOCKS) -> None:
        super().__init__()
        net = network_of(model)
        self.repeats = model.repeats if isinstance(model, RepeatChannels) else 1
        self.stem = nn.Sequential(net.conv_stem, net.bn1)
        self.blocks = nn.Sequential(*net.blocks[:blocks])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.repeat(1, self.repeats, 1, 1) if self.repeats > 1 else x
        return self.blocks(self.stem(x))


class Top(nn.Module):
    """The remaining stages, the head convolution, pooling, dropout and the classifier: what trains."""

    def __init__(self, model: nn.Module, blocks: int = FROZEN_BLOCKS) -> None:
        super().__init__()
        net = network_of(model)
        self.blocks = nn.Sequential(*net.blocks[blocks:])
        self.conv_head = net.conv_head
        self.bn2 = net.bn2
        self.global_pool = net.global_pool
        self.classifier = net.classifier
        self.drop_rate = float(getattr(net, "drop_rate", 0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # timm's EfficientNet.forward_features (after the cut) and forward_head, in the same order
        x = self.global_pool(self.bn2(self.conv_head(self.blocks(x))))
        if self.drop_rate > 0.0:
            x = F.dropout(x, p=self.drop_rate, training=self.training)
        return self.classifier(x)


def frozen_parameters(model: nn.Module, blocks: int = FROZEN_BLOCKS) -> list[nn.Parameter]:
    """The parameters below the cut, in the network's order."""
    return list(Bottom(model, blocks).parameters())
