"""The record of an ablation: one entry per arm (its runs, its test accuracy over seeds, its paired change
against the baseline and the verdict) and the settings every arm shared. `ablate` builds it,
`ablation.json` is its `to_json`, the report and the CLI read it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from liftlab.errors import BadInputError
from liftlab.records.fields import (
    FORMAT,
    NUMBER,
    JsonObject,
    as_object,
    check_format,
    fields_json,
    interval_of,
    record_of,
    strings_of,
    value_of,
)
from liftlab.records.html import percent, section, table
from liftlab.records.runs import RunSummary


@dataclass(frozen=True)
class FailedRun:
    seed: int
    reason: str | None

    def to_json(self) -> JsonObject:
        return {"seed": self.seed, "reason": self.reason}


@dataclass(frozen=True)
class PairedDelta:
    """The paired change in test accuracy of an arm against the baseline, mean over seeds and 95% interval."""

    mean: float
    ci95: tuple[float, float]

    def to_json(self) -> JsonObject:
        return fields_json(self)

    @classmethod
    def from_json(cls, record: Any, where: str) -> PairedDelta:
        record = as_object(record, where)
        ci95 = interval_of(record, "ci95", where)
        if ci95 is None:
            raise BadInputError(f"{where}: field 'ci95' is missing")
        return cls(float(value_of(record, "mean", NUMBER, where)), ci95)


@dataclass(frozen=True)
class McNemarCounts:
    """McNemar's test of an arm against the baseline: images only the arm got right, only the baseline got right
    (summed over seeds), and its p-value (`stats.mcnemar`)."""

    arm_only_right: int
    baseline_only_right: int
    p_value: float

    def to_json(self) -> JsonObject:
        return fields_json(self)

    @classmethod
    def from_json(cls, record: Any, where: str) -> McNemarCounts:
        record = as_object(record, where)
        return cls(value_of(record, "arm_only_right", (int,), where),
                   value_of(record, "baseline_only_right", (int,), where),
                   float(value_of(record, "p_value", NUMBER, where)))  # fmt: skip


@dataclass(frozen=True)
class AblationBudget:
    """What every run of an ablation was given: epochs, and a time limit in seconds where one was set."""

    epochs: int
    time_per_run: float | None = None

    def to_json(self) -> JsonObject:
        return fields_json(self)

    @classmethod
    def from_json(cls, record: Any, where: str) -> AblationBudget:
        record = as_object(record, where)
        return cls(value_of(record, "epochs", (int,), where),
                   value_of(record, "time_per_run", NUMBER, where, optional=True))  # fmt: skip


@dataclass(frozen=True)
class AblationArm:
    """One arm: `verdict` is "baseline", "helps", "hurts", "no significant change", "failed" or "unstable
    (failed on k of n seeds)"; `delta_vs_baseline` is the paired change in test accuracy."""

    name: str
    strategies: tuple[str, ...]
    runs: tuple[RunSummary, ...]
    failed_runs: tuple[FailedRun, ...]
    tested_on_fresh_seeds: bool
    mean_test_acc: float | None
    ci95: tuple[float, float] | None
    verdict: str
    delta_vs_baseline: PairedDelta | None = None
    p_value: float | None = None
    p_holm: float | None = None
    mcnemar: McNemarCounts | None = None
    seeds_to_detect_1_point: int | None = None

    @property
    def is_baseline(self) -> bool:
        return self.verdict == "baseline"

    def to_json(self) -> JsonObject:
        record = fields_json(self)
        if self.is_baseline:  # the baseline is not compared with itself: no p_holm, mcnemar or seed count
            for name in ("p_holm", "mcnemar", "seeds_to_detect_1_point"):
                record.pop(name)
        return record

    @classmethod
    def from_json(cls, record: Any, where: str = "arm") -> AblationArm:
        record = as_object(record, where)
        failed = value_of(record, "failed_runs", (list,), where, optional=True) or []
        return cls(
            name=value_of(record, "name", (str,), where),
            strategies=strings_of(record, "strategies", where),
            runs=tuple(RunSummary.from_json(r, f"{where}: runs[{i}]")
                       for i, r in enumerate(value_of(record, "runs", (list,), where))),
            failed_runs=tuple(FailedRun(value_of(as_object(f, where), "seed", (int,), f"{where}: failed_runs[{i}]"),
                                        f.get("reason")) for i, f in enumerate(failed)),
            tested_on_fresh_seeds=bool(value_of(record, "tested_on_fresh_seeds", (bool,), where, optional=True)),
            mean_test_acc=value_of(record, "mean_test_acc", NUMBER, where, optional=True),
            ci95=interval_of(record, "ci95", where),
            verdict=value_of(record, "verdict", (str,), where),
            delta_vs_baseline=record_of(record, "delta_vs_baseline", PairedDelta.from_json, where),
            p_value=value_of(record, "p_value", NUMBER, where, optional=True),
            p_holm=value_of(record, "p_holm", NUMBER, where, optional=True),
            mcnemar=record_of(record, "mcnemar", McNemarCounts.from_json, where),
            seeds_to_detect_1_point=value_of(record, "seeds_to_detect_1_point", (int,), where, optional=True),
        )  # fmt: skip


@dataclass(frozen=True)
class AblationResult:
    """A whole ablation: every arm trained with the same seeds, splits and budget."""

    data: str
    strategies: tuple[str, ...]
    combine: str
    seeds: tuple[int, ...]
    budget: AblationBudget
    recipe: JsonObject  # the base recipe, `Recipe.model_dump`
    arms: tuple[AblationArm, ...]
    alpha: float
    liftlab_version: str = ""

    def _repr_html_(self) -> str:
        """Every arm's test accuracy with its interval, its change against the baseline and its verdict."""

        def change(arm: AblationArm) -> str:
            delta = arm.delta_vs_baseline
            if delta is None:
                return ""
            low, high = delta.ci95
            return f"{100 * delta.mean:+.2f} ({100 * low:+.2f} to {100 * high:+.2f})"

        rows = [(arm.name, percent(arm.mean_test_acc),
                 f"{percent(arm.ci95[0])} to {percent(arm.ci95[1])}" if arm.ci95 else "", change(arm), arm.verdict)
                for arm in self.arms]  # fmt: skip
        header = ["arm", "test accuracy", "95% interval", "vs baseline (points)", "verdict"]
        return section(f"Ablation on {self.data}: {len(self.seeds)} seeds", table(header, rows))

    def arm(self, name: str) -> AblationArm:
        """The arm called `name`; an unknown name lists the arms."""
        for arm in self.arms:
            if arm.name == name:
                return arm
        raise KeyError(f"no arm {name!r}; arms: {', '.join(a.name for a in self.arms)}")

    def to_json(self) -> JsonObject:
        return fields_json(self) | {"format": FORMAT}

    @classmethod
    def from_json(cls, record: Any, where: str = "ablation.json") -> AblationResult:
        record = as_object(record, where)
        check_format(record, where)
        seeds = value_of(record, "seeds", (list,), where)
        return cls(
            data=value_of(record, "data", (str,), where),
            strategies=strings_of(record, "strategies", where),
            combine=value_of(record, "combine", (str,), where),
            seeds=tuple(int(s) for s in seeds),
            budget=AblationBudget.from_json(value_of(record, "budget", (dict,), where), f"{where}: budget"),
            recipe=value_of(record, "recipe", (dict,), where),
            arms=tuple(AblationArm.from_json(a, f"{where}: arms[{i}]")
                       for i, a in enumerate(value_of(record, "arms", (list,), where))),
            alpha=float(value_of(record, "alpha", NUMBER, where)),
            liftlab_version=value_of(record, "liftlab_version", (str,), where, optional=True) or "",
        )  # fmt: skip
