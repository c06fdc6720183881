"""A fake clock and a fake trainer for `improve`'s phases: nothing trains, and time passes only when the fake
trainer says its runs took it. An arm's validation accuracy is a function of its recipe that the test gives,
and each run predicts per image, so the paired comparisons the phases make are real ones on fake predictions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from liftlab.config import Recipe
from liftlab.experiments.capacity import Capacity
from liftlab.experiments.improve import crossval
from liftlab.experiments.improve.budget import Clock
from liftlab.experiments.improve.context import ImproveContext, ImproveSettings, PlanLog, StepLog
from liftlab.experiments.improve.step_timing import StepTiming, Timings
from liftlab.experiments.improve.trainer import IMPROVE_KEY, Limits, TrainedBatch
from liftlab.experiments.store import run_key
from liftlab.records import Epoch, RunRecord

N_VAL = 400


class FakeClock:
    """Seconds that pass only when `advance` is called."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeTrainer:
    """Trains nothing: a run of recipe R scores `accuracy(R)` on N_VAL validation images (its per-image
    predictions drawn from its seed, so two arms share most of their right answers as real models do) and
    takes `seconds(R)` of the fake clock; a batch takes the longest of its runs plus the rest spread over
    `workers`. A run whose seconds pass the batch's limit is cut after the epochs that fit."""

    def __init__(
        self,
        clock: FakeClock,
        accuracy: Callable[[Recipe], float],
        seconds: Callable[[Recipe], float] = lambda recipe: 10.0 * recipe.epochs,
        workers: int = 1,
        folder: Path = Path("/nonexistent"),
        fold_accuracy: Callable[[Recipe], float] | None = None,
        fold_seconds: float = 1.0,
    ) -> None:
        self.clock, self.accuracy, self.seconds, self.workers = clock, accuracy, seconds, workers
        self.fold_accuracy, self.fold_seconds = fold_accuracy or accuracy, fold_seconds
        self.folds_scored: list[tuple[str, int]] = []
        self.stored: dict[str, RunRecord] = {}
        self.batches: list[list[tuple[str, Recipe, Limits]]] = []
        self._folder = folder

    def record_of(self, recipe: Recipe) -> RunRecord | None:
        return self.stored.get(run_key("fake", recipe, IMPROVE_KEY))

    def records(self) -> Mapping[str, RunRecord]:
        return self.stored

    def folder(self, key: str) -> Path:
        return self._folder / key

    def folds(self, recipe: Recipe) -> int:
        return crossval.FOLDS

    def fold_score(self, recipe: Recipe, fold: int) -> float:
        """`fold_accuracy(recipe)` give or take half a point from fold to fold; each fold takes `fold_seconds`."""
        self.folds_scored.append((recipe.model_dump_json(), fold))
        self.clock.advance(self.fold_seconds)
        return self.fold_accuracy(recipe) + 0.005 * ((fold % 3) - 1)

    def trained_labels(self) -> list[list[str]]:
        return [[label for label, _, _ in batch] for batch in self.batches]

    def train(self, runs: Sequence[tuple[str, Recipe]], limits: Limits) -> TrainedBatch:
        self.batches.append([(label, recipe, limits) for label, recipe in runs])
        records, trained, reused, spent = {}, 0, 0, []
        for label, recipe in runs:
            key = run_key("fake", recipe, IMPROVE_KEY)
            if key in self.stored and not (limits.complete and self.stored[key].stopped_by_time):
                records[label], reused = self.stored[key], reused + 1
                continue
            record = self._run(key, recipe, limits)
            self.stored[key] = records[label] = record
            trained += 1
            spent.append(record.seconds)
        if spent:
            self.clock.advance(max(max(spent), sum(spent) / self.workers))
        return TrainedBatch(records, trained, reused)

    def _run(self, key: str, recipe: Recipe, limits: Limits) -> RunRecord:
        per_epoch = self.seconds(recipe) / recipe.epochs
        cap = (
            limits.seconds
            if limits.per_epoch_cap is None
            else min(limits.seconds, limits.per_epoch_cap * recipe.epochs)
        )
        epochs = recipe.epochs if per_epoch * recipe.epochs <= cap else max(1, int(cap // per_epoch))
        cut = epochs < recipe.epochs
        rng = np.random.default_rng(recipe.seed)
        labels = np.arange(N_VAL) % 4
        # one draw per seed shared by every arm: an arm of accuracy a is right where the draw is below a
        right = rng.random(N_VAL) < self.accuracy(recipe)
        predictions = np.where(right, labels, (labels + 1) % 4)
        history = tuple(
            Epoch(e, 1.0 / e, None, 1.0 / e, float(right.mean()), 0.1, per_epoch) for e in range(1, epochs + 1)
        )
        val_acc = float(right.mean())
        scored = (tuple(labels.tolist()), tuple(predictions.tolist())) if limits.complete else ((), ())
        return RunRecord(
            key, recipe.seed, tuple(recipe.strategies), val_acc, val_acc if limits.complete else None, history,
            per_epoch * epochs, (per_epoch,) * epochs, tuple(labels.tolist()), tuple(predictions.tolist()), *scored,
            stopped_by_time=epochs if cut else None,
        )  # fmt: skip


def fake_timings(step_seconds: float = 0.1, image_seconds: float = 0.001) -> Timings:
    """Timings that measure nothing: every step and evaluation takes the seconds given."""
    return Timings(lambda recipe, classes: StepTiming(step_seconds, "float32"),
                   lambda recipe, classes, size, dtype: image_seconds)  # fmt: skip


def fake_context(
    tmp_path: Path,
    base: Recipe,
    trainer: FakeTrainer,
    clock: FakeClock,
    settings: ImproveSettings | None = None,
    workers: int = 1,
    timings: Timings | None = None,
) -> ImproveContext:
    settings = settings or ImproveSettings(budget_s=600)
    budget_clock = Clock(settings.budget_s, timer=clock)
    capacity = Capacity(workers, 1.0 if workers == 1 else workers / 1.5, "requested")
    tmp_path.mkdir(parents=True, exist_ok=True)
    plan = PlanLog(tmp_path / "plan.json")
    plan.adopt(base, tmp_path)
    return ImproveContext("fake", base, settings, tmp_path, budget_clock, trainer, plan, StepLog(budget_clock),
                          capacity, timings or fake_timings())  # fmt: skip
