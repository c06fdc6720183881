"""Where a training step of the `fast` recipe spends its time on this machine (torch.profiler).

Times a few steps of the fast net at batch 1,024, 32x32, with the precision and layout liftlab's
measurement chooses, and prints the share of self CPU time by kind of operator: what holds the
time-to-accuracy back, and so what a faster kernel or a smaller net would buy.

    python -m benchmarks.profile_fast_step [--steps 3]
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from liftlab.config import preset
from liftlab.data import cache_root
from liftlab.models import build_model
from liftlab.train.precision import choose_execution

KINDS = {
    "convolution": ("convolution", "conv"),
    "activation (GELU)": ("gelu",),
    "max-pool": ("max_pool",),
    "batch norm": ("batch_norm",),
    "zero fill": ("fill_", "zero_"),
    "optimizer": ("sgd", "_foreach", "add_", "mul_", "lerp"),
}


def kind_of(name: str) -> str:
    lowered = name.lower()
    for kind, needles in KINDS.items():
        if any(needle in lowered for needle in needles):
            return kind
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    recipe = preset("fast")
    torch.manual_seed(0)
    model = build_model(recipe.model, 3, 10)
    shape = (recipe.optim.batch_size, 3, 32, 32)
    execution = choose_execution("auto", "auto", "off", model, shape, 10, torch.device("cpu"), cache_root(), 0)
    model = model.to(memory_format=execution.layout).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.85, nesterov=True)
    x = torch.randn(shape).contiguous(memory_format=execution.layout)
    y = torch.randint(0, 10, (shape[0],))

    def step() -> None:
        with torch.autocast("cpu", dtype=execution.torch_dtype, enabled=execution.dtype != "fp32"):
            loss = F.cross_entropy(model(x).float(), y, label_smoothing=0.2)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(2):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.steps):
            step()
    shares: dict[str, float] = defaultdict(float)
    for event in prof.key_averages():
        if event.key.startswith("aten::"):
            shares[kind_of(event.key)] += event.self_cpu_time_total
    total = sum(shares.values())
    threads = torch.get_num_threads()
    print(f"fast net, batch {shape[0]}, {execution.dtype}, {execution.memory_format}, {threads} threads:")
    print(f"  {total / 1e6 / args.steps:.2f} s of operator time per step")
    for kind, micros in sorted(shares.items(), key=lambda item: -item[1]):
        print(f"  {kind:18s} {micros / total:6.1%}")


if __name__ == "__main__":
    main()
