"""What every phase of `improve` needs and nothing more: the settings, the baseline, the clock, the trainer,
the plan log (each decision written once, so a rerun makes the same decisions and finds the same runs), the
step log and the time plan. The phases read it and return their own typed results (`phase_results.py`);
none writes into it except through the plan log's write-once `remember` and the step log's `add`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from liftlab.config import Recipe, with_values
from liftlab.errors import BadInputError
from liftlab.evaluate.evaluation import BusinessQuestion
from liftlab.experiments.capacity import Capacity
from liftlab.experiments.improve.budget import Clock
from liftlab.experiments.improve.step_timing import Timings
from liftlab.experiments.improve.time_plan import TimePlan
from liftlab.experiments.improve.trainer import StoreTrainer, TrainedBatch, Trainer
from liftlab.experiments.session import Session
from liftlab.experiments.store import RunStore
from liftlab.experiments.tracking import Tracker
from liftlab.io import write_json
from liftlab.records import RunRecord, Step
from liftlab.records.search import Rung
from liftlab.train.export import FORMATS, needs_onnx


@dataclass(frozen=True)
class ImproveSettings:
    budget_s: float = 1200.0
    target: float | None = None
    seeds: int = 2
    max_arms: int = 6
    workers: int | None = None
    question: BusinessQuestion | None = None
    profile: bool = False  # choose the baseline from the data (experiments/improve/profile.py); off with a --recipe
    overrides: tuple[str, ...] = ()  # the user's --set, applied on top of the profile
    skip_bad: bool = False
    quiet: bool = True
    command: str = ""
    export: str | None = None  # write best/ as OUT/best.onnx or best.pt at the end (`train/export.py`)
    track: str | None = None  # MLflow tracking URI (`experiments/tracking.py`); None: LIFTLAB_TRACKING_URI or none

    def __post_init__(self) -> None:
        if self.budget_s < 30:
            raise BadInputError(f"--budget: expected at least 30s, found {self.budget_s:g}s")
        if self.seeds < 1:
            raise BadInputError(f"--seeds: expected at least 1, found {self.seeds}")
        if self.target is not None and not 0 < self.target <= 1:
            raise BadInputError(f"--target: expected an accuracy in (0, 1], found {self.target}")
        if self.export is not None:  # refused before the budget is spent, not after
            if self.export not in FORMATS:
                raise BadInputError(f"--export: expected one of {', '.join(FORMATS)}, found {self.export!r}")
            if self.export == "onnx":
                needs_onnx()


class PlanLog:
    """`plan.json`: each decision of the plan (fractions, seeds, the stack, the fine-tune's plan) written the
    first time it is made and read back ever after, so a rerun in the same folder resumes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._values: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
        self.found = bool(self._values)  # an earlier invocation in this folder wrote it

    def remember(self, key: str, value: Any) -> Any:
        """`value` the first time `key` is decided, else what was decided then."""
        if key not in self._values:
            self._values[key] = value
            write_json(self.path, self._values)
        return self._values[key]

    def get(self, key: str) -> Any:
        return self._values.get(key)

    def __contains__(self, key: str) -> bool:
        return key in self._values

    def adopt(self, base: Recipe, out: Path) -> None:
        """Fix the baseline recipe; a folder holding another baseline's plan is refused."""
        found = base.model_dump(mode="json")
        if self.remember("base", found) != found:
            raise BadInputError(
                f"--out {out}: holds an improve run of another baseline recipe; choose another --out to start afresh"
            )


@dataclass
class StepLog:
    """The steps `improve` took, each with its seconds and the second of the budget it ended at."""

    clock: Clock
    on_step: Callable[[Step], None] = lambda step: None
    steps: list[Step] = field(default_factory=list)
    ends: list[tuple[str, float]] = field(default_factory=list)

    def add(self, phase: str, detail: str, started: float, trained: int = 0, reused: int = 0) -> None:
        step = Step(phase, detail, round(self.clock.used() - started, 2), trained, reused)
        self.steps.append(step)
        self.ends.append((phase, self.clock.used()))
        self.on_step(step)

    def batch(self, phase: str, detail: str, started: float, batches: list[TrainedBatch]) -> None:
        """A step that trained `batches`: their runs trained and reused counted in it."""
        self.add(phase, detail, started, sum(b.trained for b in batches), sum(b.reused for b in batches))


def full_seconds(record: RunRecord, epochs: int) -> float:
    """Seconds a run of `epochs` epochs takes, from a (possibly shorter) run's epoch times.

    >>> full_seconds(RunRecord("a", 1, (), 0.5, None, (), 4.0, epoch_seconds=(2.0, 2.0)), 10)
    20.0
    """
    times = record.epoch_seconds or (record.seconds,)
    return float(np.mean(times)) * epochs


@dataclass(frozen=True)
class ImproveContext:
    spec: str
    base: Recipe
    settings: ImproveSettings
    out: Path
    clock: Clock
    trainer: Trainer
    plan: PlanLog
    log: StepLog
    capacity: Capacity
    timings: Timings

    @property
    def workers(self) -> int:
        return self.capacity.workers

    @property
    def time_plan(self) -> TimePlan:
        return TimePlan(self.settings.budget_s, self.settings.seeds, self.workers, self.capacity.slowdown)

    def step(self, phase: str, detail: str, started: float, trained: int = 0, reused: int = 0) -> None:
        self.log.add(phase, detail, started, trained, reused)

    def remember(self, key: str, value: Any) -> Any:
        return self.plan.remember(key, value)

    def added(self, recipe: Recipe) -> list[str]:
        """The strategies `recipe` applies on top of the baseline."""
        return recipe.strategies[len(self.base.strategies) :]

    def rung_record(self, name: str, recipe: Recipe, rung: Rung) -> RunRecord | None:
        """The stored run of arm `name` (recipe `recipe`) at `rung`'s epochs: the run a later challenger is
        compared with, image by image."""
        return self.trainer.record_of(with_values(recipe, {"epochs": rung.epochs.get(name, recipe.epochs)}))

    def full_seconds(self, recipe: Recipe) -> float:
        """Seconds one search run of `recipe` at its full epochs takes, from runs of it done so far (inf when
        none is)."""
        done = [r for r in self.trainer.records().values() if list(r.strategies) == recipe.strategies and r.history]
        return full_seconds(done[0], recipe.epochs) if done else math.inf


def open_context(
    spec: str,
    base: Recipe,
    settings: ImproveSettings,
    out: Path,
    clock: Clock,
    log: StepLog,
    tracker: Tracker | None = None,
) -> tuple[ImproveContext, Session]:
    """The real context for `out`: its plan log (refused when it holds another baseline's plan), the run store
    in it, the machine's capacity (measured once per machine). Also returns the session, whose ledger counts
    what this invocation trained."""
    plan = PlanLog(out / "plan.json")
    plan.adopt(base, out)
    session = Session(RunStore.in_folder(out), settings.workers, tracker)
    trainer = StoreTrainer(spec, out, session, settings.skip_bad)
    context = ImproveContext(spec, base, settings, out, clock, trainer, plan, log, session.capacity, Timings())
    return context, session
