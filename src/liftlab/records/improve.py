"""The record of an `improve` run: the baseline and the best recipe (each with its final runs), the model
exported to best/, the lift, the search and the steps with their seconds. `improve` builds it,
`improve.json` is its `to_json`, the report and the CLI read it. The parts other modules document (the
lift, the search's rungs, the effects, the data check) stay JSON objects."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from liftlab.errors import BadInputError
from liftlab.records.diagnosis import ImagesForTarget
from liftlab.records.fields import (
    FORMAT,
    NUMBER,
    JsonObject,
    as_object,
    bounds_of,
    check_format,
    fields_json,
    strings_of,
    value_of,
)
from liftlab.records.html import paragraphs, percent, section, table
from liftlab.records.lift import Lift
from liftlab.records.runs import LeakFreeAccuracy, RunSummary
from liftlab.records.search import SearchRecord


@dataclass(frozen=True)
class EnsembleChoice:
    """The average of the winner's networks (fresh seeds) against the first alone, both on validation: best/
    holds the ensemble only when it scores higher there (`exported`); the cost is a forward pass per member."""

    seeds: tuple[int, ...]
    val_acc: float
    single_val_acc: float
    ms_per_image: float
    single_ms_per_image: float
    exported: bool

    def to_json(self) -> JsonObject:
        return asdict(self) | {"seeds": list(self.seeds)}

    @classmethod
    def from_json(cls, record: Any, where: str) -> EnsembleChoice:
        record = as_object(record, where)
        seeds = value_of(record, "seeds", (list,), where)
        if not seeds or not all(isinstance(seed, int) for seed in seeds):
            raise BadInputError(f"{where}: field 'seeds' expected a list of integer seeds, found {seeds!r}")
        return cls(
            seeds=tuple(seeds),
            val_acc=float(value_of(record, "val_acc", NUMBER, where)),
            single_val_acc=float(value_of(record, "single_val_acc", NUMBER, where)),
            ms_per_image=float(value_of(record, "ms_per_image", NUMBER, where)),
            single_ms_per_image=float(value_of(record, "single_ms_per_image", NUMBER, where)),
            exported=bool(value_of(record, "exported", (bool,), where)),
        )


@dataclass(frozen=True)
class ProbeMemberChoice:
    """A probe of another backbone from the search, tried as one more member of best/ on validation: `added`
    when the images it fixes outnumber those it breaks by more than their noise (`ensemble.adds_beyond_noise`).
    `without_val_acc` is best/ before it (one network or the seeds' ensemble); `ms_per_image` is its own cost."""

    arm: str
    backbone: str
    size: int
    val_acc: float
    without_val_acc: float
    fixed: int
    broken: int
    ms_per_image: float
    added: bool

    def to_json(self) -> JsonObject:
        return asdict(self)

    @classmethod
    def from_json(cls, record: Any, where: str) -> ProbeMemberChoice:
        record = as_object(record, where)
        return cls(
            arm=value_of(record, "arm", (str,), where),
            backbone=value_of(record, "backbone", (str,), where),
            size=value_of(record, "size", (int,), where),
            val_acc=float(value_of(record, "val_acc", NUMBER, where)),
            without_val_acc=float(value_of(record, "without_val_acc", NUMBER, where)),
            fixed=value_of(record, "fixed", (int,), where),
            broken=value_of(record, "broken", (int,), where),
            ms_per_image=float(value_of(record, "ms_per_image", NUMBER, where)),
            added=bool(value_of(record, "added", (bool,), where)),
        )


@dataclass(frozen=True)
class Exported:
    """The one model in best/ (the winner's first final seed): what the user deploys."""

    seed: int
    test_acc: float
    ci95: tuple[float | None, float | None]
    folder: str
    val_acc: float | None = None  # what decides the target: the test split decides nothing
    cut_after: int | None = None  # the epoch after which the deadline cut it; None: it finished its schedule
    leak_free: LeakFreeAccuracy | None = None  # over the test images without a copy in training
    ensemble: EnsembleChoice | None = None  # tried when two fresh seeds of the winner finished; best/ holds it if won
    probe_member: ProbeMemberChoice | None = None  # a probe of another backbone tried as one more member

    def to_json(self) -> JsonObject:
        return {"seed": self.seed, "test_acc": self.test_acc, "ci95": list(self.ci95), "folder": self.folder,
                "val_acc": self.val_acc, "cut_after": self.cut_after,
                "leak_free": self.leak_free.to_json() if self.leak_free else None,
                "ensemble": self.ensemble.to_json() if self.ensemble else None,
                "probe_member": self.probe_member.to_json() if self.probe_member else None}  # fmt: skip

    @classmethod
    def from_json(cls, record: Any, where: str) -> Exported:
        record = as_object(record, where)
        return cls(
            seed=value_of(record, "seed", (int,), where),
            test_acc=float(value_of(record, "test_acc", NUMBER, where)),
            ci95=bounds_of(record, "ci95", where),
            folder=value_of(record, "folder", (str,), where),
            val_acc=value_of(record, "val_acc", NUMBER, where, optional=True),
            cut_after=value_of(record, "cut_after", (int,), where, optional=True),
            leak_free=LeakFreeAccuracy.from_json(record["leak_free"], f"{where}: leak_free")
            if record.get("leak_free") is not None
            else None,
            ensemble=EnsembleChoice.from_json(record["ensemble"], f"{where}: ensemble")
            if record.get("ensemble") is not None
            else None,
            probe_member=ProbeMemberChoice.from_json(record["probe_member"], f"{where}: probe_member")
            if record.get("probe_member") is not None
            else None,
        )


@dataclass(frozen=True)
class RecipeResult:
    """A recipe's final runs: `test_acc` and `ci95` are the mean over the scored seeds and its interval."""

    recipe: JsonObject
    strategies: tuple[str, ...]
    test_acc: float | None
    ci95: tuple[float | None, float | None]
    runs: tuple[RunSummary, ...]
    name: str = "baseline"
    folder: str | None = None  # the best recipe's exported run folder
    exported: Exported | None = None
    role: str = "baseline"  # "best" writes name, folder and exported too

    def to_json(self) -> JsonObject:
        record: JsonObject = {
            "recipe": self.recipe,
            "strategies": list(self.strategies),
            "test_acc": self.test_acc,
            "ci95": list(self.ci95),
            "runs": [run.to_json() for run in self.runs],
        }
        if self.role == "best":
            record = {"name": self.name, **record, "folder": self.folder}
            if self.exported:  # files written before the exported model was named have none
                record["exported"] = self.exported.to_json()
        return record

    @classmethod
    def from_json(cls, record: Any, where: str, role: str) -> RecipeResult:
        record = as_object(record, where)
        exported = value_of(record, "exported", (dict,), where, optional=True)
        return cls(
            recipe=value_of(record, "recipe", (dict,), where),
            strategies=strings_of(record, "strategies", where),
            test_acc=value_of(record, "test_acc", NUMBER, where, optional=True),
            ci95=bounds_of(record, "ci95", where),
            runs=tuple(RunSummary.from_json(r, f"{where}: runs[{i}]")
                       for i, r in enumerate(value_of(record, "runs", (list,), where, optional=True) or [])),
            name=value_of(record, "name", (str,), where) if role == "best" else "baseline",
            folder=value_of(record, "folder", (str,), where, optional=True),
            exported=Exported.from_json(exported, f"{where}: exported") if exported is not None else None,
            role=role,
        )  # fmt: skip


@dataclass(frozen=True)
class Step:
    """One phase of improve and its wall-clock seconds; runs it trained and found already done."""

    phase: str
    detail: str
    seconds: float
    trained: int = 0
    reused: int = 0

    def __str__(self) -> str:
        """The line `liftlab improve` prints for the step (`improve(..., on_step=print)` in a notebook)."""
        runs = f" [{self.trained} trained, {self.reused} reused]" if self.trained or self.reused else ""
        return f"{self.phase} ({self.seconds:.0f} s){runs}: {self.detail}"

    def to_json(self) -> JsonObject:
        return asdict(self)

    @classmethod
    def from_json(cls, record: Any, where: str) -> Step:
        record = as_object(record, where)
        return cls(
            phase=value_of(record, "phase", (str,), where),
            detail=value_of(record, "detail", (str,), where),
            seconds=float(value_of(record, "seconds", NUMBER, where)),
            trained=value_of(record, "trained", (int,), where, optional=True) or 0,
            reused=value_of(record, "reused", (int,), where, optional=True) or 0,
        )


# the parts other modules document, kept as JSON objects, with the kind each must be
OBJECTS: dict[str, tuple[type, ...]] = {
    "diagnosis": (dict,), "data_check": (dict,), "reproduce": (dict,), "profile": (dict,), "resumed": (dict,),
}  # fmt: skip


@dataclass(frozen=True)
class RecipeChange:
    """One recipe field (dotted) that differs between the baseline and the best recipe, with both values."""

    field: str
    baseline: Any
    best: Any

    def to_json(self) -> JsonObject:
        return {"field": self.field, "baseline": self.baseline, "best": self.best}

    @classmethod
    def from_json(cls, record: Any, where: str) -> RecipeChange:
        record = as_object(record, where)
        return cls(value_of(record, "field", (str,), where), record.get("baseline"), record.get("best"))


OPTIONAL = ("profile", "resumed")


@dataclass(frozen=True)
class SearchEffects:
    """Which arms helped, hurt or are unclear against the baseline in the search (on validation), and what
    those labels rest on (`scope`)."""

    helped: tuple[str, ...] = ()
    hurt: tuple[str, ...] = ()
    unclear: tuple[str, ...] = ()
    scope: str | None = None

    def to_json(self) -> JsonObject:
        return fields_json(self)

    @classmethod
    def from_json(cls, record: Any, where: str) -> SearchEffects:
        record = as_object(record, where)
        helped, hurt, unclear = (strings_of(record, name, where) for name in ("helped", "hurt", "unclear"))
        return cls(helped, hurt, unclear, value_of(record, "scope", (str,), where, optional=True))


@dataclass(frozen=True)
class ImproveResult:
    """What `liftlab improve` did and found: baseline -> best, the lift (the recipe's mean over final seeds),
    the exported model (what `target_reached` judges), and where the budget went."""

    data: str
    baseline: RecipeResult
    best: RecipeResult
    lift: Lift
    target: float | None
    target_reached: bool | None
    effects: SearchEffects
    search: SearchRecord
    diagnosis: JsonObject  # the diagnosis's findings, recommendations, learning curve, skipped checks
    data_check: JsonObject
    recipe_diff: tuple[RecipeChange, ...]
    steps: tuple[Step, ...]
    runs_trained: int
    runs_reused: int
    budget_s: float
    used_s: float
    reproduce: JsonObject
    images_for_target: ImagesForTarget | None = None
    profile: JsonObject | None = None
    resumed: JsonObject | None = None
    verdict: tuple[str, ...] = ()  # the sentences `report.verdict.verdict_sentences` built from the lift record

    def _repr_html_(self) -> str:
        """The verdict's sentences, baseline against best with their intervals, and where the time went."""
        rows = [(part.name or role, percent(part.test_acc), f"{percent(part.ci95[0])} to {percent(part.ci95[1])}",
                 len(part.runs)) for role, part in (("baseline", self.baseline), ("best", self.best))]  # fmt: skip
        figures = table(["recipe", "test accuracy", "95% interval", "runs"], rows)
        steps = table(
            ["phase", "seconds", "what happened"], [(s.phase, f"{s.seconds:.0f}", s.detail) for s in self.steps]
        )
        used = f"{self.used_s:.0f} of {self.budget_s:.0f} s"
        return section(f"improve {self.data}: {used}", paragraphs(self.verdict), figures, steps)

    def with_verdict(self, sentences: list[str]) -> ImproveResult:
        return replace(self, verdict=tuple(sentences))

    def with_used(self, seconds: float) -> ImproveResult:
        return replace(self, used_s=round(seconds, 1))

    def to_json(self) -> JsonObject:
        return fields_json(self) | {"format": FORMAT}

    @classmethod
    def from_json(cls, record: Any, where: str = "improve.json") -> ImproveResult:
        record = as_object(record, where)
        check_format(record, where)
        parts = {
            name: value_of(record, name, kinds, where, optional=name in OPTIONAL) for name, kinds in OBJECTS.items()
        }
        return cls(
            data=value_of(record, "data", (str,), where),
            baseline=RecipeResult.from_json(value_of(record, "baseline", (dict,), where), f"{where}: baseline",
                                            role="baseline"),
            best=RecipeResult.from_json(value_of(record, "best", (dict,), where), f"{where}: best", role="best"),
            lift=Lift.from_json(value_of(record, "lift", (dict,), where), f"{where}: lift"),
            images_for_target=ImagesForTarget.from_json(record["images_for_target"], f"{where}: images_for_target")
            if record.get("images_for_target")
            else None,
            search=SearchRecord.from_json(value_of(record, "search", (dict,), where), f"{where}: search"),
            effects=SearchEffects.from_json(value_of(record, "effects", (dict,), where), f"{where}: effects"),
            target=value_of(record, "target", NUMBER, where, optional=True),
            target_reached=value_of(record, "target_reached", (bool,), where, optional=True),
            steps=tuple(Step.from_json(s, f"{where}: steps[{i}]")
                        for i, s in enumerate(value_of(record, "steps", (list,), where))),
            runs_trained=value_of(record, "runs_trained", (int,), where),
            runs_reused=value_of(record, "runs_reused", (int,), where),
            budget_s=float(value_of(record, "budget_s", NUMBER, where)),
            used_s=float(value_of(record, "used_s", NUMBER, where, optional=True) or 0.0),
            verdict=strings_of(record, "verdict", where),
            recipe_diff=tuple(RecipeChange.from_json(change, f"{where}: recipe_diff[{i}]")
                              for i, change in enumerate(value_of(record, "recipe_diff", (list,), where))),
            **parts,
        )  # fmt: skip
