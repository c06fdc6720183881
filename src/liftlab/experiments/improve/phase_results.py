"""What each phase of `improve` hands to the next: typed, frozen results. A phase returns one of these and
never writes into another's; `improve()` passes them on in order. Each writes itself into `improve.json`
with `to_json` (the keys that file has always had).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from liftlab.config import Recipe
from liftlab.records import RunRecord
from liftlab.records.search import CrossValidatedChoice, Rung, SearchRecord


def last_val_loss(record: RunRecord | None) -> float | None:
    """A finished run's validation loss at its last validated epoch (None when it has none)."""
    if record is None or record.failed:
        return None
    losses = [epoch.val_loss for epoch in record.history if epoch.val_loss is not None]
    return float(losses[-1]) if losses else None


def best_rung(rungs: Sequence[Rung], name: str) -> Rung | None:
    """The rung at which arm `name` scored best on validation, or None where it has no score.

    >>> from liftlab.records.search import HALVING
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

    def record(self) -> SearchRecord:
        """What improve.json keeps of the search: the arms' strategies, not their recipes."""
        arms = {name: tuple(recipe.strategies) for name, recipe in self.recipes.items()}
        return SearchRecord(arms, self.rungs, self.cross_validation)


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
