"""What each phase of `improve` hands to the next: typed, frozen results. A phase returns one of these and
never writes into another's; `improve()` passes them on in order. Each writes itself into `improve.json`
with `to_json` (the keys that file has always had).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from liftlab.config import Recipe
from liftlab.records import RunRecord

HALVING, GREEDY, FINE_TUNE = "halving", "greedy", "fine-tune"
"""The kinds of rung: a round of successive halving, a greedy addition to the winner, the winner's fine-tune."""


def val_of(record: RunRecord | None) -> float:
    """A run's validation accuracy for ranking; -inf for a failed run, so it is never chosen.

    >>> val_of(RunRecord("a", 1, (), 0.8, None, (), 1.0)), val_of(None)
    (0.8, -inf)
    """
    if record is None or record.failed or record.val_acc is None:
        return -math.inf
    return float(record.val_acc)


def last_val_loss(record: RunRecord | None) -> float | None:
    """A finished run's validation loss at its last validated epoch (None when it has none)."""
    if record is None or record.failed:
        return None
    losses = [epoch.val_loss for epoch in record.history if epoch.val_loss is not None]
    return float(losses[-1]) if losses else None


@dataclass(frozen=True)
class Rung:
    """One round of the search: the arms trained at one budget, by name, and what each scored on validation
    (None where the run failed; `failed` says why). `paired_se`: each arm's standard error against the
    baseline from per-image predictions (halving rungs only)."""

    kind: str
    fraction: float
    epochs: Mapping[str, int]
    val_acc: Mapping[str, float | None]
    failed: Mapping[str, str | None] = field(default_factory=dict)
    seconds: Mapping[str, float] = field(default_factory=dict)
    paired_se: Mapping[str, float | None] = field(default_factory=dict)

    @classmethod
    def scored(
        cls,
        kind: str,
        fraction: float,
        epochs: Mapping[str, int],
        records: Mapping[str, RunRecord],
        paired_se: Mapping[str, float | None] | None = None,
    ) -> Rung:
        """The rung of the runs `records` (by arm name), each at its `epochs`."""
        val = {name: val_of(record) for name, record in records.items()}
        return cls(
            kind, fraction, dict(epochs),
            {name: None if math.isinf(v) else v for name, v in val.items()},
            {name: records[name].stopped_reason for name, v in val.items() if math.isinf(v)},
            {name: record.seconds for name, record in records.items()},
            dict(paired_se or {}),
        )  # fmt: skip

    def score(self, name: str) -> float:
        """Arm `name`'s validation accuracy at this rung; -inf where it failed or did not run here."""
        value = self.val_acc.get(name)
        return -math.inf if value is None else value

    def to_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "kind": self.kind, "fraction": self.fraction, "epochs": dict(self.epochs), "val_acc": dict(self.val_acc),
            "failed": dict(self.failed), "seconds": dict(self.seconds),
        }  # fmt: skip
        if self.paired_se:
            found["paired_se"] = dict(self.paired_se)
        return found


def best_rung(rungs: Sequence[Rung], name: str) -> Rung | None:
    """The rung at which arm `name` scored best on validation, or None where it has no score.

    >>> rungs = [Rung(HALVING, 0.5, {"a": 2}, {"a": 0.7}), Rung(HALVING, 1.0, {"a": 4}, {"a": 0.8})]
    >>> best_rung(rungs, "a").fraction, best_rung(rungs, "b")
    (1.0, None)
    """
    scored = [rung for rung in rungs if rung.val_acc.get(name) is not None]
    return max(scored, key=lambda rung: rung.score(name)) if scored else None


@dataclass(frozen=True)
class TransferPlan:
    """Before a probe baseline's search: the arms whose feature extraction fits, the share of the budget by
    which the search ends (the fine-tune gets the rest), and one image's seconds through the baseline backbone."""

    arms: Mapping[str, Recipe]
    search_end: float
    forward_seconds: float


@dataclass(frozen=True)
class CrossValidatedChoice:
    """With validation saturated: the tied arms ranked by K-fold accuracy over the training and validation images."""

    folds: int
    scores: Mapping[str, float]
    per_fold: Mapping[str, tuple[float, ...]]
    winner: str

    def to_json(self) -> dict[str, Any]:
        per_fold = {name: list(scores) for name, scores in self.per_fold.items()}
        return {"folds": self.folds, "scores": dict(self.scores), "per_fold": per_fold, "winner": self.winner}


@dataclass(frozen=True)
class SearchResult:
    """The search's rungs in the order they ran, the arms' recipes by name (the baseline's included), the
    winner's name and, where validation saturated, the cross-validated choice."""

    rungs: tuple[Rung, ...]
    recipes: Mapping[str, Recipe]
    winner: str
    cross_validation: CrossValidatedChoice | None = None

    def with_finetune(self, finetuned: FineTuneResult) -> SearchResult:
        """This search with the fine-tune's rung and recipe added and its winner, as `improve.json` keeps it."""
        if finetuned.rung is None or finetuned.recipe is None:
            return self
        recipes = dict(self.recipes) | {finetuned.name: finetuned.recipe}
        return replace(self, rungs=(*self.rungs, finetuned.rung), recipes=recipes, winner=finetuned.winner)

    def to_json(self) -> dict[str, Any]:
        return {
            "arms": {name: recipe.strategies for name, recipe in self.recipes.items()},
            "rungs": [rung.to_json() for rung in self.rungs],
            "cross_validation": self.cross_validation.to_json() if self.cross_validation else None,
        }


@dataclass(frozen=True)
class FineTuneResult:
    """The fine-tune of the winning probe: its arm name and recipe, its rung (beside the probe's best score;
    None when it was skipped), the winner after it (the fine-tune when kept, else the probe) and whether it
    clearly beat the probe."""

    name: str
    recipe: Recipe | None
    rung: Rung | None
    winner: str
    helped: bool


@dataclass(frozen=True)
class FinalRuns:
    """The winner's and the baseline's runs at full budget, seed by seed; `from_search` when no fresh pair fit
    and these are the winner and the baseline on the search's seed; `pair_seconds`, a pair's wall time as measured (else
    planned)."""

    best: tuple[RunRecord, ...]
    baseline: tuple[RunRecord, ...]
    from_search: bool
    pair_seconds: float

    @property
    def seeds(self) -> list[int]:
        return [run.seed for run in self.best]
