"""`model.name=fast`: a small, wide 8-layer net in the style of airbench (Keller Jordan's CIFAR-10 speed
runs), written here from its ideas, each behind a recipe setting so an ablation can turn it off.

    patch-whitening 2x2 conv (frozen weights, bias trained for the first epochs) -> GELU
    3 x [conv3x3 -> 2x max-pool -> BN -> GELU -> conv3x3 -> BN -> GELU], widths w, 4w, 4w
    3x max-pool -> linear (no bias) -> x 1/9

Why each piece:
- Patch whitening (`model.whiten_stem`): the first layer's filters are the eigenvectors of the 2x2
  patch covariance of the training images, scaled by 1/sqrt(eigenvalue), in +/- pairs (so a GELU
  after them keeps both signs). The net starts from decorrelated inputs instead of spending its
  first epochs learning edge detectors; freezing the weights keeps that and saves their gradient.
- Identity init (`model.identity_init`): the first `c_in` output channels of each conv start as a
  Dirac (pass-through) kernel, so at step 0 the signal crosses every layer intact and training can
  use a large learning rate at once.
- Batch norm with biases only (`model.norm_weights=false`): the scale a BN weight learns is redundant
  with the next conv's weights; dropping it removes a source of noisy updates. Its running-stat
  momentum is high (0.4 per step) because ~500 steps leave little time to average over.
- The logits are scaled by 1/9: with label smoothing this keeps early losses from saturating.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from liftlab.models.convnet import ACTIVATIONS

LOGIT_SCALE = 1 / 9
BN_MOMENTUM = 0.4  # torch's convention: weight of the new batch in the running statistics
WHITEN_KERNEL = 2
WHITEN_EPS = 5e-4  # added to each eigenvalue: caps the gain of near-constant directions
WHITEN_SAMPLE = 5000  # training images whose patches estimate the covariance (enough for 12x12 matrix)


class BiasNorm(nn.Module):
    """Batch norm whose scale is fixed at 1 unless `learn_weight`; the shift (bias) always learns."""

    running_mean: torch.Tensor
    running_var: torch.Tensor

    def __init__(self, channels: int, learn_weight: bool) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))
        self.weight = nn.Parameter(torch.ones(channels)) if learn_weight else None
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            training=self.training,
            momentum=BN_MOMENTUM,
            eps=1e-12,
        )


def conv3x3(c_in: int, c_out: int, identity_init: bool) -> nn.Conv2d:
    conv = nn.Conv2d(c_in, c_out, 3, padding="same", bias=False)
    if identity_init:
        with torch.no_grad():
            nn.init.dirac_(conv.weight[: min(c_in, c_out)])
    return conv


class ConvGroup(nn.Module):
    def __init__(self, c_in: int, c_out: int, activation: str, identity_init: bool, norm_weights: bool) -> None:
        super().__init__()
        self.conv1 = conv3x3(c_in, c_out, identity_init)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = BiasNorm(c_out, norm_weights)
        self.conv2 = conv3x3(c_out, c_out, identity_init)
        self.norm2 = BiasNorm(c_out, norm_weights)
        self.activation = ACTIVATIONS[activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # pool before the norm: the norm and activation then touch a quarter of the pixels
        x = self.activation(self.norm1(self.pool(self.conv1(x))))
        return self.activation(self.norm2(self.conv2(x)))


class PatchWhitening(nn.Module):
    """A 2x2 conv whose kernel is a buffer (never trained) and whose bias trains while `train_bias`."""

    weight: torch.Tensor

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        out = 2 * in_channels * WHITEN_KERNEL**2
        self.register_buffer("weight", torch.zeros(out, in_channels, WHITEN_KERNEL, WHITEN_KERNEL))
        self.bias = nn.Parameter(torch.zeros(out))
        self.train_bias = True

    @property
    def out_channels(self) -> int:
        return int(self.weight.shape[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # A detached bias gets no gradient, so the optimizer leaves it (and its momentum) alone.
        bias = self.bias if self.train_bias else self.bias.detach()
        return F.conv2d(x, self.weight.to(x.dtype), bias.to(x.dtype))

    @torch.no_grad()
    def fit(self, images: torch.Tensor) -> None:
        """Set the kernel from normalised float images (N, C, H, W): eigenvectors of the patch covariance."""
        c, k = images.shape[1], WHITEN_KERNEL
        patches = images.float().unfold(2, k, 1).unfold(3, k, 1).transpose(1, 3).reshape(-1, c * k * k)
        covariance = patches.T @ patches / patches.shape[0]
        eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
        scaled = (eigenvectors.T / torch.sqrt(eigenvalues.clamp_min(0) + WHITEN_EPS)[:, None]).flip(0)
        kernels = scaled.reshape(c * k * k, c, k, k)
        self.weight.copy_(torch.cat([kernels, -kernels]))


class FastNet(nn.Module):
    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        width: int = 64,
        activation: str = "gelu",
        whiten_stem: bool = True,
        identity_init: bool = True,
        norm_weights: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.stem: nn.Module
        if whiten_stem:
            self.stem = PatchWhitening(in_channels)
            stem_out = self.stem.out_channels
        else:  # the ablation: an ordinary learned 2x2 conv of the same shape
            stem_out = 2 * in_channels * WHITEN_KERNEL**2
            self.stem = nn.Conv2d(in_channels, stem_out, WHITEN_KERNEL)
        self.stem_activation = ACTIVATIONS[activation]()
        widths = [width, 4 * width, 4 * width]
        groups = []
        c_in = stem_out
        for c_out in widths:
            groups.append(ConvGroup(c_in, c_out, activation, identity_init, norm_weights))
            c_in = c_out
        self.groups = nn.Sequential(*groups)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(c_in, num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.groups(self.stem_activation(self.stem(x)))
        # global max-pool (airbench's 3x3 pool over a 3x3 map at 32 px), at any input size
        x = torch.amax(x, dim=(2, 3))
        return self.head(self.dropout(x)) * LOGIT_SCALE


def fit_to_data(model: nn.Module, sample: Callable[[int], torch.Tensor]) -> None:
    """Initialise whatever in `model` is fitted to the training images (the patch-whitening stem).

    `sample(n)` returns the first n normalised training images; it is called only when needed.
    """
    stems = [module for module in model.modules() if isinstance(module, PatchWhitening)]
    if stems:
        images = sample(WHITEN_SAMPLE)
        for stem in stems:
            stem.fit(images)


def begin_epoch(model: nn.Module, epoch: int, whiten_bias_epochs: int) -> None:
    """Per-epoch switches: the whitening bias trains for the first `whiten_bias_epochs` epochs only."""
    for module in model.modules():
        if isinstance(module, PatchWhitening):
            module.train_bias = epoch < whiten_bias_epochs
