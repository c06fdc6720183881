"""A picture of what an augmentation does: original training images above augmented versions."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image
from torchvision.utils import make_grid

from liftlab.augment.mixing import mix_batch
from liftlab.augment.pipeline import augment_batch
from liftlab.config import Recipe
from liftlab.data.loading import load_data


def _one_class_after_another(labels: torch.Tensor, count: int) -> torch.Tensor:
    """Indices of `count` images taking each class in turn, so the grid shows every class."""
    queues = [torch.nonzero(labels == label).flatten().tolist() for label in labels.unique().tolist()]
    chosen: list[int] = []
    while len(chosen) < min(count, len(labels)):
        for queue in queues:
            if queue and len(chosen) < count:
                chosen.append(queue.pop(0))
    return torch.tensor(chosen, dtype=torch.int64)


def preview_grid(spec: str, recipe: Recipe, out: Path, *, images: int = 8, rows: int = 3, seed: int = 0) -> Path:
    """Write a PNG grid (columns: training images; row 1: originals; rows below: augmented)."""
    data = load_data(spec, recipe.data, skip_bad=True)
    chosen = _one_class_after_another(data.train.labels, images)
    batch = data.train.images[chosen]
    generator = torch.Generator().manual_seed(seed)
    views = [batch.float() / 255.0]
    for _ in range(rows):
        augmented = augment_batch(batch, recipe.augment, generator)
        if recipe.augment.mixup or recipe.augment.cutmix:
            augmented, _ = mix_batch(
                augmented, data.train.labels[chosen], len(data.classes), recipe.augment.mixup, recipe.augment.cutmix,
                generator,
            )  # fmt: skip
        views.append(augmented.clamp(0, 1))
    grid = make_grid(torch.cat(views), nrow=len(batch), padding=2, pad_value=1.0)
    # Upscale small images so a person can see them; nearest keeps the pixels honest.
    scale = max(1, 96 // recipe.data.size)
    pixels = (grid * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    picture = Image.fromarray(pixels.squeeze(-1) if pixels.shape[-1] == 1 else pixels)
    picture = picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST)
    out.parent.mkdir(parents=True, exist_ok=True)
    picture.save(out)
    return out
