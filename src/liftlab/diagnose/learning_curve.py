"""Learning curves: validation accuracy against training-set size, fitted with a power law
error(n) = a + b * n^(-c), to say whether more data would help and how much would reach a target.

Uncertainty comes from a bootstrap over the seeds at each size and over the validation images (one
resample of the images serves every point, as they share the images): the curve is refitted on resampled
points, and every prediction is reported with the 2.5% and 97.5% quantiles of the refits.

What the curve can claim: a three-parameter curve through three points (one seed, three sizes: the quick
diagnosis) fits them exactly and its bootstrap only jitters it (moving one point by half a point turned
"61,840 images" into "not reachable"), so an interval needs at least `MIN_SEEDS` seeds and `MIN_SIZES` sizes;
with fewer there is no interval and no extrapolated finding, only the measured gain of the last doubling.
Predictions beyond `RANGE` times the largest measured size are marked out of range. Every number is the
baseline recipe's, on the validation split.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from liftlab.config import Recipe, with_values
from liftlab.data.loading import ImageData
from liftlab.records import Finding
from liftlab.records.diagnosis import ImagesForTarget, LearningCurveRecord
from liftlab.stats import noise_level
from liftlab.train.fitted import steps_in_epoch
from liftlab.train.loop import fit

FRACTIONS = (0.125, 0.25, 0.5, 1.0)
MIN_SEEDS, MIN_SIZES = 2, 4
RANGE = 4.0
"""Extrapolation further than this many times the largest measured training set is out of range."""
SCOPE = "baseline recipe, validation split"


def power_law(n: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    return a + b * np.power(n, -c)


def _fit(sizes: np.ndarray, errors: np.ndarray) -> tuple[float, float, float] | None:
    start = (max(errors.min() * 0.5, 1e-3), max(errors.max() - errors.min(), 1e-3) * sizes.min() ** 0.5, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        try:
            params, _ = curve_fit(power_law, sizes, errors, p0=start, bounds=([0.0, 0.0, 0.05], [1.0, 1e6, 2.0]),
                                  maxfev=20000)  # fmt: skip
        except (RuntimeError, ValueError):
            return None
    return float(params[0]), float(params[1]), float(params[2])


@dataclass
class LearningCurve:
    sizes: list[int]  # distinct training-set sizes
    val_acc: list[list[float]]  # per size, one accuracy per seed
    params: tuple[float, float, float] | None
    boot: list[tuple[float, float, float]]

    @property
    def reliable(self) -> bool:
        """Whether the points can carry an interval (enough seeds and sizes that the fit is not exact)."""
        return len(self.sizes) >= MIN_SIZES and min((len(v) for v in self.val_acc), default=0) >= MIN_SEEDS

    @classmethod
    def from_points(
        cls,
        sizes: list[int],
        val_acc: list[list[float]],
        resamples: int = 150,
        seed: int = 0,
        correct: list[list[np.ndarray]] | None = None,
    ) -> LearningCurve:
        """The fit and its bootstrap; `correct` (per size, per seed, per validation image) lets the bootstrap
        resample the validation images too."""
        x = np.repeat(sizes, [len(v) for v in val_acc]).astype(float)
        y = 1.0 - np.concatenate([np.asarray(v, dtype=float) for v in val_acc])
        params = _fit(x, y)
        rng = np.random.default_rng(seed)
        usable = correct is not None and all(len(c) == len(v) for c, v in zip(correct, val_acc, strict=True))
        n_val = len(correct[0][0]) if usable and correct and correct[0] else 0
        curve = cls(list(sizes), [list(v) for v in val_acc], params, [])
        if curve.reliable:
            for _ in range(resamples):
                weights = np.bincount(rng.integers(0, n_val, n_val), minlength=n_val) / n_val if n_val else None
                picks = []
                for index, values in enumerate(val_acc):
                    chosen = rng.integers(0, len(values), len(values))
                    if weights is not None and correct is not None:
                        picks.append(np.array([weights @ correct[index][k] for k in chosen]))
                    else:  # without per-image predictions a 0.3-point jitter stands in for the images' noise
                        picks.append(np.asarray(values, dtype=float)[chosen] + rng.normal(0, 0.003, len(values)))
                refit = _fit(x, 1.0 - np.concatenate(picks))
                if refit is not None:
                    curve.boot.append(refit)
        return curve

    def predict(self, n: float) -> tuple[float, tuple[float, float]]:
        """Predicted accuracy at n training images and its 95% interval (NaN without a reliable curve)."""
        if self.params is None:
            return math.nan, (math.nan, math.nan)
        point = 1.0 - float(power_law(np.array([n]), *self.params)[0])
        if not self.boot:
            return point, (math.nan, math.nan)
        draws = [1.0 - float(power_law(np.array([n]), *p)[0]) for p in self.boot]
        return point, (float(np.quantile(draws, 0.025)), float(np.quantile(draws, 0.975)))

    def images_for(self, target: float) -> tuple[float | None, tuple[float | None, float | None]]:
        """Training images needed for `target` accuracy (None: not reachable by data alone), with interval."""

        def needed(params: tuple[float, float, float]) -> float | None:
            a, b, c = params
            gap = (1.0 - target) - a
            return None if gap <= 0 or b <= 0 else (b / gap) ** (1.0 / c)

        if self.params is None:
            return None, (None, None)
        if not self.boot:
            return needed(self.params), (None, None)
        values = [needed(p) for p in self.boot]
        finite = sorted(v for v in values if v is not None)
        reachable_share = len(finite) / max(len(values), 1)
        low = float(np.quantile(finite, 0.025)) if finite else None
        high = float(np.quantile(finite, 0.975)) if finite and reachable_share >= 0.975 else None
        return needed(self.params), (low, high)

    def record(self, target: float | None) -> LearningCurveRecord:
        """The curve as diagnosis.json keeps it, with the images it predicts for `target` where one is set."""
        for_target = None
        if target is not None:
            estimate, interval = self.images_for(target)
            out_of_range = estimate is not None and estimate > RANGE * max(self.sizes)
            for_target = ImagesForTarget(target, estimate, interval, estimate is not None, out_of_range)
        no_interval = f"none: fewer than {MIN_SEEDS} seeds or {MIN_SIZES} sizes, which the curve fits (almost) exactly"
        return LearningCurveRecord(
            tuple(self.sizes), tuple(tuple(row) for row in self.val_acc), self.params, SCOPE,
            None if self.reliable else no_interval, for_target,
        )  # fmt: skip


def measure_learning_curve(
    recipe: Recipe, data: ImageData, seeds: int = 2, fractions: tuple[float, ...] = FRACTIONS
) -> LearningCurve:
    """Train on stratified shares of the training split (several seeds, the same number of steps
    each) and fit the curve."""
    sizes: list[int] = []
    accuracies: list[list[float]] = []
    correct: list[list[np.ndarray]] = []
    batch = recipe.optim.batch_size
    largest = max(len(data.classes), round(len(data.train) * max(fractions)))
    for fraction in fractions:
        keep = max(len(data.classes), round(len(data.train) * fraction))
        per_seed = []
        per_seed_correct = []
        for seed in range(recipe.seed, recipe.seed + seeds):
            subset = _subset(data, keep, seed)
            # the same number of optimizer steps at every size: a small subset trained for the same
            # epochs would see a fraction of the updates, and the curve would measure that instead
            epochs = max(1, math.ceil(recipe.epochs * steps_in_epoch(largest, batch) / steps_in_epoch(keep, batch)))
            result = fit(with_values(recipe, {"seed": seed, "epochs": epochs}), subset, validate_every_epoch=False)
            per_seed.append(float(result.val_acc or 0.0))
            truth = data.val.labels.numpy()
            predicted = np.asarray(result.val_predictions)
            per_seed_correct.append(predicted == truth if predicted.shape == truth.shape else np.zeros(0, bool))
        sizes.append(keep)
        accuracies.append(per_seed)
        correct.append(per_seed_correct)
    usable = all(c.size == len(data.val) for per_size in correct for c in per_size) and len(data.val) > 0
    return LearningCurve.from_points(sizes, accuracies, correct=correct if usable else None)


def _subset(data: ImageData, keep: int, seed: int) -> ImageData:
    from dataclasses import replace

    from liftlab.data.loading import ImageSplit
    from liftlab.data.splits import stratified_indices

    if keep >= len(data.train):
        return data
    labels = data.train.labels.tolist()
    _, chosen = stratified_indices(labels, [keep / len(labels)], seed)
    split = ImageSplit(data.train.images[chosen], data.train.labels[chosen], [data.train.names[i] for i in chosen])
    return replace(data, train=split)


DOUBLING_GAIN = 0.01  # doubling the data is predicted to add at least 1 point


def learning_curve_findings(curve: LearningCurve, target: float | None, n_val: int = 0) -> list[Finding]:
    """MORE_DATA_HELPS when more data is predicted to help: from the fitted curve's interval when it is
    reliable, else from the measured gain of the last doubling (at least DOUBLING_GAIN and 2 standard errors
    of a validation accuracy), without an extrapolated image count."""
    if curve.params is None:
        return []
    n = curve.sizes[-1]
    if not curve.reliable:
        return _measured_findings(curve, n_val)
    now, _ = curve.predict(n)
    doubled, (low, _) = curve.predict(2 * n)
    gain = doubled - now
    if gain < DOUBLING_GAIN or not low > now:
        return []
    evidence: dict[str, Any] = {"images": n, "predicted_acc_now": now, "predicted_acc_doubled": doubled,
                                "doubled_ci95_low": low, "plot": "learning curve", "scope": SCOPE}  # fmt: skip
    message = (
        f"validation accuracy is still climbing with data: doubling the {n} training images is predicted "
        f"to add {100 * gain:.1f} points ({SCOPE})"
    )
    if target is not None:
        estimate, (lo, hi) = curve.images_for(target)
        out_of_range = estimate is not None and estimate > RANGE * n
        evidence["images_for_target"] = {"target": target, "images": estimate, "ci95": [lo, hi],
                                         "out_of_range": out_of_range}  # fmt: skip
        if estimate is None:
            message += f"; {target:.0%} is not reachable by data alone"
        elif out_of_range:
            message += (
                f"; {target:.0%} would need more than {RANGE:g}x the measured data, beyond what the curve can say"
            )
        else:
            message += f"; about {estimate:,.0f} images would reach {target:.0%}"
    return [Finding("MORE_DATA_HELPS", "warning", message, evidence)]


def _measured_findings(curve: LearningCurve, n_val: int) -> list[Finding]:
    """The quick curve's claim: what the last doubling measured, when it clearly added accuracy."""
    if len(curve.sizes) < 2:
        return []
    before, after = float(np.mean(curve.val_acc[-2])), float(np.mean(curve.val_acc[-1]))
    error = noise_level(after, n_val) if n_val else math.inf
    gain = after - before
    if gain < DOUBLING_GAIN or gain < 2 * error:
        return []
    message = (
        f"validation accuracy is still climbing with data: going from {curve.sizes[-2]} to {curve.sizes[-1]} "
        f"training images added {100 * gain:.1f} points (measured; {SCOPE}; too few points for an interval "
        "or an image count)"
    )
    evidence = {"images": curve.sizes[-1], "measured_gain": gain, "standard_error": error, "plot": "learning curve",
                "scope": SCOPE}  # fmt: skip
    return [Finding("MORE_DATA_HELPS", "warning", message, evidence)]
