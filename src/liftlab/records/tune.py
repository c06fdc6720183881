"""The record of a `tune` study as tune.json holds it: every trial, the top configurations re-trained on fresh
seeds (their mean decides, the search's own score kept apart), the best recipe, and what the pruner saved.
`experiments/tune.py` builds it; the CLI and the report read its fields."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from liftlab.records.fields import JsonObject, fields_json


@dataclass(frozen=True)
class TrialSummary:
    """One Optuna trial: its state, value (validation accuracy), the strategies it tried and what it cost."""

    number: int
    state: str
    value: float | None
    params: Mapping[str, float | int | str]
    strategies: tuple[str, ...]
    epochs_trained: int
    seconds: float | None
    intermediate: Mapping[str, float]  # validation accuracy by epoch, as the pruner saw it
    retried_from: int | None = None

    def to_json(self) -> JsonObject:
        return fields_json(self)


@dataclass(frozen=True)
class RepeatedConfiguration:
    """A top configuration re-trained on `seeds` the search did not use: their mean and its t-interval decide;
    `search_score` (the trial's own value, which chose it) is kept apart, never averaged in."""

    trial: int
    strategies: tuple[str, ...]
    search_score: float | None
    seeds: tuple[int, ...]
    scores: tuple[float, ...]
    mean: float
    ci95: tuple[float, float]

    def to_json(self) -> JsonObject:
        return fields_json(self)


@dataclass(frozen=True)
class TuneResult:
    """What `liftlab tune` found: tune.json's content (`best` is the first of `repeated`, by mean)."""

    data: str
    study: str
    storage: str  # the study's URL, passwords redacted
    space: Mapping[str, Mapping[str, Any]]  # each tuned strategy's search space, as the registry declares it
    pruner: str | None
    target_trials: int | None
    counts: Mapping[str, int]  # trials by state
    epochs_trained: int
    epochs_unpruned: int
    best_strategies: tuple[str, ...]
    best_recipe: Mapping[str, Any]  # the recipe as best_recipe.yaml holds it
    repeated: tuple[RepeatedConfiguration, ...]
    importances: Mapping[str, float]
    trials: tuple[TrialSummary, ...]

    @property
    def best(self) -> RepeatedConfiguration | None:
        return self.repeated[0] if self.repeated else None

    def to_json(self) -> JsonObject:
        found = fields_json(self, skip=("best_strategies", "best_recipe"))
        best = {"strategies": list(self.best_strategies), "recipe": dict(self.best_recipe),
                "repeated": self.best.to_json() if self.best else None}  # fmt: skip
        return found | {"best": best}
