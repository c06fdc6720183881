"""What pruning saves: the same tuning trials with Hyperband pruning and without.

Both studies draw the same configurations (random sampler, same seed, the same space), train them on
the CIFAR-10 sample (`../shared/datasets/cifar10-small`, 16x16 to keep it short) for the same epochs,
and report the best validation accuracy each reached, and the epochs each trained. The last line is
the compute ratio (pruned epochs over unpruned epochs; target <= 0.5) and whether the pruned study's
best is within noise (2 standard errors of a validation accuracy) of the unpruned one's.

    python -m benchmarks.tune_pruning [--trials 16] [--epochs 8]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

from benchmarks.common import SHARED
from liftlab.config import Recipe, apply_overrides
from liftlab.experiments.tune import TuneSettings, create_study, finished_count, work


def run(data: str, base: Recipe, trials: int, pruner: str, folder: Path) -> tuple[float, int, float]:
    settings = TuneSettings(trials=trials, study=pruner, pruner=pruner, sampler="random", seed=0,
                            space=("lr", "weight-decay", "dropout", "label-smoothing"))  # fmt: skip
    study = create_study(data, base, settings, folder)
    start = time.perf_counter()
    work(study, None, None, quiet=True)
    seconds = time.perf_counter() - start
    epochs = sum(int(t.user_attrs.get("epochs_trained", 0)) for t in study.get_trials(deepcopy=False))
    assert finished_count(study) >= trials
    return float(study.best_value), epochs, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    data = str(SHARED / "cifar10-small")
    base = apply_overrides(Recipe(), ["data.size=16", f"epochs={args.epochs}"])
    with tempfile.TemporaryDirectory() as folder:
        unpruned = run(data, base, args.trials, "none", Path(folder) / "none")
        pruned = run(data, base, args.trials, "hyperband", Path(folder) / "hyperband")
    n_val = 450  # cifar10-small: 10% of 4,500 training images are held out for validation
    noise = 2 * math.sqrt(unpruned[0] * (1 - unpruned[0]) / n_val)
    for name, (best, epochs, seconds) in (("unpruned", unpruned), ("hyperband", pruned)):
        print(f"{name:9s}: best val acc {best:.4f}, {epochs} epochs trained, {seconds:.0f} s")
    within = pruned[0] >= unpruned[0] - noise
    print(f"pruned best - unpruned best: {pruned[0] - unpruned[0]:+.4f} (noise: {noise:.4f}); within noise: {within}")
    ratio, time_ratio = pruned[1] / unpruned[1], pruned[2] / unpruned[2]
    print(f"compute ratio (pruned/unpruned epochs): {ratio:.2f}; time ratio {time_ratio:.2f}")


if __name__ == "__main__":
    main()
