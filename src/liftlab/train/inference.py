"""Batched inference with a run's own preprocessing: used by validation, test and prediction."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from liftlab.augment import normalise
from liftlab.data.loading import ImageSplit


@dataclass(frozen=True)
class Preprocess:
    """What turns a uint8 image into the model's input; saved with every run."""

    mean: list[float]
    std: list[float]
    size: int


@torch.no_grad()
def predict_logits(
    model: nn.Module, images: torch.Tensor, preprocess: Preprocess, dtype: torch.dtype, batch_size: int = 1024
) -> torch.Tensor:
    """Logits (float32, on the CPU) for a (N, C, H, W) uint8 image tensor, in large batches."""
    device = next(model.parameters()).device
    mean = torch.tensor(preprocess.mean, device=device)
    std = torch.tensor(preprocess.std, device=device)
    was_training = model.training
    model.eval()
    outputs = []
    for start in range(0, images.shape[0], batch_size):
        batch = normalise(images[start : start + batch_size].to(device), mean, std)
        batch = batch.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            outputs.append(model(batch).float().cpu())
    model.train(was_training)
    return torch.cat(outputs) if outputs else torch.zeros((0, 0))


def evaluate(
    model: nn.Module, split: ImageSplit, preprocess: Preprocess, dtype: torch.dtype, batch_size: int = 1024
) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of `model` on `split`."""
    if len(split) == 0:
        return float("nan"), float("nan")
    logits = predict_logits(model, split.images, preprocess, dtype, batch_size)
    loss = F.cross_entropy(logits, split.labels).item()
    accuracy = (logits.argmax(1) == split.labels).float().mean().item()
    return float(loss), float(accuracy)
