"""A learning-rate range test that can be trusted: several suggestion rules on a smoothed curve,
combined, then confirmed by short training runs against the recipe's own rate.

LR finders as commonly used read one rule off one noisy curve and often suggest rates that train
worse than the default; here a suggestion only replaces the recipe's rate when a confirmation run
says it trains better, so the confirmed rate is never worse than the default by more than noise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from liftlab.config import Recipe, with_values
from liftlab.data.cache import cache_root
from liftlab.data.loading import ImageData
from liftlab.records import Finding
from liftlab.train.fitted import data_fitted_model, resolve_device
from liftlab.train.inference import Preprocess
from liftlab.train.loop import fit
from liftlab.train.lr_finder import RangeTest, lr_range_test
from liftlab.train.precision import DTYPES, choose_precision

TOO_FAR = 4.0  # the recipe's rate is off when 4x away from a confirmed better rate
# The sweep, relative to the recipe's rate: up to 10,000x, so a rate 500x too low (lab: lr-far-too-low, 1e-4
# where 0.05 trains) has the right one inside it; the sweep stops where the loss explodes, so a high top
# costs no steps (at 100x the suggestion stayed 30x too low and was not confirmed).
SPAN = (1e-4, 1e4)


def suggestion_rules(test: RangeTest) -> dict[str, float]:
    """Three classic reading rules of a range-test curve (smoothed loss against log learning rate)."""
    lrs, losses = np.asarray(test.lrs), np.asarray(test.losses)
    if len(lrs) < 5:
        return {"min_over_10": float(test.suggestion)}
    minimum = int(np.argmin(losses))
    rules = {"min_over_10": float(lrs[minimum] / 10)}
    slopes = np.gradient(losses[: minimum + 1], np.log(lrs[: minimum + 1])) if minimum >= 2 else np.array([0.0])
    rules["steepest"] = float(lrs[int(np.argmin(slopes))])
    # valley (fastai): the longest stretch where the loss keeps falling; 2/3 of the way along it
    best_start, best_length, start = 0, 0, 0
    for i in range(1, minimum + 1):
        if losses[i] >= losses[i - 1]:
            start = i
        elif i - start > best_length:
            best_start, best_length = start, i - start
    rules["valley"] = float(lrs[best_start + (2 * best_length) // 3]) if best_length else rules["min_over_10"]
    return rules


@dataclass(frozen=True)
class ShortRun:
    """A confirmation run's last validation accuracy and training loss (0 and inf where it failed)."""

    val_acc: float
    train_loss: float

    def better_than(self, reference: ShortRun, noise: float) -> bool:
        """Clearly more accurate than `reference`, or as accurate within `noise` and fitting clearly better.

        >>> reference = ShortRun(0.8, 1.0)
        >>> ShortRun(0.9, 1.0).better_than(reference, 0.05), ShortRun(0.8, 0.5).better_than(reference, 0.05)
        (True, True)
        """
        if self.val_acc > reference.val_acc + noise:
            return True
        close = abs(self.val_acc - reference.val_acc) <= noise
        return close and self.train_loss < 0.8 * reference.train_loss


@dataclass(frozen=True)
class LrCheck:
    recipe_lr: float
    rules: dict[str, float]
    suggestion: float
    confirmed_lr: float
    confirmation: dict[str, ShortRun] = field(default_factory=dict)  # "recipe" and "suggestion"
    curve: dict[str, list[float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _short_run(recipe: Recipe, data: ImageData, lr: float, epochs: int) -> ShortRun:
    result = fit(with_values(recipe, {"optim.lr": lr, "optim.lr_find": False, "epochs": epochs}), data)
    if result.stopped_reason or not result.history:
        return ShortRun(0.0, math.inf)
    last = result.history[-1]
    return ShortRun(float(last.val_acc or 0.0), float(last.train_loss))


def check_learning_rate(recipe: Recipe, data: ImageData, confirm_epochs: int = 2) -> LrCheck:
    """Range test, combined suggestion (geometric mean of the rules), and a confirmation run."""
    device = resolve_device(recipe.device)
    torch.manual_seed(recipe.seed)
    transform = Preprocess.fit(data.train.images, recipe).on(device)
    images = data.train.images.to(device)
    model = data_fitted_model(recipe, data.channels, len(data.classes), images, transform)
    model = model.to(memory_format=torch.channels_last)
    batch_shape = (min(recipe.optim.batch_size, len(data.train)), data.channels, recipe.data.size, recipe.data.size)
    dtype = DTYPES[choose_precision(recipe.precision, model, batch_shape, len(data.classes), device, cache_root())]
    test = lr_range_test(model, images, data.train.labels.to(device), transform,
                         recipe, dtype, seed=recipe.seed, steps=80, span=SPAN)  # fmt: skip
    rules = suggestion_rules(test)
    suggestion = float(math.exp(np.mean(np.log(list(rules.values())))))
    epochs = max(1, min(confirm_epochs, recipe.epochs))
    noise = 2.0 / math.sqrt(max(len(data.val), 1))  # ~2 standard errors of a validation accuracy
    confirmation = {
        "recipe": _short_run(recipe, data, recipe.optim.lr, epochs),
        "suggestion": _short_run(recipe, data, suggestion, epochs),
    }
    confirmed = suggestion if confirmation["suggestion"].better_than(confirmation["recipe"], noise) else recipe.optim.lr
    curve = {"lrs": test.lrs, "losses": test.losses}
    return LrCheck(recipe.optim.lr, rules, suggestion, confirmed, confirmation, curve)


def lr_findings(check: LrCheck) -> list[Finding]:
    """LR_TOO_HIGH or LR_TOO_LOW when a rate far from the recipe's trained better in confirmation."""
    if check.confirmed_lr == check.recipe_lr:
        return []
    ratio = check.recipe_lr / check.confirmed_lr
    evidence = {"recipe_lr": check.recipe_lr, "confirmed_lr": check.confirmed_lr, "rules": check.rules,
                "confirmation": {name: asdict(run) for name, run in check.confirmation.items()},
                "plot": "lr range test"}  # fmt: skip
    if ratio >= TOO_FAR:
        return [Finding("LR_TOO_HIGH", "warning",
                        f"learning rate {check.recipe_lr:.3g} is {ratio:.0f}x the confirmed {check.confirmed_lr:.3g}, "
                        "which trained better in a short run", evidence)]  # fmt: skip
    if ratio <= 1 / TOO_FAR:
        return [Finding("LR_TOO_LOW", "warning",
                        f"learning rate {check.recipe_lr:.3g} is {1 / ratio:.0f}x below the confirmed "
                        f"{check.confirmed_lr:.3g}, which trained better in a short run", evidence)]  # fmt: skip
    return []
