"""How the phases of `improve` get runs trained: through the `Trainer` protocol, so that each phase can be
tested with a fake trainer and a fake clock. `StoreTrainer` is the real one: the run store by content, the
worker pool, a run folder per run.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from liftlab.config import Recipe
from liftlab.data.loading import ImageData, load_data
from liftlab.experiments.improve.crossval import pooled_folds
from liftlab.experiments.runner import Job
from liftlab.experiments.session import Session
from liftlab.experiments.store import run_key
from liftlab.records import RunRecord
from liftlab.train.loop import fit

IMPROVE_KEY = {"improve": 1}
"""What sets improve's runs apart from `ablate`'s and `train`'s in the run store's content keys."""


@dataclass(frozen=True)
class Limits:
    """How long the runs of one batch may train.

    A run stops after the epoch in which `seconds` passed (an absolute deadline from the batch's start: a run
    that waits for a free worker gets no more), or `per_epoch_cap` times its epochs; with `anneal_within`, its
    schedule ends by then from the batch's start, annealed, however far its epochs got. `complete` marks the
    final runs: a stored run such a limit cut short is trained again, to the end, and every record is scored
    on the test split (the search's runs are not: the test split chooses nothing)."""

    seconds: float
    per_epoch_cap: float | None = None
    anneal_within: float | None = None
    complete: bool = False


@dataclass(frozen=True)
class TrainedBatch:
    """Records of one batch by the label the phase gave each run, and how many were trained and reused."""

    records: Mapping[str, RunRecord]
    trained: int
    reused: int


class Trainer(Protocol):
    def train(self, runs: Sequence[tuple[str, Recipe]], limits: Limits) -> TrainedBatch:
        """Records of the (label, recipe) runs: from the store when done before, else trained."""
        ...

    def record_of(self, recipe: Recipe) -> RunRecord | None:
        """The stored run of exactly `recipe`, or None."""
        ...

    def records(self) -> Mapping[str, RunRecord]:
        """Every run stored, by key."""
        ...

    def folder(self, key: str) -> Path:
        """The run folder of run `key` (weights, metrics.json, splits.json)."""
        ...

    def folds(self, recipe: Recipe) -> int:
        """How many cross-validation folds the training and validation images of `recipe`'s data make."""
        ...

    def fold_score(self, recipe: Recipe, fold: int) -> float:
        """Validation accuracy of `recipe` trained on fold `fold`'s training part (`crossval.pooled_folds`: the
        training and validation images pooled and re-split; the test split stays out)."""
        ...


class StoreTrainer:
    """The real trainer: runs by content through the experiment session; every run writes its run folder
    (weights included) to OUT/runs/KEY, so the winner is exported by copying, not by training it again."""

    def __init__(self, spec: str, out: Path, session: Session, skip_bad: bool = False) -> None:
        self.spec = spec
        self.out = out
        self.session = session
        self.skip_bad = skip_bad
        self._folds: dict[str, list[ImageData]] = {}  # by data config: arms that see the same images share folds
        self._fold_scores: dict[tuple[str, int], float] = {}

    def _pooled_folds(self, recipe: Recipe) -> list[ImageData]:
        key = recipe.data.model_dump_json()
        if key not in self._folds:
            self._folds[key] = pooled_folds(load_data(self.spec, recipe.data, skip_bad=self.skip_bad))
        return self._folds[key]

    def folds(self, recipe: Recipe) -> int:
        return len(self._pooled_folds(recipe))

    def fold_score(self, recipe: Recipe, fold: int) -> float:
        key = (recipe.model_dump_json(), fold)
        if key not in self._fold_scores:  # a fold's head trains in this process: seconds on cached features
            self._fold_scores[key] = float(fit(recipe, self._pooled_folds(recipe)[fold]).val_acc or 0.0)
        return self._fold_scores[key]

    def records(self) -> Mapping[str, RunRecord]:
        return self.session.records

    def folder(self, key: str) -> Path:
        return self.out / "runs" / key

    def record_of(self, recipe: Recipe) -> RunRecord | None:
        return self.session.records.get(run_key(self.spec, recipe, IMPROVE_KEY))

    def train(self, runs: Sequence[tuple[str, Recipe]], limits: Limits) -> TrainedBatch:
        keys = {label: run_key(self.spec, recipe, IMPROVE_KEY) for label, recipe in runs}
        deadline = time.time() + max(limits.seconds, 1.0)
        anneal_by = None if limits.anneal_within is None else time.time() + limits.anneal_within
        cap = limits.per_epoch_cap
        jobs = [
            Job(key, self.spec, recipe.model_dump(mode="json"), None if cap is None else cap * recipe.epochs,
                str(self.folder(key)), deadline, str(self.out / "checkpoints" / key), score_test=limits.complete,
                anneal_by=anneal_by)
            for (label, recipe), key in zip(runs, keys.values(), strict=True)
        ]  # fmt: skip

        def reusable(stored: RunRecord) -> bool:
            done = (self.folder(stored.key) / "metrics.json").is_file()
            return done and not (limits.complete and bool(stored.stopped_by_time))

        batch = self.session.run(jobs, reusable)
        records = batch.records
        if limits.complete:
            records = {k: self.session.scored_on_test(r, self.folder(k), self.spec) for k, r in records.items()}
        return TrainedBatch({label: records[key] for label, key in keys.items()}, batch.trained, batch.reused)
