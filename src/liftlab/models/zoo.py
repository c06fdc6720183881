"""Build the model a recipe names: liftlab's ConvNet, or a torchvision architecture by name."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from liftlab.config import ModelConfig
from liftlab.errors import BadInputError
from liftlab.models.convnet import ConvNet
from liftlab.models.fastnet import FastNet


class RepeatChannels(nn.Module):
    """Feed a 1-channel image to a network built for 3 channels."""

    def __init__(self, model: nn.Module, in_channels: int, expected: int = 3) -> None:
        super().__init__()
        self.model = model
        self.repeats = expected // in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.repeat(1, self.repeats, 1, 1) if self.repeats > 1 else x)


MLP_UNITS = 512


def mlp_head(model: nn.Module, num_classes: int, dropout: float) -> None:
    """Replace the pretrained model's classifier by Linear-ReLU-Dropout-Linear over the same features."""
    from liftlab.models.pretrained import classifier_of

    old = classifier_of(model)
    if not isinstance(old, nn.Linear) or not hasattr(model, "classifier"):
        raise BadInputError(f"model.head=mlp: {type(model).__name__} has no linear `classifier` to replace")
    model.classifier = nn.Sequential(
        nn.Linear(old.in_features, MLP_UNITS), nn.ReLU(), nn.Dropout(dropout), nn.Linear(MLP_UNITS, num_classes)
    )


def torchvision_names() -> list[str]:
    import torchvision.models as tv_models

    return sorted(tv_models.list_models(module=tv_models))


# liftlab's own networks: the class and the `model.*` settings it takes, by keyword
FROM_SCRATCH: dict[str, tuple[Callable[..., nn.Module], tuple[str, ...]]] = {
    "convnet": (ConvNet, ("width", "stages", "blocks", "norm", "activation", "dropout", "residual")),
    "fast": (FastNet, ("width", "activation", "whiten_stem", "identity_init", "norm_weights", "dropout")),
}


def build_model(config: ModelConfig, in_channels: int, num_classes: int) -> nn.Module:
    """A freshly initialised model for `config` (initialisation follows torch's global RNG).

    >>> build_model(ModelConfig(width=8), in_channels=3, num_classes=10)(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """
    if config.pretrained:
        from liftlab.models.pretrained import build_pretrained

        model = build_pretrained(config.pretrained, config.name, num_classes)
        if config.head == "mlp":
            mlp_head(model, num_classes, config.dropout)
        return RepeatChannels(model, in_channels) if in_channels == 1 else model
    if config.head != "linear":
        raise BadInputError(f"model.head={config.head}: a head other than linear needs model.pretrained")
    if config.name in FROM_SCRATCH:
        network, settings = FROM_SCRATCH[config.name]
        return network(in_channels, num_classes, **{name: getattr(config, name) for name in settings})
    import torchvision.models as tv_models

    names = torchvision_names()
    if config.name not in names:
        raise BadInputError(
            f"model.name {config.name!r}: expected 'convnet', 'fast' or a torchvision architecture; "
            f"known: {', '.join(names)}"
        )
    model = tv_models.get_model(config.name, weights=None, num_classes=num_classes)
    return RepeatChannels(model, in_channels) if in_channels == 1 else model
