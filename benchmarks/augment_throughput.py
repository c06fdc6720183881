"""Batched augmentation against per-sample torchvision transforms, op by op, in one process run.

The same ops on the same 32x32 RGB images (uint8 in, float out): liftlab applies each to a whole
batch with per-image randomness; the usual way calls a torchvision.transforms.v2 transform once per
image (what a Dataset's __getitem__ does). Prints images/s for both and the ratio, per op.

    python -m benchmarks.augment_throughput [--images 4096] [--batch-size 256]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from torchvision.transforms import v2

from liftlab.augment import augment_batch
from liftlab.config import AugmentConfig

CASES: dict[str, tuple[AugmentConfig, v2.Transform]] = {
    "flip": (AugmentConfig(flip=True), v2.RandomHorizontalFlip()),
    "crop (pad 4)": (AugmentConfig(crop_padding=4), v2.RandomCrop(32, padding=4)),
    "rotate 15": (AugmentConfig(rotate=15), v2.RandomRotation(15)),
    "color-jitter 0.4": (AugmentConfig(color_jitter=0.4), v2.ColorJitter(0.4, 0.4, 0.4)),
    "cutout 0.25": (AugmentConfig(cutout=0.25), v2.RandomErasing(p=1.0, scale=(0.0625, 0.0625), ratio=(1, 1))),
    "trivialaugment": (AugmentConfig(trivialaugment=True), v2.TrivialAugmentWide()),
    "randaugment 2": (AugmentConfig(randaugment=2), v2.RandAugment(num_ops=2)),
    "flip+crop+rotate+jitter": (
        AugmentConfig(flip=True, crop_padding=4, rotate=15, color_jitter=0.4),
        v2.Compose(
            [
                v2.RandomHorizontalFlip(),
                v2.RandomCrop(32, padding=4),
                v2.RandomRotation(15),
                v2.ColorJitter(0.4, 0.4, 0.4),
            ]
        ),
    ),
}


def _rate(run: Callable[[], None], images: int) -> float:
    run()  # warm-up
    start = time.perf_counter()
    run()
    return images / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4096)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    generator = torch.Generator().manual_seed(0)
    data = torch.randint(0, 256, (args.images, 3, 32, 32), dtype=torch.uint8, generator=generator)
    to_float = v2.ToDtype(torch.float32, scale=True)
    print(f"{'op':26s} {'batched img/s':>14s} {'per-sample img/s':>17s} {'speed-up':>9s}")
    for name, (config, transform) in CASES.items():

        def batched(config: AugmentConfig = config) -> None:
            for start in range(0, args.images, args.batch_size):
                augment_batch(data[start : start + args.batch_size], config, generator)

        def per_sample(transform: v2.Transform = transform) -> None:
            for image in data:
                to_float(transform(image))

        fast, slow = _rate(batched, args.images), _rate(per_sample, args.images)
        print(f"{name:26s} {fast:14.0f} {slow:17.0f} {fast / slow:8.1f}x")


if __name__ == "__main__":
    main()
