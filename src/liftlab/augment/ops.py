"""Per-sample random augmentations of float batches in [0, 1], as whole-batch tensor ops.

Every op draws one random value per image from the given generator, so a batch of 256 images costs a
handful of kernel launches, not 256 PIL calls, and the same code runs on CPU and GPU.
Geometric ops build one 2x3 affine matrix per image and resample the batch once with grid_sample.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def uniform(n: int, low: float, high: float, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator, device=device)


def affine(
    images: torch.Tensor, theta: torch.Tensor, padding: str = "reflection", side: int | None = None
) -> torch.Tensor:
    """Resample each image with its own (2, 3) affine matrix (normalised coordinates), to `side` x `side`
    pixels when given (else the input's size).

    Pixels from outside the image are mirrored in (reflection), not black: black corners would be a
    feature no test image has.
    """
    n, c, h, w = images.shape
    shape = [n, c, side or h, side or w]
    grid = F.affine_grid(theta.to(images.dtype), shape, align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode=padding, align_corners=False)


def rotation_matrices(angles_degrees: torch.Tensor) -> torch.Tensor:
    radians = angles_degrees * (math.pi / 180.0)
    cos, sin = torch.cos(radians), torch.sin(radians)
    zero = torch.zeros_like(cos)
    return torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)


def random_rotate(images: torch.Tensor, degrees: float, generator: torch.Generator) -> torch.Tensor:
    """Rotate each image by its own angle in [-degrees, degrees]."""
    angles = uniform(images.shape[0], -degrees, degrees, generator, images.device)
    return affine(images, rotation_matrices(angles))


def random_resized_crop(
    images: torch.Tensor, min_area: float, generator: torch.Generator, side: int | None = None
) -> torch.Tensor:
    """Crop each image to a random share of its area in [min_area, 1] and aspect ratio in [3/4, 4/3], at a
    random place, resized to `side` (default: the full size): Inception's scale augmentation, the one
    fine-tunes use.

    One affine matrix per image (scale and shift) and one grid_sample for the batch, instead of a PIL crop
    and resize per image.
    """
    n, device = images.shape[0], images.device
    area = uniform(n, min_area, 1.0, generator, device)
    log_ratio = uniform(n, math.log(3 / 4), math.log(4 / 3), generator, device)
    ratio = torch.exp(log_ratio)
    # sides as shares of the image's: width * height = area, width / height = ratio, each at most 1
    width = torch.sqrt(area * ratio).clamp(max=1.0)
    height = torch.sqrt(area / ratio).clamp(max=1.0)
    # the centre may move as far as keeps the crop inside the image (normalised coordinates span [-1, 1])
    cx = (1 - width) * (2 * torch.rand(n, generator=generator, device=device) - 1)
    cy = (1 - height) * (2 * torch.rand(n, generator=generator, device=device) - 1)
    zero = torch.zeros_like(width)
    theta = torch.stack([torch.stack([width, zero, cx], 1), torch.stack([zero, height, cy], 1)], 1)
    return affine(images, theta, side=side)


def grayscale(images: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma, kept with the batch's channel count."""
    if images.shape[1] != 3:
        return images
    weights = torch.tensor([0.299, 0.587, 0.114], device=images.device, dtype=images.dtype)
    return (images * weights[None, :, None, None]).sum(1, keepdim=True).expand_as(images)


def blend(images: torch.Tensor, other: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """factor 1 keeps the image, 0 gives `other`, above 1 extrapolates; clamped to [0, 1]."""
    return (other + factors[:, None, None, None] * (images - other)).clamp(0.0, 1.0)


def adjust_brightness(images: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    return blend(images, torch.zeros_like(images), factors)


def adjust_contrast(images: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    mean = grayscale(images).mean(dim=(1, 2, 3), keepdim=True)
    return blend(images, mean.expand_as(images), factors)


def adjust_saturation(images: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    return blend(images, grayscale(images), factors)


def color_jitter(images: torch.Tensor, strength: float, generator: torch.Generator) -> torch.Tensor:
    """Brightness, contrast and (for 3 channels) saturation, each by a factor in [1-s, 1+s] per image."""
    n, device = images.shape[0], images.device
    images = adjust_brightness(images, uniform(n, 1 - strength, 1 + strength, generator, device))
    images = adjust_contrast(images, uniform(n, 1 - strength, 1 + strength, generator, device))
    if images.shape[1] == 3:
        images = adjust_saturation(images, uniform(n, 1 - strength, 1 + strength, generator, device))
    return images


def box_masks(
    n: int,
    height: int,
    width: int,
    box_h: torch.Tensor,
    box_w: torch.Tensor,
    generator: torch.Generator,
    device: torch.device,
) -> torch.Tensor:
    """(n, 1, h, w) boolean masks, True inside one box per image of the given sizes at random centres."""
    cy = torch.randint(0, height, (n,), generator=generator, device=device)
    cx = torch.randint(0, width, (n,), generator=generator, device=device)
    rows = torch.arange(height, device=device)[None, :]
    cols = torch.arange(width, device=device)[None, :]
    top, left = (cy - box_h // 2)[:, None], (cx - box_w // 2)[:, None]
    inside_rows = (rows >= top) & (rows < top + box_h[:, None])
    inside_cols = (cols >= left) & (cols < left + box_w[:, None])
    return (inside_rows[:, :, None] & inside_cols[:, None, :])[:, None]


def cutout(images: torch.Tensor, fraction: float, generator: torch.Generator) -> torch.Tensor:
    """Erase (set to 0) a square of side fraction*size per image, centred anywhere (it may be clipped)."""
    n, _, h, w = images.shape
    side = torch.full((n,), max(1, round(fraction * min(h, w))), device=images.device)
    mask = box_masks(n, h, w, side, side, generator, images.device)
    return images.masked_fill(mask, 0.0)
