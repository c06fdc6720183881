"""RandAugment and TrivialAugment on whole batches, each image with its own op and strength.

The op list follows torchvision's (TrivialAugmentWide ranges, less `equalize`). Each image draws an op
id; the batch is then processed op by op on the images that drew it, so the cost is one vectorised
call per op, not one call per image.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from liftlab.augment.ops import (
    adjust_brightness,
    adjust_contrast,
    adjust_saturation,
    affine,
    rotation_matrices,
)

# op(images, signed strength in [-1, 1]) -> images
Op = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _translate(axis: int) -> Op:
    def op(images: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        theta = torch.zeros(images.shape[0], 2, 3, device=images.device)
        theta[:, 0, 0] = theta[:, 1, 1] = 1.0
        theta[:, axis, 2] = 0.6 * s  # up to 30% of the side (normalised coordinates span 2)
        return affine(images, theta)

    return op


def _shear(axis: int) -> Op:
    def op(images: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        theta = torch.zeros(images.shape[0], 2, 3, device=images.device)
        theta[:, 0, 0] = theta[:, 1, 1] = 1.0
        theta[:, axis, 1 - axis] = 0.3 * s
        return affine(images, theta)

    return op


def _posterize(images: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    bits = (8 - (s.abs() * 6).round()).clamp(2, 8)
    levels = (2**bits)[:, None, None, None]
    return torch.floor(images * (levels - 1) + 0.5) / (levels - 1)


def _solarize(images: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    threshold = (1.0 - s.abs())[:, None, None, None]
    return torch.where(images >= threshold, 1.0 - images, images)


def _autocontrast(images: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    low = images.amin(dim=(2, 3), keepdim=True)
    high = images.amax(dim=(2, 3), keepdim=True)
    return ((images - low) / (high - low).clamp_min(1e-3)).clamp(0.0, 1.0)


def _sharpness(images: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    blurred = torch.nn.functional.avg_pool2d(images, 3, stride=1, padding=1, count_include_pad=False)
    return (blurred + (1 + 0.99 * s)[:, None, None, None] * (images - blurred)).clamp(0.0, 1.0)


OPS: dict[str, Op] = {
    "identity": lambda images, s: images,
    "brightness": lambda images, s: adjust_brightness(images, 1 + 0.99 * s),
    "contrast": lambda images, s: adjust_contrast(images, 1 + 0.99 * s),
    "color": lambda images, s: adjust_saturation(images, 1 + 0.99 * s),
    "sharpness": _sharpness,
    "posterize": _posterize,
    "solarize": _solarize,
    "autocontrast": _autocontrast,
    "rotate": lambda images, s: affine(images, rotation_matrices(30.0 * s)),
    "shear_x": _shear(0),
    "shear_y": _shear(1),
    "translate_x": _translate(0),
    "translate_y": _translate(1),
}
OP_NAMES = list(OPS)


def apply_ops(images: torch.Tensor, op_ids: torch.Tensor, strengths: torch.Tensor) -> torch.Tensor:
    """Apply OPS[op_ids[i]] with strengths[i] to image i, one vectorised call per op."""
    out = images.clone()
    for op_id, name in enumerate(OP_NAMES):
        chosen = (op_ids == op_id).nonzero().flatten()
        if chosen.numel() and name != "identity":
            out[chosen] = OPS[name](images[chosen], strengths[chosen])
    return out


def _signed(strength: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    sign = torch.where(torch.rand(strength.shape, generator=generator, device=strength.device) < 0.5, -1.0, 1.0)
    return strength * sign


def rand_augment(images: torch.Tensor, num_ops: int, magnitude: int, generator: torch.Generator) -> torch.Tensor:
    """RandAugment: `num_ops` random ops per image at a fixed magnitude (0..30)."""
    n = images.shape[0]
    for _ in range(num_ops):
        op_ids = torch.randint(0, len(OP_NAMES), (n,), generator=generator, device=images.device)
        strength = torch.full((n,), magnitude / 30.0, device=images.device)
        images = apply_ops(images, op_ids, _signed(strength, generator))
    return images


def trivial_augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """TrivialAugment: one random op per image at a uniformly random strength."""
    n = images.shape[0]
    op_ids = torch.randint(0, len(OP_NAMES), (n,), generator=generator, device=images.device)
    strength = torch.rand(n, generator=generator, device=images.device)
    return apply_ops(images, op_ids, _signed(strength, generator))
