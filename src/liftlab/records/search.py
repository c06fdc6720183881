"""The record of `improve`'s search as improve.json's `search` holds it: the arms by name with their
strategies, the rungs in the order they ran (each arm's epochs, validation accuracy, failure and seconds) and,
where validation saturated, the cross-validated choice. The search builds them; the report reads them."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from liftlab.errors import BadInputError
from liftlab.records.fields import NUMBER, JsonObject, as_object, value_of
from liftlab.records.runs import RunRecord

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


def _mapping(record: JsonObject, name: str, kinds: tuple[type, ...], where: str) -> JsonObject:
    """Field `name` of `record` as {arm: value}, each value of `kinds` or null; missing reads as empty."""
    found = value_of(record, name, (dict,), where, optional=True) or {}
    for arm, value in found.items():
        if value is not None and (not isinstance(value, kinds) or isinstance(value, bool)):
            raise BadInputError(f"{where}: field '{name}.{arm}' expected {kinds[0].__name__}, found {value!r}")
    return dict(found)


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

    def to_json(self) -> JsonObject:
        found: JsonObject = {
            "kind": self.kind, "fraction": self.fraction, "epochs": dict(self.epochs), "val_acc": dict(self.val_acc),
            "failed": dict(self.failed), "seconds": dict(self.seconds),
        }  # fmt: skip
        if self.paired_se:
            found["paired_se"] = dict(self.paired_se)
        return found

    @classmethod
    def from_json(cls, record: Any, where: str) -> Rung:
        record = as_object(record, where)
        return cls(
            kind=value_of(record, "kind", (str,), where, optional=True) or HALVING,
            fraction=float(value_of(record, "fraction", NUMBER, where)),
            epochs=_mapping(record, "epochs", (int,), where),
            val_acc=_mapping(record, "val_acc", NUMBER, where),
            failed=_mapping(record, "failed", (str,), where),
            seconds=_mapping(record, "seconds", NUMBER, where),
            paired_se=_mapping(record, "paired_se", NUMBER, where),
        )


@dataclass(frozen=True)
class CrossValidatedChoice:
    """With validation saturated: the tied arms ranked by K-fold accuracy over the training and validation images."""

    folds: int
    scores: Mapping[str, float]
    per_fold: Mapping[str, tuple[float, ...]]
    winner: str

    def to_json(self) -> JsonObject:
        per_fold = {name: list(scores) for name, scores in self.per_fold.items()}
        return {"folds": self.folds, "scores": dict(self.scores), "per_fold": per_fold, "winner": self.winner}

    @classmethod
    def from_json(cls, record: Any, where: str) -> CrossValidatedChoice:
        record = as_object(record, where)
        per_fold = value_of(record, "per_fold", (dict,), where, optional=True) or {}
        return cls(
            value_of(record, "folds", (int,), where),
            _mapping(record, "scores", NUMBER, where),
            {name: tuple(float(s) for s in scores) for name, scores in per_fold.items()},
            value_of(record, "winner", (str,), where),
        )


@dataclass(frozen=True)
class SearchRecord:
    """improve.json's `search`: every arm by name with its strategies (the baseline's included), the rungs in
    the order they ran, and the cross-validated choice where validation saturated."""

    arms: Mapping[str, tuple[str, ...]]
    rungs: tuple[Rung, ...]
    cross_validation: CrossValidatedChoice | None = None

    def never_run(self) -> list[str]:
        """Arms named but never trained (the stack, when the rung it would join did not fit), so the report says
        so instead of showing an empty row.

        >>> SearchRecord({"baseline": (), "flip": ("flip",), "stack": ("flip", "tta")},
        ...              (Rung(HALVING, 1.0, {}, {"baseline": 0.8, "flip": 0.9}),)).never_run()
        ['stack']
        """
        return [name for name in self.arms if not any(name in r.val_acc or name in r.failed for r in self.rungs)]

    def to_json(self) -> JsonObject:
        return {
            "arms": {name: list(strategies) for name, strategies in self.arms.items()},
            "rungs": [rung.to_json() for rung in self.rungs],
            "cross_validation": self.cross_validation.to_json() if self.cross_validation else None,
        }

    @classmethod
    def from_json(cls, record: Any, where: str) -> SearchRecord:
        record = as_object(record, where)
        arms = value_of(record, "arms", (dict,), where, optional=True) or {}
        rungs = value_of(record, "rungs", (list,), where, optional=True) or []
        cross = value_of(record, "cross_validation", (dict,), where, optional=True)
        return cls(
            {name: tuple(strategies) for name, strategies in arms.items()},
            tuple(Rung.from_json(rung, f"{where}: rungs[{i}]") for i, rung in enumerate(rungs)),
            CrossValidatedChoice.from_json(cross, f"{where}: cross_validation") if cross else None,
        )
