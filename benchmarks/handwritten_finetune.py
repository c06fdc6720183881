"""The hand-written fine-tune a skilled user writes (issue 16), run on liftlab's own split of the same data, so
that it and `liftlab improve` are compared on the same test images.

The script is what a tutorial does, on purpose without liftlab's data path: PIL decoding in DataLoader
workers, torchvision's RandomResizedCrop + flip, EfficientNet-Lite0 (the same offline weights), AdamW with a
one-cycle schedule, label smoothing, bf16 autocast. Only the file lists come from liftlab (its split), and,
with --improve, the test accuracy of an `improve` run folder on those same images.

    python -m benchmarks.handwritten_finetune [--data ../shared/datasets/trashnet] [--epochs 8]
        [--improve runs/tn-improve30]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from benchmarks.common import SHARED
from liftlab.config import DataConfig
from liftlab.data import load_data
from liftlab.data.cache import cache_root
from liftlab.data.sources import open_source
from liftlab.models.pretrained import IMAGENET_MEAN, IMAGENET_STD, build_pretrained

SIZE = 224


class Photos(Dataset[tuple[torch.Tensor, int]]):
    def __init__(self, root: Path, names: list[str], labels: list[int], transform: v2.Transform) -> None:
        self.paths = [root / name for name in names]
        self.labels = labels
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        with Image.open(self.paths[index]) as image:
            return self.transform(image.convert("RGB")), self.labels[index]


def accuracy(model: torch.nn.Module, loader: DataLoader[tuple[torch.Tensor, int]]) -> tuple[float, list[int]]:
    model.eval()
    correct: list[int] = []
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        for images, labels in loader:
            correct += (model(images).argmax(1) == labels).int().tolist()
    model.train()
    return sum(correct) / len(correct), correct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(SHARED / "trashnet"))
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--improve", type=Path, help="an `improve --out` folder on the same data, to compare")
    args = parser.parse_args()

    config = DataConfig(size=32)  # the split does not depend on the size; decode small, only names are used
    data = load_data(args.data, config)
    if data.test is None:
        raise SystemExit(f"{args.data}: no test split to compare on")
    root = open_source(args.data, cache_root()).root
    if root is None:
        raise SystemExit(f"{args.data}: expected a folder of image files")
    normalise = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    train_tf = v2.Compose([v2.RandomResizedCrop(SIZE, scale=(0.35, 1.0)), v2.RandomHorizontalFlip(), *normalise])
    eval_tf = v2.Compose([v2.Resize((SIZE, SIZE)), *normalise])

    def loader(split: str, transform: v2.Transform, shuffle: bool) -> DataLoader[tuple[torch.Tensor, int]]:
        part = getattr(data, split)
        photos = Photos(root, part.names, part.labels.tolist(), transform)
        return DataLoader(photos, batch_size=32, shuffle=shuffle, num_workers=2, persistent_workers=True)

    train, val, test = loader("train", train_tf, True), loader("val", eval_tf, False), loader("test", eval_tf, False)
    torch.manual_seed(0)
    model = build_pretrained("efficientnet_lite0", "efficientnet_lite0", len(data.classes))
    model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-3, total_steps=args.epochs * len(train))
    started = time.perf_counter()
    for epoch in range(args.epochs):
        epoch_start = time.perf_counter()
        for images, labels in train:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = F.cross_entropy(model(images.contiguous(memory_format=torch.channels_last)).float(), labels,
                                       label_smoothing=0.1)  # fmt: skip
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        val_acc, _ = accuracy(model, val)
        print(f"epoch {epoch + 1}: {time.perf_counter() - epoch_start:.0f} s, val {val_acc:.4f}", flush=True)
    test_acc, correct = accuracy(model, test)
    seconds = time.perf_counter() - started
    n = len(correct)
    se = math.sqrt(test_acc * (1 - test_acc) / n)
    print(f"hand-written fine-tune, EfficientNet-Lite0 {SIZE} px, {args.epochs} epochs, liftlab's split "
          f"({len(data.train)} train / {len(data.val)} val / {n} test): test {test_acc:.2%} "
          f"(+-{1.96 * se:.2%}), {seconds:.0f} s")  # fmt: skip
    if args.improve:
        result = json.loads((args.improve / "improve.json").read_text())
        best = result["best"]
        print(f"liftlab improve ({args.improve}, budget {result['budget_s']:.0f} s, used {result['used_s']:.0f} s): "
              f"test {best['test_acc']:.2%} ({best['name']}) on the same {n} test images; "
              f"difference {best['test_acc'] - test_acc:+.2%}")  # fmt: skip


if __name__ == "__main__":
    main()
