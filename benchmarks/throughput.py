"""One training epoch on CIFAR-10: liftlab's trainer against the pipeline people usually write.

Same ConvNet, same augmentation (pad-4 random crop + horizontal flip), same batch size, same numeric
precision and memory format, all in one process run (these machines are noisy, so only ratios
measured side by side mean anything):

1. liftlab: images decoded once into a uint8 cache, resident, augmented per batch with tensor ops;
2. usual: torchvision ImageFolder + per-sample transforms.v2 + DataLoader, with the num_workers that
   is fastest here (each candidate timed on the same number of batches);
3. compute only: the same model on ready tensors, no data work at all.

Prints images/s for each, then liftlab's epoch time over pure compute (target <= 1.15) and, last,
liftlab's speed-up over the usual pipeline (target >= 3).

    python benchmarks/throughput.py [--limit N] [--batch-size 256]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset
from torchvision import datasets
from torchvision.transforms import v2

from benchmarks.common import cifar10_folder
from liftlab.config import Recipe, apply_overrides
from liftlab.data import load_data
from liftlab.models import build_model
from liftlab.train import fit
from liftlab.train.precision import DTYPES


def _step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    dtype: torch.dtype,
) -> None:
    with torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
        loss = F.cross_entropy(model(x).float(), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def _fresh(recipe: Recipe) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = build_model(recipe.model, 3, 10).to(memory_format=torch.channels_last)
    return model, torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)


def usual_pipeline(
    folder: str, recipe: Recipe, dtype: torch.dtype, limit: int | None, workers: int, max_batches: int | None
) -> float:
    """Images/s of the ImageFolder + transforms.v2 + DataLoader loop."""
    transform = v2.Compose(
        [
            v2.ToImage(),
            v2.RandomCrop(32, padding=4),
            v2.RandomHorizontalFlip(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize([0.49, 0.48, 0.45], [0.25, 0.24, 0.26]),
        ]
    )
    dataset = datasets.ImageFolder(folder, transform=transform)
    if limit:
        dataset = Subset(
            dataset, torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0))[:limit].tolist()
        )
    loader = DataLoader(
        dataset,
        batch_size=recipe.optim.batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        persistent_workers=False,
    )
    model, optimizer = _fresh(recipe)
    images = 0
    start = time.perf_counter()
    for index, (x, y) in enumerate(loader):
        if max_batches is not None and index >= max_batches:
            break
        _step(model, optimizer, x.contiguous(memory_format=torch.channels_last), y, dtype)
        images += len(y)
    return images / (time.perf_counter() - start)


def compute_only(recipe: Recipe, dtype: torch.dtype, steps: int) -> float:
    """Images/s of the same model on ready tensors."""
    model, optimizer = _fresh(recipe)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(recipe.optim.batch_size, 3, 32, 32, generator=generator).contiguous(
        memory_format=torch.channels_last
    )
    y = torch.randint(0, 10, (recipe.optim.batch_size,), generator=generator)
    _step(model, optimizer, x, y, dtype)  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        _step(model, optimizer, x, y, dtype)
    return steps * recipe.optim.batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="train on this many images (default: all 50,000)")
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()

    folder = cifar10_folder()
    recipe = apply_overrides(Recipe(), ["epochs=1", "data.size=32", f"optim.batch_size={args.batch_size}"])
    start = time.perf_counter()
    data = load_data(str(folder), recipe.data, quiet=False)
    print(f"decode (once; cached for every later run): {time.perf_counter() - start:.1f} s")
    if args.limit:
        data.train.images, data.train.labels = (
            data.train.images[: args.limit],
            data.train.labels[: args.limit],
        )

    result = fit(recipe, data)
    dtype = DTYPES[result.dtype]
    steps = len(data.train) // args.batch_size
    print(f"precision: {result.dtype} (chosen by measurement), threads: {torch.get_num_threads()}")
    print(f"liftlab trainer:         {result.images_per_second:8.0f} images/s ({steps} steps)")

    probe = max(8, min(30, steps // 4))
    worker_speed = {}
    for workers in (0, 1, 2):
        worker_speed[workers] = usual_pipeline(str(folder / "train"), recipe, dtype, len(data.train), workers, probe)
        print(f"  usual, num_workers={workers}: {worker_speed[workers]:8.0f} images/s ({probe} batches)")
    best = max(worker_speed, key=lambda w: worker_speed[w])
    usual = usual_pipeline(str(folder / "train"), recipe, dtype, len(data.train), best, None)
    print(f"usual pipeline (num_workers={best}): {usual:8.0f} images/s")
    compute = compute_only(recipe, dtype, steps)
    print(f"compute only:            {compute:8.0f} images/s")
    print(f"liftlab epoch time / pure compute time: {compute / result.images_per_second:.2f} (target <= 1.15)")
    print(f"liftlab speed-up over the usual pipeline: {result.images_per_second / usual:.2f}x (target >= 3)")


if __name__ == "__main__":
    main()
