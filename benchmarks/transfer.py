"""Transfer learning on this machine, measured side by side in one process.

1. The linear probe through the feature cache (cold) against the backbone's pure forward time over the same
   images and views, at the same precision and layout (target: at most 1.3).
2. The same probe rerun with the cache warm.
3. One fine-tuning epoch at 224 px with augmentation (resized crop + flip) in liftlab's step loop against the
   pure compute of the same number of steps on one fixed batch (target: at most 1.15).

    python -m benchmarks.transfer [--data ../shared/datasets/trashnet] [--finetune-images 512]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from benchmarks.common import SHARED
from liftlab.config import DataConfig, Recipe, apply_overrides
from liftlab.data import load_data
from liftlab.models import build_model
from liftlab.train import fit
from liftlab.train.features import FEATURE_BATCH, pooled
from liftlab.train.inference import Preprocess
from liftlab.train.precision import DTYPES, LAYOUTS

PROBE = ["model.pretrained=efficientnet_lite0", "model.finetune=linear", "augment.flip=true", "optim.name=adamw",
         "optim.lr=0.001", "optim.batch_size=64", "epochs=30", "data.size=224"]  # fmt: skip
FINETUNE = ["model.pretrained=efficientnet_lite0", "model.finetune=full", "augment.flip=true",
            "augment.resized_crop=0.35", "optim.name=adamw", "optim.lr=0.001", "optim.batch_size=32", "epochs=1",
            "data.size=224"]  # fmt: skip


def pure_forward_seconds(recipe: Recipe, images: torch.Tensor, views: int, dtype: str, layout: str) -> float:
    """Seconds the frozen backbone alone takes over `images` x `views`, batch by batch, nothing cached."""
    torch.manual_seed(0)
    model = build_model(recipe.model, 3, 6).eval().to(memory_format=LAYOUTS[layout])
    transform = Preprocess.fit(images[:2], recipe).on(torch.device("cpu"))
    start = time.perf_counter()
    with torch.no_grad(), torch.autocast("cpu", dtype=DTYPES[dtype], enabled=dtype != "fp32"):
        for first in range(0, len(images), FEATURE_BATCH):
            batch = images[first : first + FEATURE_BATCH]
            for view in (batch, batch.flip(3))[:views]:
                pooled(model, transform(view.float() / 255).contiguous(memory_format=LAYOUTS[layout]))
    return time.perf_counter() - start


def pure_step_seconds(recipe: Recipe, steps: int, dtype: str, layout: str) -> float:
    """Seconds of `steps` forward + backward + AdamW steps of the fine-tuned network on one fixed batch."""
    torch.manual_seed(0)
    model = build_model(recipe.model, 3, 6).train().to(memory_format=LAYOUTS[layout])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    size, batch = recipe.data.size, recipe.optim.batch_size
    inputs = torch.randn(batch, 3, size, size).contiguous(memory_format=LAYOUTS[layout])
    labels = torch.randint(0, 6, (batch,))
    start = time.perf_counter()
    for _ in range(steps):
        with torch.autocast("cpu", dtype=DTYPES[dtype], enabled=dtype != "fp32"):
            loss = F.cross_entropy(model(inputs).float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(SHARED / "trashnet"))
    parser.add_argument("--finetune-images", type=int, default=512)
    args = parser.parse_args()
    probe = apply_overrides(Recipe(), PROBE)
    data = load_data(args.data, DataConfig(size=224), quiet=True)
    threads = torch.get_num_threads()
    print(f"{args.data}: {len(data.train)} train, {len(data.val)} val images at 224 px; {threads} threads")

    with tempfile.TemporaryDirectory() as cold:
        previous = os.environ.get("LIFTLAB_CACHE")
        os.environ["LIFTLAB_CACHE"] = cold  # empty caches (the images are already decoded)
        try:
            first_ever = fit(probe, data)  # also measures precision and layout for this backbone here, once
            shutil.rmtree(Path(cold) / "features")
            cold_run = fit(probe, data)  # features cold, the precision verdict known: a new data set
            warm_run = fit(probe, data)
        finally:
            if previous is None:
                os.environ.pop("LIFTLAB_CACHE")
            else:
                os.environ["LIFTLAB_CACHE"] = previous
    dtype, layout = cold_run.dtype, cold_run.execution["memory_format"]
    forward = pure_forward_seconds(probe, data.train.images, 2, dtype, layout)
    forward += pure_forward_seconds(probe, data.val.images, 1, dtype, layout)
    features = cold_run.extra["features"]
    print(f"linear probe, cold feature cache: {cold_run.seconds:.1f} s ({features['computed']} forward passes in "
          f"{features['seconds']:.1f} s; val acc {cold_run.val_acc:.4f}); pure forward {forward:.1f} s ({dtype}, "
          f"{layout}); ratio {cold_run.seconds / forward:.2f} (target <= 1.3)")  # fmt: skip
    print(f"  the first probe ever on this machine also measures precision and layout: {first_ever.seconds:.1f} s")
    print(f"linear probe, warm cache: {warm_run.seconds:.1f} s ({warm_run.extra['features']['reused']} rows reused)")

    tune = apply_overrides(Recipe(), FINETUNE)
    subset = data.train.images[: args.finetune_images]
    small = type(data)(data.spec, data.classes, type(data.train)(subset, data.train.labels[: len(subset)],
                       data.train.names[: len(subset)]), data.val, None)  # fmt: skip
    tuned = fit(tune, small)
    steps = len(subset) // tune.optim.batch_size
    epoch = tuned.history[0].train_seconds or 0.0
    pure = pure_step_seconds(tune, steps, tuned.dtype, tuned.execution["memory_format"])
    print(f"fine-tune epoch ({len(subset)} images, {steps} steps of {tune.optim.batch_size}, resized crop + flip): "
          f"{epoch:.1f} s; pure compute {pure:.1f} s ({tuned.dtype}, {tuned.execution['memory_format']}); "
          f"ratio {epoch / pure:.2f} (target <= 1.15)")  # fmt: skip


if __name__ == "__main__":
    main()
