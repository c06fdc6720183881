"""Preprocessing that travels with a model, and batched inference with it (validation, test, predict)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from liftlab.augment import apply_zca, channel_stats, fit_zca, per_image_standardise
from liftlab.config import Recipe
from liftlab.data.loading import ImageSplit
from liftlab.errors import BadInputError
from liftlab.io import atomic_write, write_json
from liftlab.models.pretrained import input_normalisation
from liftlab.train.frozen import MeasuredForward


@dataclass
class Preprocess:
    """What turns a [0, 1] image batch into the model's input; saved with every run.

    `whiten` is none (per-channel mean/std of the training set, or ImageNet's for pretrained
    backbones), per-image, or zca (then `zca_mean` and `zca_matrix` hold the fitted transform).
    """

    mean: list[float]
    std: list[float]
    size: int
    whiten: str = "none"
    tta: bool | str = False  # as `Recipe.tta`: False, True (6 views) or "flip" (2)
    zca_mean: torch.Tensor | None = None
    zca_matrix: torch.Tensor | None = None

    @classmethod
    def fit(cls, train_images: torch.Tensor, recipe: Recipe) -> Preprocess:
        """Fit on the training split's uint8 images only (never on val or test)."""
        if recipe.model.pretrained:
            channels = train_images.shape[1]
            backbone_mean, backbone_std = input_normalisation(recipe.model.pretrained)
            mean, std = list(backbone_mean[:channels]), list(backbone_std[:channels])
        else:
            mean_t, std_t = channel_stats(train_images)
            mean, std = mean_t.tolist(), std_t.tolist()
        zca_mean = zca_matrix = None
        if recipe.augment.whiten == "zca":
            try:
                zca_mean, zca_matrix = fit_zca(train_images)
            except ValueError as error:
                raise BadInputError(f"augment.whiten: {error}") from None
        return cls(mean, std, recipe.data.size, recipe.augment.whiten, recipe.tta, zca_mean, zca_matrix)

    def on(self, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
        """The transform as a function of a float [0, 1] batch, with its tensors moved to `device` once."""
        if self.whiten == "per-image":
            return per_image_standardise
        if self.whiten == "zca":
            if self.zca_mean is None or self.zca_matrix is None:
                raise BadInputError("preprocess: whiten=zca but the fitted ZCA transform is missing")
            zca_mean, zca_matrix = self.zca_mean.to(device), self.zca_matrix.to(device)
            return lambda x: apply_zca(x, zca_mean, zca_matrix)
        mean = torch.tensor(self.mean, device=device)[None, :, None, None]
        std = torch.tensor(self.std, device=device)[None, :, None, None]
        return lambda x: (x - mean) / std

    def save(self, folder: Path) -> None:
        record: dict[str, Any] = {
            "mean": self.mean,
            "std": self.std,
            "size": self.size,
            "whiten": self.whiten,
        }
        record["tta"] = self.tta
        write_json(folder / "preprocess.json", record)
        if self.zca_mean is not None and self.zca_matrix is not None:
            tensors = {"zca_mean": self.zca_mean.contiguous(), "zca_matrix": self.zca_matrix.contiguous()}
            atomic_write(folder / "whitening.safetensors", lambda tmp: save_file(tensors, str(tmp)))

    @classmethod
    def load(cls, folder: Path) -> Preprocess:
        record = json.loads((folder / "preprocess.json").read_text())
        preprocess = cls(**record)
        if preprocess.whiten == "zca":
            tensors = load_file(str(folder / "whitening.safetensors"))
            preprocess.zca_mean, preprocess.zca_matrix = tensors["zca_mean"], tensors["zca_matrix"]
        return preprocess


def _shift(images: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Translate a batch by (dy, dx) pixels, mirroring the edge in (no black border)."""
    pad = max(abs(dy), abs(dx))
    padded = F.pad(images, (pad, pad, pad, pad), mode="reflect")
    h, w = images.shape[2:]
    return padded[:, :, pad - dy : pad - dy + h, pad - dx : pad - dx + w]


def tta_views(images: torch.Tensor, mode: bool | str = True) -> list[tuple[torch.Tensor, float]]:
    """The views test-time augmentation averages, with their weights: for `mode` True airbench's level 2, the
    image and its mirror (1/4 each) and both shifted one step up-left or down-right (1/8 each); for "flip" the
    image and its mirror (1/2 each), the first two views at a third of the cost.

    >>> [weight for _, weight in tta_views(torch.zeros(1, 3, 8, 8), "flip")]
    [0.5, 0.5]
    """
    if mode == "flip":
        return [(images, 0.5), (images.flip(3), 0.5)]
    step = max(1, images.shape[-1] // 32)
    views = [(images, 0.25), (images.flip(3), 0.25)]
    for shift in (-step, step):
        moved = _shift(images, shift, shift)
        views += [(moved, 0.125), (moved.flip(3), 0.125)]
    return views


def tta_view_count(mode: bool | str) -> int:
    """Forward passes per image of an evaluation with `Recipe.tta` = `mode`.

    >>> tta_view_count(False), tta_view_count("flip"), tta_view_count(True)
    (1, 2, 6)
    """
    return len(tta_views(torch.zeros(1, 1, 2, 2), mode)) if mode else 1


EVAL_PIXELS = 16 * 224 * 224
"""Most pixels per image channel in one evaluation batch on a CPU. Large batches of large images spill the
activations out of the caches: EfficientNet-Lite0 over 256 images here (2-core AMD EPYC, fp32, channels
last) took 2.7 s in batches of 16 at 224 px against 3.9 s in 32s, 7.8 s in 256s and 7-11 s in 1024s; at
288 px 3.5 s in batches of 9 against 6.0 s in 16s and 13 s in 256s. Small images keep large batches
(1024 rows at 28 px)."""


def eval_rows(batch_size: int, pixels: int, device: torch.device) -> int:
    """Images per evaluation batch: `batch_size`, fewer on a CPU where `pixels` per image would spill the caches.

    >>> eval_rows(1024, 224 * 224, torch.device("cpu")), eval_rows(1024, 32 * 32, torch.device("cpu"))
    (16, 784)
    """
    if device.type != "cpu":
        return batch_size
    return max(1, min(batch_size, EVAL_PIXELS // max(pixels, 1)))


@torch.no_grad()
def predict_logits(
    model: nn.Module, images: torch.Tensor, preprocess: Preprocess, dtype: torch.dtype, batch_size: int = 1024
) -> torch.Tensor:
    """Log-probabilities (float32, CPU) for a (N, C, H, W) uint8 tensor, in large batches.

    With `preprocess.tta`, the probabilities of the TTA views are averaged. In float32 on a CPU a long pass
    runs through a frozen copy of the network when that is measured faster (`train/frozen.py`: half the time
    for EfficientNet-Lite0 at 224 px here, same predictions).
    """
    device = next(model.parameters()).device
    transform = preprocess.on(device)
    was_training = model.training
    model.eval()
    outputs = []
    batch_size = eval_rows(batch_size, images.shape[-2] * images.shape[-1], device)
    calls = -(-images.shape[0] // batch_size) * tta_view_count(preprocess.tta)
    forward = MeasuredForward(model, calls, enabled=device.type == "cpu" and dtype == torch.float32)
    for start in range(0, images.shape[0], batch_size):
        batch = images[start : start + batch_size].to(device)
        views = tta_views(batch, preprocess.tta) if preprocess.tta else [(batch, 1.0)]
        probabilities = torch.zeros((), device=device)
        for view, weight in views:
            inputs = transform(view.float() / 255.0).contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
                probabilities = probabilities + weight * F.softmax(forward(inputs).float(), dim=1)
        outputs.append(torch.log(probabilities).cpu())
    model.train(was_training)
    return torch.cat(outputs) if outputs else torch.zeros((0, 0))


def evaluate(
    model: nn.Module, split: ImageSplit, preprocess: Preprocess, dtype: torch.dtype, batch_size: int = 1024
) -> tuple[float, float, list[int]]:
    """(mean cross-entropy, accuracy, predicted class per image) of `model` on `split`."""
    if len(split) == 0:
        return float("nan"), float("nan"), []
    log_probs = predict_logits(model, split.images, preprocess, dtype, batch_size)
    loss = F.nll_loss(log_probs.clamp_min(-100.0), split.labels).item()
    predicted = log_probs.argmax(1)
    accuracy = (predicted == split.labels).float().mean().item()
    return float(loss), float(accuracy), predicted.tolist()
