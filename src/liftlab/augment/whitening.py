"""Input whitening, the two classic kinds.

- per-image standardisation: each image minus its own mean, divided by its own standard deviation
  (at least 1/sqrt(pixels), as in TensorFlow's per_image_standardization), so every image has mean 0
  and standard deviation 1 whatever its exposure;
- ZCA whitening: fitted on the training set, x -> W (x - mu) with W = U diag(1/sqrt(s + eps)) U^T from
  the eigen-decomposition of the pixel covariance. The whitened pixels are decorrelated with unit
  variance along every direction whose variance is well above eps, while the image stays an image
  (ZCA is the whitening closest to the identity), which emphasises edges.
"""

from __future__ import annotations

import torch

ZCA_MAX_DIMENSIONS = 4096  # a 64 MB covariance matrix; 32x32 RGB images have 3,072 dimensions


def per_image_standardise(images: torch.Tensor) -> torch.Tensor:
    """Each image of a float batch to mean 0 and standard deviation 1."""
    flat = images.flatten(1)
    mean = flat.mean(1, keepdim=True)
    floor = 1.0 / flat.shape[1] ** 0.5
    std = flat.std(1, keepdim=True, unbiased=False).clamp_min(floor)
    return ((flat - mean) / std).view_as(images)


def fit_zca(images: torch.Tensor, eps: float = 1e-2, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, W) of ZCA whitening for a uint8 (N, C, H, W) training set, in [0, 1] pixel units."""
    dims = images[0].numel()
    if dims > ZCA_MAX_DIMENSIONS:
        raise ValueError(
            f"whiten=zca needs at most {ZCA_MAX_DIMENSIONS} values per image, found {dims} "
            f"({tuple(images.shape[1:])}); use whiten=per-image or a smaller data.size"
        )
    total = torch.zeros(dims, dtype=torch.float64)
    outer = torch.zeros(dims, dims, dtype=torch.float64)
    for start in range(0, images.shape[0], chunk):
        part = images[start : start + chunk].flatten(1).to(torch.float64).cpu() / 255.0
        total += part.sum(0)
        outer += part.T @ part
    n = images.shape[0]
    mean = total / n
    covariance = outer / n - torch.outer(mean, mean)
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
    scale = 1.0 / torch.sqrt(eigenvalues.clamp_min(0.0) + eps)
    whitening = (eigenvectors * scale) @ eigenvectors.T
    return mean.float(), whitening.float()


def apply_zca(images: torch.Tensor, mean: torch.Tensor, whitening: torch.Tensor) -> torch.Tensor:
    """Whiten a float batch in [0, 1] with a fitted (mean, W)."""
    flat = images.flatten(1) - mean
    return (flat @ whitening).view_as(images)
