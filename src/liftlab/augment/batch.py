"""Augmentation of whole batches with tensor ops, one code path for CPU and GPU.

Each op takes a (N, C, H, W) batch and a torch.Generator, and draws per-sample randomness from it, so
the same seed gives the same augmented tensors. They work on uint8 images (a quarter of the memory
traffic of float32) before normalisation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_flip(images: torch.Tensor, generator: torch.Generator, dim: int = 3) -> torch.Tensor:
    """Mirror each image with probability 1/2: left-right (dim 3) or top-bottom (dim 2)."""
    flip = torch.rand(images.shape[0], generator=generator, device=images.device) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(dim), images)


def random_crop(images: torch.Tensor, padding: int, generator: torch.Generator, mode: str = "constant") -> torch.Tensor:
    """Pad by `padding` (zeros, or mirrored edges with mode="reflect": a translation that invents no
    black border), then crop back to the original size at a random offset per image.

    Two gathers (rows, then columns) instead of a Python loop over images: the whole batch is
    shifted in two vectorised ops.
    """
    if padding <= 0:
        return images
    n, c, h, w = images.shape
    padded = F.pad(images, (padding, padding, padding, padding), mode=mode)
    device = images.device
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=device)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=device)
    rows = (dy[:, None] + torch.arange(h, device=device))[:, None, :, None].expand(n, c, h, w + 2 * padding)
    shifted = padded.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w, device=device))[:, None, None, :].expand(n, c, h, w)
    return shifted.gather(3, cols)


def flip_coins(count: int, seed: int) -> torch.Tensor:
    """One fixed coin per training image for `alternating_flip`, from its own generator seeded by
    `seed`: a resumed run draws the same coins without storing them."""
    return torch.rand(count, generator=torch.Generator().manual_seed(seed)) < 0.5


def alternating_flip(images: torch.Tensor, coins: torch.Tensor, epoch: int) -> torch.Tensor:
    """Mirror image i in epoch e when coin_i XOR (e odd).

    Random flips show an image the same way round two epochs running half the time; alternating
    shows both orientations in every two epochs, so a short run sees more distinct views (airbench).
    """
    flip = coins ^ bool(epoch % 2)
    return torch.where(flip[:, None, None, None], images.flip(3), images)


def channel_stats(images: torch.Tensor, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std (in [0, 1] pixel units) of a uint8 image tensor, without a full float copy."""
    channels = images.shape[1]
    total = torch.zeros(channels, dtype=torch.float64)
    squares = torch.zeros(channels, dtype=torch.float64)
    for start in range(0, images.shape[0], chunk):
        part = images[start : start + chunk].to(torch.float64) / 255.0
        total += part.sum(dim=(0, 2, 3)).cpu()
        squares += (part * part).sum(dim=(0, 2, 3)).cpu()
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / max(count, 1)
    std = (squares / max(count, 1) - mean * mean).clamp_min(1e-6).sqrt()
    return mean.float(), std.clamp_min(1.0 / 255.0).float()
