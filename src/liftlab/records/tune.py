"""The record of a `tune` study as tune.json holds it: every trial, the top configurations re-trained on fresh
seeds (their mean decides, the search's own score kept apart), the best recipe, and what the pruner saved.
`experiments/tune.py` builds it; the CLI and the report read its fields."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from liftlab.errors import BadInputError
from liftlab.records.fields import NUMBER, JsonObject, as_object, fields_json, value_of


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
class SearchSpace:
    """The distribution the tuner samples one strategy's setting from (Optuna's): `kind` "categorical" with its
    `choices`, or "int" / "float" between `low` and `high`, on a log scale when `log`."""

    kind: str
    choices: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    log: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("categorical", "int", "float"):
            raise ValueError(f"search space kind {self.kind!r}: expected categorical, int or float")
        if self.kind != "categorical" and (self.low is None or self.high is None):
            raise ValueError(f"a {self.kind} search space needs low and high, found {self.low} and {self.high}")

    @property
    def bounds(self) -> tuple[float, float]:
        """`low` and `high` of an int or float space (both set: checked where it is made)."""
        assert self.low is not None and self.high is not None, "a categorical space has no bounds"
        return self.low, self.high

    def to_json(self) -> JsonObject:
        if self.kind == "categorical":
            return {"type": self.kind, "choices": list(self.choices)}
        return {"type": self.kind, "low": self.low, "high": self.high, "log": self.log}

    @classmethod
    def from_json(cls, record: Any, where: str) -> SearchSpace:
        """A space as `to_json` wrote it (the study's user attributes keep them, for workers that join it).

        >>> space = SearchSpace("float", low=1e-4, high=1e-1, log=True)
        >>> SearchSpace.from_json(space.to_json(), "space") == space
        True
        """
        record = as_object(record, where)
        kind = value_of(record, "type", (str,), where)
        if kind == "categorical":
            return cls(kind, tuple(value_of(record, "choices", (list,), where)))
        if kind not in ("int", "float"):
            raise BadInputError(f"{where}: field 'type' expected categorical, int or float, found {kind!r}")
        return cls(kind, low=value_of(record, "low", NUMBER, where), high=value_of(record, "high", NUMBER, where),
                   log=bool(value_of(record, "log", (bool,), where, optional=True)))  # fmt: skip


@dataclass(frozen=True)
class TuneResult:
    """What `liftlab tune` found: tune.json's content (`best` is the first of `repeated`, by mean)."""

    data: str
    study: str
    storage: str  # the study's URL, passwords redacted
    space: Mapping[str, SearchSpace]  # each tuned strategy's search space, as the registry declares it
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
