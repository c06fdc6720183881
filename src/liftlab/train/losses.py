"""Classification losses on hard labels or soft targets (mixup, cutmix)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def classification_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    kind: str = "ce",
    label_smoothing: float = 0.0,
    focal_gamma: float = 2.0,
) -> torch.Tensor:
    """Mean cross-entropy or focal loss; `targets` are class indices (N,) or probabilities (N, K).

    Focal loss (Lin et al., 2017) scales each image's cross-entropy by (1 - p_true)^gamma, so easy,
    confidently right images count less and hard ones more.
    """
    logits = logits.float()
    num_classes = logits.shape[1]
    if targets.ndim == 1:
        targets = F.one_hot(targets, num_classes).float()
    if label_smoothing:
        targets = targets * (1 - label_smoothing) + label_smoothing / num_classes
    log_probs = F.log_softmax(logits, dim=1)
    per_image = -(targets * log_probs).sum(1)
    if kind == "focal":
        p_true = (targets * log_probs.exp()).sum(1)
        per_image = (1 - p_true).clamp_min(0).pow(focal_gamma) * per_image
    elif kind != "ce":
        raise ValueError(f"optim.loss {kind!r}: expected ce or focal")
    return per_image.mean()
