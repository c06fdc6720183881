"""What a fit returns, whichever path trained it (the step loop on images, or a head on cached features),
and the small rules both paths share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from liftlab.config import Recipe
from liftlab.models import build_model, fit_to_data
from liftlab.records import Epoch
from liftlab.train.inference import Preprocess

EpochCallback = Callable[[int, Epoch], None]


@dataclass
class FitResult:
    model: nn.Module
    preprocess: Preprocess
    history: list[Epoch]  # one record per finished epoch, the same from both paths
    dtype: str
    device: str
    seconds: float
    train_seconds: float  # time in the step loop only, without validation
    images_per_second: float
    stopped_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    execution: dict[str, Any] = field(default_factory=dict)  # precision, layout, compile and the evidence
    # log-probabilities of the test split when the fit made them (a probe reads them off cached features);
    # `train.run_folder.test_log_probs` fills it otherwise, so a run's test split is scored once
    test_log_probs: torch.Tensor | None = None
    # the predicted class of each validation image at the last validation (paired comparisons of runs)
    val_predictions: list[int] = field(default_factory=list)

    @property
    def val_acc(self) -> float | None:
        return self.history[-1].val_acc if self.history else None


def steps_in_epoch(images: int, batch_size: int) -> int:
    """Optimizer steps per epoch: full batches only (batch norm dislikes a tiny ragged last one),
    the batch capped at the data size, at least one step."""
    return max(images // min(batch_size, images), 1)


def resolve_device(requested: str) -> torch.device:
    """'auto' means the first CUDA device when there is one, else the CPU."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def data_fitted_model(
    recipe: Recipe,
    channels: int,
    num_classes: int,
    images: torch.Tensor,
    transform: Callable[[torch.Tensor], torch.Tensor],
) -> nn.Module:
    """The recipe's network on `images`' device with its data-dependent layers (the `fast` net's whitening
    stem) fitted to the training images: every path that trains the network (a fit, the LR range test)
    starts from this one, or it trains a different, unfitted network."""
    model = build_model(recipe.model, channels, num_classes).to(images.device)
    # evenly spaced images, not the first n: a folder's images come sorted by class
    fit_to_data(model, lambda n: transform(images[:: max(len(images) // n, 1)][:n].float() / 255.0))
    return model
