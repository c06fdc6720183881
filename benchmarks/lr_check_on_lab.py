"""The learning-rate check on every `liftlab lab` scenario: is the confirmed rate ever worse than the
recipe's own, and is it better where the rate is known to be wrong?

For each scenario: the recipe's rate, the confirmed rate, and the short confirmation runs' validation
accuracy for both (the confirmed rate is the recipe's unless the suggestion trained better).

    python -m benchmarks.lr_check_on_lab
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from liftlab.config import Recipe, apply_overrides
from liftlab.data import load_data
from liftlab.diagnose.lab import SCENARIOS
from liftlab.diagnose.lr import check_learning_rate


def main() -> None:
    print(f"{'scenario':28s} {'recipe lr':>9s} {'confirmed':>9s} {'acc recipe':>10s} {'acc confirmed':>13s}")
    with tempfile.TemporaryDirectory() as tmp:
        for scenario in SCENARIOS:
            spec = scenario.data if isinstance(scenario.data, str) else str(scenario.data(Path(tmp) / scenario.name))
            recipe = apply_overrides(Recipe(), scenario.overrides)
            check = check_learning_rate(recipe, load_data(spec, recipe.data))
            runs = check.confirmation
            chosen = runs["suggestion"] if check.confirmed_lr != check.recipe_lr else runs["recipe"]
            print(f"{scenario.name:28s} {check.recipe_lr:9.3g} {check.confirmed_lr:9.3g} "
                  f"{runs['recipe'].val_acc:10.3f} {chosen.val_acc:13.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
