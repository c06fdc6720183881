"""Mixup and CutMix: blend pairs of images and their labels; the loss then uses soft targets."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from liftlab.augment.ops import box_masks


def beta_sample(alpha: float, generator: torch.Generator) -> float:
    """One draw of Beta(alpha, alpha) that depends only on `generator`'s state.

    torch's Beta sampler takes no generator, so the draw is NumPy's, seeded from the generator.
    """
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item())
    return float(np.random.default_rng(seed).beta(alpha, alpha))


def mix_batch(
    images: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    mixup_alpha: float,
    cutmix_alpha: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup (whole images) or CutMix (a box), chosen at random when both are on; returns soft targets."""
    targets = F.one_hot(labels, num_classes).float()
    if mixup_alpha <= 0 and cutmix_alpha <= 0:
        return images, targets
    n = images.shape[0]
    partner = torch.randperm(n, generator=generator, device=images.device)
    use_cutmix = cutmix_alpha > 0 and (
        mixup_alpha <= 0 or bool(torch.rand(1, generator=generator, device=images.device) < 0.5)
    )
    lam = beta_sample(cutmix_alpha if use_cutmix else mixup_alpha, generator)
    if use_cutmix:
        _, _, h, w = images.shape
        box_h = torch.full((n,), round(h * (1 - lam) ** 0.5), device=images.device)
        box_w = torch.full((n,), round(w * (1 - lam) ** 0.5), device=images.device)
        mask = box_masks(n, h, w, box_h, box_w, generator, images.device)
        mixed = torch.where(mask, images[partner], images)
        kept = 1.0 - mask.float().mean(dim=(1, 2, 3))  # the clipped box's true share
        return mixed, kept[:, None] * targets + (1 - kept[:, None]) * targets[partner]
    mixed = lam * images + (1 - lam) * images[partner]
    return mixed, lam * targets + (1 - lam) * targets[partner]
