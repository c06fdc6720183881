"""The record of an ablation: one entry per arm (its runs, its test accuracy over seeds, its paired change
against the baseline and the verdict) and the settings every arm shared. `ablate` builds it,
`ablation.json` is its `to_json`, the report and the CLI read it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from liftlab.records.fields import (
    FORMAT,
    NUMBER,
    as_object,
    check_format,
    fields_json,
    interval_of,
    strings_of,
    value_of,
)
from liftlab.records.html import percent, section, table
from liftlab.records.runs import RunSummary


@dataclass(frozen=True)
class FailedRun:
    seed: int
    reason: str | None

    def to_json(self) -> dict[str, Any]:
        return {"seed": self.seed, "reason": self.reason}


@dataclass(frozen=True)
class AblationArm:
    """One arm: `verdict` is "baseline", "helps", "hurts", "no significant change", "failed" or "unstable
    (failed on k of n seeds)"; `delta_vs_baseline` is `{mean, ci95}` of the paired change in test accuracy."""

    name: str
    strategies: tuple[str, ...]
    runs: tuple[RunSummary, ...]
    failed_runs: tuple[FailedRun, ...]
    tested_on_fresh_seeds: bool
    mean_test_acc: float | None
    ci95: tuple[float, float] | None
    verdict: str
    delta_vs_baseline: dict[str, Any] | None = None
    p_value: float | None = None
    p_holm: float | None = None
    mcnemar: dict[str, Any] | None = None
    seeds_to_detect_1_point: int | None = None

    @property
    def is_baseline(self) -> bool:
        return self.verdict == "baseline"

    def to_json(self) -> dict[str, Any]:
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
            delta_vs_baseline=value_of(record, "delta_vs_baseline", (dict,), where, optional=True),
            p_value=value_of(record, "p_value", NUMBER, where, optional=True),
            p_holm=value_of(record, "p_holm", NUMBER, where, optional=True),
            mcnemar=value_of(record, "mcnemar", (dict,), where, optional=True),
            seeds_to_detect_1_point=value_of(record, "seeds_to_detect_1_point", (int,), where, optional=True),
        )  # fmt: skip


@dataclass(frozen=True)
class AblationResult:
    """A whole ablation: every arm trained with the same seeds, splits and budget."""

    data: str
    strategies: tuple[str, ...]
    combine: str
    seeds: tuple[int, ...]
    budget: dict[str, Any]  # {epochs, time_per_run}
    recipe: dict[str, Any]
    arms: tuple[AblationArm, ...]
    alpha: float
    liftlab_version: str = ""

    def _repr_html_(self) -> str:
        """Every arm's test accuracy with its interval, its change against the baseline and its verdict."""

        def change(arm: AblationArm) -> str:
            delta = arm.delta_vs_baseline or {}
            if delta.get("mean") is None or not delta.get("ci95"):
                return ""
            low, high = delta["ci95"]
            return f"{100 * delta['mean']:+.2f} ({100 * low:+.2f} to {100 * high:+.2f})"

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

    def to_json(self) -> dict[str, Any]:
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
            budget=value_of(record, "budget", (dict,), where),
            recipe=value_of(record, "recipe", (dict,), where),
            arms=tuple(AblationArm.from_json(a, f"{where}: arms[{i}]")
                       for i, a in enumerate(value_of(record, "arms", (list,), where))),
            alpha=float(value_of(record, "alpha", NUMBER, where)),
            liftlab_version=value_of(record, "liftlab_version", (str,), where, optional=True) or "",
        )  # fmt: skip
