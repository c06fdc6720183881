"""Would caching the frozen layers' activations make the partial fine-tune of upscaled images pay more?

The partial fine-tune `improve` runs on CIFAR-10 (EfficientNet-Lite0, the first three blocks frozen, fresh
random-resized crops and flips every step) against the same network with its first `--frozen-blocks`
blocks frozen and their activations computed once, for `--views` fixed views of each training image (the
image, its mirror, and random-resized crops), each epoch drawing one cached view per image. Both train
the blocks above with `improve`'s fine-tune optimizer (AdamW 1e-3, decay 0.05, batch 32, one-cycle, label
smoothing 0.1) on `--train-images` images at 192 px and are validated at 224 px on the validation split.

It prints, per arm: seconds to cache, seconds per image of a training step, seconds in all and the
validation accuracy, so the arms can be compared at equal time.

    python -m benchmarks.cached_prefix [--train-images 2000] [--epochs 6,7] [--views 4] [--frozen-blocks 5]

Measured on the 2-core AMD EPYC development machine (2026-12-06, 2,000 training images, 1,000 validation).
This script as it stands: plain, 6 epochs, 18.0 ms an image a step, 80.9% in 215 s; five blocks frozen and
cached (4 views, 51 s to cache), 7 epochs, 5.3 ms a step, 83.4% in 125 s. Its first draft (torchvision's
per-image crops): plain 4 epochs 81.0% (154 s) and 6 epochs 82.9% (255 s); cached 7 epochs 82.7% (178 s)
and 10 epochs 83.1% (242 s); three blocks frozen and cached, 12 ms a step, 6 epochs 80.8% (213 s). So five
cached blocks reach the plain arm's accuracy in about 60% of its time on 2,000 images. On all 9,000
(`--train-images 9000 --epochs 4,8`): plain, 4 epochs, 21.8 ms a step, 89.9% in 784 s; cached, 324 s to fill
and 8 epochs at 6.0 ms, 89.3% in 754 s: level at equal time (the standard error is 1.2 points at 1,000
validation images), as at 128 px (2026-12-03, design.md). Filling the cache costs as much as the epochs it
saves, so `improve` keeps the plain partial fine-tune.
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.common import cifar10_subset
from liftlab.augment.ops import random_resized_crop
from liftlab.config import DataConfig, ModelConfig
from liftlab.data import load_data
from liftlab.models import build_model

SIDE, TEST_SIZE, BATCH, PEAK_LR = 192, 224, 32, 1e-3


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 images to the [-1, 1] inputs EfficientNet-Lite's weights expect, channels-last (faster here)."""
    return ((images.float() / 255.0 - 0.5) / 0.5).contiguous(memory_format=torch.channels_last)


def crops(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random-resized crops (area 0.35-1, as `improve`'s fine-tune) at SIDE px, half of them mirrored."""
    out = random_resized_crop(images.float(), 0.35, generator, side=SIDE)
    flip = torch.rand(len(out), generator=generator) < 0.5
    out[flip] = out[flip].flip(-1)
    return out


def resized(images: torch.Tensor) -> torch.Tensor:
    return F.interpolate(images.float(), size=(SIDE, SIDE), mode="bilinear", antialias=True, align_corners=False)


def one_cycle(step: int, total: int) -> float:
    """Up from a tenth of the peak over the first quarter, cosine down to zero: the fine-tune's shape."""
    warm = max(int(0.25 * total), 1)
    if step < warm:
        return PEAK_LR * (0.1 + 0.9 * step / warm)
    return PEAK_LR * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(total - warm, 1)))


def split_network(frozen_blocks: int, classes: int) -> tuple[nn.Module, nn.Module, nn.Module]:
    """(whole network, frozen lower part, trained upper part) of a pretrained EfficientNet-Lite0."""
    model = build_model(ModelConfig(pretrained="efficientnet_lite0", finetune="partial"), 3, classes)
    model = model.to(memory_format=torch.channels_last)
    lower = nn.Sequential(model.conv_stem, model.bn1, *model.blocks[:frozen_blocks]).eval()
    lower.requires_grad_(False)
    upper = nn.Sequential(*model.blocks[frozen_blocks:], model.conv_head, model.bn2, model.global_pool,
                          model.classifier)  # fmt: skip
    return model, lower, upper


def validate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(images), 16):
            correct += int((model(normalise(images[start : start + 16])).argmax(1) == labels[start : start + 16]).sum())
    return correct / len(images)


def run_arm(name: str, epochs: int, frozen: int, views: int, data: dict[str, torch.Tensor], classes: int) -> None:
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    model, lower, upper = split_network(frozen, classes)
    images, labels = data["train_x"], data["train_y"]
    count = len(images)
    optimizer = torch.optim.AdamW(upper.parameters(), lr=PEAK_LR, weight_decay=0.05)
    steps_per_epoch = count // BATCH
    total = steps_per_epoch * epochs
    started = time.perf_counter()
    cache: list[torch.Tensor] = []
    if views:
        with torch.no_grad():
            for view in range(views):
                parts = []
                for start in range(0, count, BATCH):
                    batch = images[start : start + BATCH]
                    shown = resized(batch) if view < 2 else crops(batch, generator)
                    shown = shown.flip(-1) if view == 1 else shown
                    # stored in bf16: half the memory (9,000 images x 4 views at 12x12x112: 1.2 GB)
                    parts.append(lower(normalise(shown)).to(torch.bfloat16))
                cache.append(torch.cat(parts))
    cache_seconds = time.perf_counter() - started
    train_seconds = 0.0
    step = 0
    for _ in range(epochs):
        epoch_start = time.perf_counter()
        upper.train()
        order = torch.randperm(count, generator=generator)
        view_of = torch.randint(0, max(views, 1), (count,), generator=generator)
        for index in range(steps_per_epoch):
            rows = order[index * BATCH : (index + 1) * BATCH]
            for group in optimizer.param_groups:
                group["lr"] = one_cycle(step, total)
            if views:
                hidden = torch.stack([cache[int(view_of[row])][row] for row in rows]).float()
                hidden = hidden.contiguous(memory_format=torch.channels_last)
            else:
                with torch.no_grad():
                    hidden = lower(normalise(crops(images[rows], generator)))
            loss = F.cross_entropy(upper(hidden), labels[rows], label_smoothing=0.1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
        train_seconds += time.perf_counter() - epoch_start
    accuracy = validate(model, data["val_x"], data["val_y"])
    per_image = train_seconds / (epochs * steps_per_epoch * BATCH) * 1000
    print(f"{name:<22} {epochs:>6} {cache_seconds:>9.0f} {per_image:>13.1f} "
          f"{cache_seconds + train_seconds:>10.0f} {accuracy:>8.2%}", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-images", type=int, default=2000)
    parser.add_argument("--epochs", default="6,7", help="epochs of the plain arm, then of the cached arm")
    parser.add_argument("--views", type=int, default=4)
    parser.add_argument("--frozen-blocks", type=int, default=5)
    args = parser.parse_args()
    plain_epochs, cached_epochs = (int(part) for part in args.epochs.split(","))
    data = load_data(str(cifar10_subset(1000)), DataConfig(size=TEST_SIZE, resize="stretch"))
    chosen = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(0))[: args.train_images]
    tensors = {"train_x": data.train.images[chosen], "train_y": data.train.labels[chosen],
               "val_x": data.val.images, "val_y": data.val.labels}  # fmt: skip
    print(f"EfficientNet-Lite0 on CIFAR-10 ({args.train_images} training images at {SIDE} px, "
          f"{len(data.val)} validation images at {TEST_SIZE} px), {torch.get_num_threads()} threads")  # fmt: skip
    print(f"{'arm':<22} {'epochs':>6} {'cache (s)':>9} {'step ms/img':>13} {'total (s)':>10} {'val':>8}")
    run_arm("plain partial (3 fr.)", plain_epochs, 3, 0, tensors, len(data.classes))
    run_arm(f"cached {args.frozen_blocks} fr. x{args.views}", cached_epochs, args.frozen_blocks, args.views, tensors,
            len(data.classes))  # fmt: skip


if __name__ == "__main__":
    main()
