"""Partial fine-tuning on cached activations: the frozen bottom of the network runs once per augmented view.

`model.finetune=partial` on an EfficientNet freezes the stem and the first stages (`models/split.py`); their
output for a given input never changes, yet the step loop would recompute it at every step, and there it
costs two thirds of the step on a CPU. So before training, the bottom runs over VIEWS augmented views of
every training image (the recipe's own augmentation: random-resized crops, flips, ...), the activations are
kept in memory (bf16: half the bytes, and the top trains in fp32 or bf16 on them alike), and each epoch the
step loop feeds the top one view per image, every view once before any repeats. The trained network is the
whole network: validation, test and `predict` run it on images, as for any run.

What changes against the step loop: VIEWS fixed views per image stand in for a fresh draw every epoch, which
at the 5-15 epochs a CPU budget fine-tunes for shows each image about as many distinct crops.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from liftlab.augment import augment_batch
from liftlab.config import Recipe
from liftlab.models.split import Bottom, Top, splits
from liftlab.progress import make_progress
from liftlab.train import distributed

VIEWS = 8
"""Augmented views cached per training image: each is used once in 8 epochs, about the epochs a CPU budget
fine-tunes for."""
MIN_VIEWS = 2
"""With fewer views in memory the cache shows too few crops to stand in for fresh ones: the step loop trains."""
MEMORY_SHARE = 0.25
"""The cache may take at most this share of the machine's memory (CIFAR-10's 9,000 images at 96 px, 8
views: 0.8 GB; TrashNet's 2,023 at 160 px: 0.5 GB)."""
CHUNK = 64
"""Images per forward pass of the bottom while caching: its activations at 160 px fill a few tens of MB."""


def on_activations(recipe: Recipe, model: nn.Module) -> bool:
    """Whether the step loop trains `recipe` on cached activations: a partial fine-tune of a network that cuts
    at a block boundary, with augmentation that acts on each image alone (mixup and CutMix mix images, so
    they need the images at every step), in one process."""
    mixing = recipe.augment.mixup > 0 or recipe.augment.cutmix > 0
    return (
        bool(recipe.model.pretrained)
        and recipe.model.finetune == "partial"
        and splits(model)
        and not mixing
        and not distributed.current().enabled
    )


def memory_bytes() -> int:
    """The machine's physical memory in bytes (0 where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def views_that_fit(bytes_per_view: int, memory: int) -> int:
    """Views to cache: VIEWS, fewer where MEMORY_SHARE of `memory` holds fewer, 0 below MIN_VIEWS.

    >>> views_that_fit(800_000_000 // 8, 24 * 2**30), views_that_fit(2 * 2**30, 24 * 2**30), views_that_fit(10, 0)
    (8, 3, 0)
    """
    fits = int(MEMORY_SHARE * memory // max(bytes_per_view, 1))
    views = min(VIEWS, fits)
    return views if views >= MIN_VIEWS else 0


@dataclass
class CachedViews:
    """The top of the network and its inputs: `views[v, i]` is the bottom's output on view v of image i."""

    top: Top
    views: torch.Tensor  # (views, images, channels, height, width), bf16
    offsets: torch.Tensor  # image i shows view (offsets[i] + epoch) % views in an epoch
    seconds: float

    def batch(self, index: torch.Tensor, epoch: int) -> torch.Tensor:
        """The cached inputs of the top for training images `index` in `epoch`, as float32."""
        which = (self.offsets[index] + epoch) % self.views.shape[0]
        return self.views[which, index].float()

    def record(self) -> dict[str, object]:
        count, _, channels, height, width = self.views.shape
        return {
            "views": int(count),
            "shape": [int(channels), int(height), int(width)],
            "megabytes": round(self.views.numel() * self.views.element_size() / 1e6, 1),
            "seconds": round(self.seconds, 3),
        }


def activation_shape(model: nn.Module, channels: int, side: int) -> tuple[int, int, int]:
    """(channels, height, width) of the bottom's output for a `side`-px image."""
    bottom = Bottom(model)
    training = bottom.training
    bottom.eval()
    with torch.no_grad():
        shape = bottom(torch.zeros(1, channels, side, side, device=next(model.parameters()).device)).shape[1:]
    bottom.train(training)
    return int(shape[0]), int(shape[1]), int(shape[2])


def cache_views(
    recipe: Recipe,
    model: nn.Module,
    images: torch.Tensor,
    transform: Callable[[torch.Tensor], torch.Tensor],
    coins: torch.Tensor | None,
    *,
    layout: torch.memory_format,
    quiet: bool = True,
) -> CachedViews | None:
    """The bottom's output on the recipe's augmented views of `images` (uint8, N x C x H x W), or None when
    not even MIN_VIEWS fit in memory. The views draw from their own generator (seeded by the recipe's seed),
    so the step loop's random numbers are those of a run without the cache, and a resumed run caches the
    same views."""
    started = time.perf_counter()
    side = recipe.augment.train_size or recipe.data.size
    shape = activation_shape(model, images.shape[1], side)
    count = views_that_fit(len(images) * shape[0] * shape[1] * shape[2] * 2, memory_bytes())
    if not count:
        return None
    bottom = Bottom(model).eval()
    generator = torch.Generator(device=images.device).manual_seed(recipe.seed + 7919)
    views = torch.empty((count, len(images), *shape), dtype=torch.bfloat16, device=images.device)
    with make_progress(quiet) as progress, torch.no_grad():
        task = progress.add_task("cache activations", total=count * len(images), info="")
        for view in range(count):
            for start in range(0, len(images), CHUNK):
                chunk = slice(start, start + CHUNK)
                batch_coins = coins[chunk] if coins is not None else None
                inputs = transform(augment_batch(images[chunk], recipe.augment, generator, coins=batch_coins,
                                               epoch=view))  # fmt: skip
                views[view, chunk] = bottom(inputs.contiguous(memory_format=layout)).to(torch.bfloat16)
                progress.advance(task, len(inputs))
    offsets = torch.randint(0, count, (len(images),), generator=generator, device=images.device)
    return CachedViews(Top(model), views, offsets, time.perf_counter() - started)
