"""Training steps with glibc's default malloc thresholds against `keep_freed_memory` (train/allocator.py).

Each variant runs in a fresh process (the thresholds cannot be undone), the same EfficientNet-Lite0 steps on
one fixed batch; it prints the median step, the page faults and the ratio.

    python -m benchmarks.allocator [--size 128] [--steps 25] [--finetune full]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def measure(size: int, steps: int, finetune: str, keep: bool) -> dict[str, float]:
    """Median seconds of a training step and the minor page faults of `steps` steps, in this process."""
    if keep:
        from liftlab.train.allocator import keep_freed_memory

        keep_freed_memory()
    import torch
    import torch.nn.functional as F

    from liftlab.config import Recipe, apply_overrides
    from liftlab.models import build_model
    from liftlab.train.freezing import FineTuning

    torch.manual_seed(0)
    recipe = apply_overrides(Recipe(), ["model.pretrained=efficientnet_lite0", "model.head=mlp"])
    model = build_model(recipe.model, 3, 10).to(memory_format=torch.channels_last)
    FineTuning(model, finetune, True, 1).begin_epoch(0)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    inputs = torch.randn(32, 3, size, size).contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, 10, (32,))
    times = []
    before = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(steps):
        start = time.perf_counter()
        loss = F.cross_entropy(model(inputs), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    after = resource.getrusage(resource.RUSAGE_SELF)
    later = sorted(times[3:])  # the first steps allocate the heap either way
    return {"step_s": later[len(later) // 2], "faults": after.ru_minflt - before.ru_minflt,
            "system_s": after.ru_stime - before.ru_stime}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--finetune", default="full", choices=["full", "partial"])
    parser.add_argument("--child", choices=["default", "keep"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.size, args.steps, args.finetune, args.child == "keep")))
        return
    results = {}
    for variant in ("default", "keep"):
        command = [sys.executable, "-m", "benchmarks.allocator", "--size", str(args.size), "--steps",
                   str(args.steps), "--finetune", args.finetune, "--child", variant]  # fmt: skip
        results[variant] = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        row = results[variant]
        print(f"{variant:>8}: step {1000 * row['step_s']:.0f} ms, {row['faults']:.0f} page faults, "
              f"{row['system_s']:.1f} s in the kernel")  # fmt: skip
    print(f"step time keep/default: {results['keep']['step_s'] / results['default']['step_s']:.2f}")


if __name__ == "__main__":
    main()
