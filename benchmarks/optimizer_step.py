"""Training steps with PyTorch's default optimizer implementation against its fused one (`fused=True`), on the
CPU, in one process and interleaved rounds (these machines are noisy): EfficientNet-Lite0's partial fine-tune
with AdamW (what `improve` trains on photos and thumbnails) and the default from-scratch convnet with SGD.

On a CPU PyTorch's default is the per-tensor loop (`foreach` and `fused` default to CUDA only): an AdamW step
over Lite0's 102 trainable tensors launches about ten small kernels per tensor. The fused kernel updates each
tensor in one pass.

    python -m benchmarks.optimizer_step [--rounds 3] [--steps 12]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def lite0_partial(size: int) -> tuple[nn.Module, torch.Tensor, str]:
    from liftlab.config import Recipe, apply_overrides
    from liftlab.models import build_model
    from liftlab.train.freezing import FineTuning

    recipe = apply_overrides(Recipe(), ["model.pretrained=efficientnet_lite0", "model.head=mlp"])
    model = build_model(recipe.model, 3, 10).to(memory_format=torch.channels_last)
    FineTuning(model, "partial", True, 1).begin_epoch(0)
    return model, torch.randn(32, 3, size, size).contiguous(memory_format=torch.channels_last), "adamw"


def scratch_convnet() -> tuple[nn.Module, torch.Tensor, str]:
    from liftlab.config import Recipe
    from liftlab.models import build_model

    model = build_model(Recipe().model, 3, 10).to(memory_format=torch.channels_last).train()
    return model, torch.randn(128, 3, 32, 32).contiguous(memory_format=torch.channels_last), "sgd"


def step_timer(model: nn.Module, inputs: torch.Tensor, optimizer_name: str, fused: bool) -> Callable[[int], float]:
    """A function timing `steps` training steps of `model` (median seconds a step), with its own optimizer."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer: torch.optim.Optimizer
    if optimizer_name == "adamw":
        optimizer = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.05, fused=fused or None)
    else:
        optimizer = torch.optim.SGD(params, lr=1e-3, momentum=0.9, nesterov=True, weight_decay=5e-4,
                                    fused=fused or None)  # fmt: skip
    labels = torch.randint(0, 10, (inputs.shape[0],), generator=torch.Generator().manual_seed(0))

    def run(steps: int) -> float:
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            loss = F.cross_entropy(model(inputs), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    run(2)  # warm-up: allocations and the optimizer's state
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--size", type=int, default=192, help="Lite0's training side")
    args = parser.parse_args()
    from liftlab.train.allocator import keep_freed_memory

    keep_freed_memory()  # as the CLI does
    torch.manual_seed(0)
    cases = {f"Lite0 partial {args.size} px, AdamW, batch 32": lite0_partial(args.size),
             "convnet from scratch 32 px, SGD, batch 128": scratch_convnet()}  # fmt: skip
    for name, (model, inputs, optimizer_name) in cases.items():
        timers = {fused: step_timer(model, inputs, optimizer_name, fused) for fused in (False, True)}
        medians: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.rounds):
            for fused, timer in timers.items():
                medians[fused].append(timer(args.steps))
        loop, fused_step = statistics.median(medians[False]), statistics.median(medians[True])
        print(f"{name}: step {1000 * loop:.0f} ms per-tensor loop, {1000 * fused_step:.0f} ms fused; "
              f"fused/loop {fused_step / loop:.3f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
