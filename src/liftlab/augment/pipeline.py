"""The training-time augmentation of one batch, in a fixed order, from an AugmentConfig.

uint8 ops first (crop, flips: a quarter of float32's memory traffic), then the float ops in [0, 1].
Mixing (mixup, cutmix) changes the labels too, so the training loop applies it after preprocessing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from liftlab.augment.auto import rand_augment, trivial_augment
from liftlab.augment.batch import alternating_flip, random_crop, random_flip
from liftlab.augment.ops import color_jitter, cutout, random_resized_crop, random_rotate
from liftlab.config import AugmentConfig


def augment_batch(
    images: torch.Tensor,
    config: AugmentConfig,
    generator: torch.Generator,
    *,
    coins: torch.Tensor | None = None,
    epoch: int = 0,
) -> torch.Tensor:
    """Augment a uint8 (N, C, H, W) batch; returns float32 in [0, 1].

    `coins` (this batch's entries of `flip_coins`) and `epoch` drive alternating flips; without them
    an alternating flip falls back to a random one.

    >>> import torch
    >>> batch = torch.zeros(4, 3, 8, 8, dtype=torch.uint8)
    >>> augment_batch(batch, AugmentConfig(flip=True, rotate=10), torch.Generator()).dtype
    torch.float32
    """
    if config.crop_padding:
        images = random_crop(images, config.crop_padding, generator)
    if config.translate:
        images = random_crop(images, config.translate, generator, mode="reflect")
    if config.flip and config.alternating_flip and coins is not None:
        images = alternating_flip(images, coins, epoch)
    elif config.flip:
        images = random_flip(images, generator)
    if config.vflip:
        images = random_flip(images, generator, dim=2)
    x = images.float() / 255.0
    side = config.train_size if config.train_size and config.train_size != x.shape[-1] else None
    if config.resized_crop:
        x = random_resized_crop(x, config.resized_crop, generator, side)
    elif side is not None:
        # train low, test high (FixRes): the network sees smaller training images than it is tested on
        x = F.interpolate(x, size=(side, side), mode="bilinear", antialias=True, align_corners=False)
    if config.rotate:
        x = random_rotate(x, config.rotate, generator)
    if config.color_jitter:
        x = color_jitter(x, config.color_jitter, generator)
    if config.randaugment:
        x = rand_augment(x, config.randaugment, config.randaugment_magnitude, generator)
    if config.trivialaugment:
        x = trivial_augment(x, generator)
    if config.cutout:
        x = cutout(x, config.cutout, generator)
    return x
