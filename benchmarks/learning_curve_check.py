"""Does the learning curve predict what more data gives? Fit on up to half of a CIFAR-10 training
subset, predict the validation accuracy with the whole subset, then measure it.

    python -m benchmarks.learning_curve_check [--images 8000] [--epochs 8] [--seeds 2]
"""

from __future__ import annotations

import argparse
import statistics

from benchmarks.common import cifar10_folder
from liftlab.config import Recipe, apply_overrides
from liftlab.data import load_data
from liftlab.diagnose.learning_curve import LearningCurve, measure_learning_curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8000)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    recipe = apply_overrides(Recipe(), [f"epochs={args.epochs}", "model.width=32"])
    data = load_data(str(cifar10_folder()), recipe.data)
    fraction = args.images / len(data.train)
    whole = measure_learning_curve(
        recipe, data, seeds=args.seeds, fractions=(fraction / 8, fraction / 4, fraction / 2, fraction)
    )
    half = LearningCurve.from_points(whole.sizes[:3], whole.val_acc[:3])
    predicted, (low, high) = half.predict(whole.sizes[3])
    measured = statistics.mean(whole.val_acc[3])
    for size, accuracies in zip(whole.sizes, whole.val_acc, strict=True):
        print(f"{size:6d} images: validation accuracy {', '.join(f'{a:.4f}' for a in accuracies)}")
    print(f"fit on {whole.sizes[:3]}: predicted {predicted:.4f} (95% interval {low:.4f} to {high:.4f}) "
          f"for {whole.sizes[3]} images; measured {measured:.4f}")  # fmt: skip
    inside = low <= measured <= high
    print(f"error {100 * (predicted - measured):+.2f} points; inside the interval: {inside}")


if __name__ == "__main__":
    main()
