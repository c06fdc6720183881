"""The state `improve` carries from phase to phase: settings, the clock, the experiment session, the plan
written down as it is decided (so a rerun makes the same decisions and finds the same runs), the steps
taken, and the time arithmetic the phases share. The phases themselves are functions of it
(`arms`, `search`, `finetune_phase`, `final`); `improve.py` keeps their order.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from liftlab.config import Recipe, with_values
from liftlab.data.check import check_data
from liftlab.diagnose.diagnosis import DiagnoseSettings, run_diagnosis
from liftlab.errors import BadInputError
from liftlab.evaluate.evaluation import BusinessQuestion
from liftlab.experiments.budget import Clock
from liftlab.experiments.runner import Job
from liftlab.experiments.session import Session
from liftlab.experiments.step_timing import Timings
from liftlab.experiments.store import RunStore, run_key
from liftlab.experiments.time_plan import TimePlan
from liftlab.io import write_json
from liftlab.records import Diagnosis, RunRecord, Step
from liftlab.train.probe import on_features


@dataclass(frozen=True)
class ImproveSettings:
    budget_s: float = 1200.0
    target: float | None = None
    seeds: int = 2
    max_arms: int = 6
    workers: int | None = None
    question: BusinessQuestion | None = None
    profile: bool = False  # choose the baseline from the data (experiments/profile.py); off with a --recipe
    overrides: tuple[str, ...] = ()  # the user's --set, applied on top of the profile
    skip_bad: bool = False
    quiet: bool = True
    command: str = ""

    def __post_init__(self) -> None:
        if self.budget_s < 30:
            raise BadInputError(f"--budget: expected at least 30s, found {self.budget_s:g}s")
        if self.seeds < 1:
            raise BadInputError(f"--seeds: expected at least 1, found {self.seeds}")
        if self.target is not None and not 0 < self.target <= 1:
            raise BadInputError(f"--target: expected an accuracy in (0, 1], found {self.target}")


def _full_seconds(record: RunRecord, epochs: int) -> float:
    """Seconds a run of `epochs` epochs takes, from a (possibly shorter) run's epoch times."""
    times = record.epoch_seconds or (record.seconds,)
    return float(np.mean(times)) * epochs


def val_of(record: RunRecord | None) -> float:
    """A run's validation accuracy for ranking; -inf for a failed run, so it is never chosen."""
    if record is None or record.failed or record.val_acc is None:
        return -math.inf  # a failed or non-finite run is never chosen
    return float(record.val_acc)


def last_val_loss(record: RunRecord | None) -> float | None:
    """A finished run's validation loss at its last validated epoch (None when it has none)."""
    if record is None or record.failed:
        return None
    losses = [epoch.val_loss for epoch in record.history if epoch.val_loss is not None]
    return float(losses[-1]) if losses else None


class Improvement:
    def __init__(
        self, spec: str, base: Recipe, settings: ImproveSettings, out: Path, on_step: Callable[[Step], None]
    ) -> None:
        self.spec = spec
        self.base = base
        self.settings = settings
        self.out = out
        self.on_step = on_step
        self.clock = Clock(settings.budget_s)
        self.session = Session(RunStore.in_folder(out), settings.workers)
        self.records = self.session.records
        self.steps: list[Step] = []
        self.step_ends: list[tuple[str, float]] = []  # each step's phase and the second of the budget it ended at
        self.batch_counts = (0, 0)  # runs trained and found done by this invocation's train() calls so far
        self.capacity = self.session.capacity  # workers side by side, measured on this machine
        self.workers = self.capacity.workers
        self.time_plan = TimePlan(settings.budget_s, settings.seeds, self.workers, self.capacity.slowdown)
        self.baseline_seconds = 0.0  # the diagnosis baseline's training time, set by the search
        self.probe_search_end: float | None = None  # for a probe baseline: set from the fine-tune's needs
        self.forward_seconds = 0.0  # one image through the baseline's backbone at its size (probe baselines)
        self.timings = Timings()  # the fine-tune plan's step and evaluation timings, each measured once
        plan_path = out / "plan.json"
        self.plan_log: dict[str, Any] = json.loads(plan_path.read_text()) if plan_path.is_file() else {}
        self.found_at_start = len(self.records) if self.plan_log else 0  # runs left by an earlier invocation here

    def adopt(self, base: Recipe) -> None:
        """Fix the baseline recipe (after the data profile); a folder holding another baseline's plan is refused."""
        self.base = base
        if self.plan_log and self.plan_log.get("base") != base.model_dump(mode="json"):
            raise BadInputError(
                f"--out {self.out}: holds an improve run of another baseline recipe; choose another --out to start "
                "afresh"
            )
        self.plan_log["base"] = base.model_dump(mode="json")

    def remember(self, key: str, value: Any) -> Any:
        """Write a plan decision once, so that a rerun makes the same one (and so finds the same runs)."""
        self.plan_log.setdefault(key, value)
        write_json(self.out / "plan.json", self.plan_log)
        return self.plan_log[key]

    def step(self, phase: str, detail: str, started: float, trained: int = 0, reused: int = 0) -> None:
        step = Step(phase, detail, round(self.clock.used() - started, 2), trained, reused)
        self.steps.append(step)
        self.step_ends.append((phase, self.clock.used()))
        self.on_step(step)

    def train(
        self,
        runs: list[tuple[str, Recipe]],
        max_seconds: float,
        per_epoch_cap: float | None = None,
        complete: bool = False,
        anneal_within: float | None = None,
    ) -> dict[str, RunRecord]:
        """Records of (label, recipe) runs: from the store when done before, else trained.

        Every run also writes its run folder (weights included) to runs/KEY, so the winner is exported
        by copying, not by training it again.

        A run stops after the epoch in which `max_seconds` passed, or `per_epoch_cap` times its epochs; with
        `anneal_within`, its schedule ends by then from now (`fit`), annealed, however far its epochs got.
        `complete` marks the final runs: a stored run that such a limit cut short is trained again, to the
        end, and every record is scored on the test split (the search's runs are not: the test split
        chooses nothing).
        """
        keys = {label: run_key(self.spec, recipe, {"improve": 1}) for label, recipe in runs}
        # The deadline is absolute: a job that waits for a free worker does not get more time.
        deadline = time.time() + max(max_seconds, 1.0)
        anneal_by = None if anneal_within is None else time.time() + anneal_within
        jobs = [
            Job(key, self.spec, recipe.model_dump(mode="json"),
                None if per_epoch_cap is None else per_epoch_cap * recipe.epochs, str(self.run_folder(key)),
                deadline, str(self.out / "checkpoints" / key), score_test=complete, anneal_by=anneal_by)
            for (label, recipe), key in zip(runs, keys.values(), strict=True)
        ]  # fmt: skip

        def reusable(stored: RunRecord) -> bool:
            done = (self.run_folder(stored.key) / "metrics.json").is_file()
            return done and not (complete and bool(stored.stopped_by_time))

        batch = self.session.run(jobs, reusable)
        self.batch_counts = (self.batch_counts[0] + batch.trained, self.batch_counts[1] + batch.reused)
        records = batch.records
        if complete:
            records = {k: self.session.scored_on_test(r, self.run_folder(k), self.spec) for k, r in records.items()}
        return {label: records[key] for label, key in keys.items()}

    def check(self) -> dict[str, Any]:
        started = self.clock.used()
        report = check_data(self.spec, self.base.data).to_dict()
        if report["n_unreadable"] and not self.settings.skip_bad:
            names = ", ".join(b["path"] for b in report["unreadable"][:5])
            raise BadInputError(
                f"DATA {self.spec}: {report['n_unreadable']} unreadable file(s) ({names}); "
                "run `liftlab data check` for the reasons, or pass --skip-bad"
            )
        if not sum(report["counts"].get("test", {}).values()):
            raise BadInputError(
                f"DATA {self.spec}: no test split; improve tests only on untouched data. "
                "Give a test/ folder, or keep data.test_fraction above 0"
            )
        self.step("data check", f"{sum(sum(c.values()) for c in report['counts'].values())} images", started)
        return report

    def diagnose(self, check: dict[str, Any], source: tuple[str, ...] = ()) -> Diagnosis:
        started = self.clock.used()
        folder = self.out / "diagnosis"
        path = folder / "diagnosis.json"
        stored = self._stored_diagnosis(path)
        # the target is part of what it answered (images for the target), so another target diagnoses again
        if stored and stored.recipe == self.base.model_dump(mode="json") and stored.target == self.settings.target:
            self.step("diagnosis", "reused " + ", ".join(stored.codes), started)
            return stored
        settings = DiagnoseSettings(
            self.settings.target, quick=True, skip_bad=self.settings.skip_bad, quiet=self.settings.quiet,
            max_seconds=self.time_plan.diagnosis_seconds(), data_check=check, baseline_source=source,
        )  # fmt: skip
        result = run_diagnosis(self.spec, self.base, folder, settings)
        detail = ", ".join(result.codes)
        if result.skipped_for_time:
            detail += f" (skipped for time: {', '.join(result.skipped_for_time)})"
        self.step("diagnosis", detail, started, trained=1)
        return result

    @staticmethod
    def _stored_diagnosis(path: Path) -> Diagnosis | None:
        """An earlier invocation's diagnosis, or None when there is none or it is unreadable (then it is made
        again: the file is improve's own cache, not the user's input)."""
        try:
            return Diagnosis.from_json(json.loads(path.read_text()), str(path))
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, BadInputError) as error:
            print(f"liftlab: {path} cannot be reused ({error}); diagnosing again", file=sys.stderr)
            return None

    def search_ends(self) -> float:
        """Share of the budget by which the search stops (`TimePlan.search_ends`)."""
        return self.time_plan.search_ends(on_features(self.base), self.probe_search_end)

    def best_rung(self, name: str, rungs: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The rung at which arm `name` scored best on validation, or None where it has no score."""
        scored = [r for r in rungs if r["val_acc"].get(name) is not None]
        return max(scored, key=lambda r: r["val_acc"][name]) if scored else None

    def rung_record(self, name: str, recipe: Recipe, rung: dict[str, Any]) -> RunRecord | None:
        """The stored run of arm `name` (recipe `recipe`) at `rung`'s epochs: the run a later challenger is
        compared with, image by image."""
        epochs = rung["epochs"].get(name, recipe.epochs)
        return self.records.get(run_key(self.spec, with_values(recipe, {"epochs": epochs}), {"improve": 1}))

    def run_folder(self, key: str) -> Path:
        return self.out / "runs" / key

    def added(self, recipe: Recipe) -> list[str]:
        """The strategies `recipe` applies on top of the baseline."""
        return recipe.strategies[len(self.base.strategies) :]

    def epoch_cap(self) -> float:
        """Most seconds per epoch a search run may take (`TimePlan.epoch_cap`, from the baseline's time)."""
        return self.time_plan.epoch_cap(self.baseline_seconds, self.base.epochs)

    def full_seconds(self, recipe: Recipe) -> float:
        """Seconds one search run of `recipe` at its full epochs takes, from runs of it done so far."""
        done = [r for r in self.records.values() if list(r.strategies) == recipe.strategies and r.history]
        return _full_seconds(done[0], recipe.epochs) if done else math.inf

    def final_seconds(self, winner_seconds: float) -> float:
        """Wall time of the final phase for a winner whose run takes `winner_seconds` (`TimePlan.final_seconds`)."""
        return self.time_plan.final_seconds(winner_seconds, self.full_seconds(self.base))
