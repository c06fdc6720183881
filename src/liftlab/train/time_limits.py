"""The time limits of a fit and the reasons it stops, shared by both training paths: the step loop on images
(`loop.fit`) and the head on cached features (`probe.fit_on_features`). Both read one clock through a
`TimeLimits`, so that a run planned to a deadline ends the same way whichever path trains it, and both write
the same stop records (`extra["stopped_by_time"]`, `extra["annealed_by_time"]`, `stopped_reason`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from liftlab.config import ScheduleConfig
from liftlab.train.schedules import lr_at, schedule_step


@dataclass(frozen=True)
class StepPace:
    """Where a step stands against the limits, from one clock reading: the seconds trained so far, whether
    `max_seconds` has passed, and the schedule's position (which reaches its end early when `anneal_within`
    runs ahead of the steps)."""

    elapsed: float
    over_limit: bool
    position: int
    schedule_ended: bool


class TimeLimits:
    """`max_seconds` (stop once that much time has passed; the schedule still spans every epoch) and
    `anneal_within` (end the schedule by then instead: see `schedules.schedule_step`) over one clock, plus
    the seconds a resumed run had trained before (`seconds_before`)."""

    def __init__(
        self,
        *,
        total_steps: int,
        steps_per_epoch: int,
        base_lr: float,
        schedule: ScheduleConfig,
        max_seconds: float | None,
        anneal_within: float | None,
        clock: Callable[[], float] = time.perf_counter,
        seconds_before: float = 0.0,
    ) -> None:
        self.total_steps = total_steps
        self.steps_per_epoch = steps_per_epoch
        self.base_lr = base_lr
        self.schedule = schedule
        self.max_seconds = max_seconds
        self.anneal_within = anneal_within
        self.clock = clock
        self.seconds_before = seconds_before
        self.start = clock()

    def elapsed(self) -> float:
        return self.seconds_before + self.clock() - self.start

    def pace(self, global_step: int) -> StepPace:
        elapsed = self.elapsed()
        position = schedule_step(global_step, self.total_steps, elapsed, self.anneal_within)
        over = self.max_seconds is not None and elapsed > self.max_seconds
        return StepPace(elapsed, over, position, position >= self.total_steps)

    def lr(self, pace: StepPace) -> float:
        return lr_at(pace.position, self.total_steps, self.steps_per_epoch, self.base_lr, self.schedule)

    def out_of_time(self) -> bool:
        """Whether `max_seconds` has passed (asked after each finished epoch)."""
        return self.max_seconds is not None and self.elapsed() > self.max_seconds


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Every parameter group at `lr` times its own scale (`optimizer.parameter_groups`' `lr_scale`)."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group["lr_scale"]


def annealed_by_time(epoch: int, step: int, global_step: int) -> dict[str, int]:
    """`extra["annealed_by_time"]`: the epoch (from 1) and the step inside it at which the schedule ended."""
    return {"epoch": epoch + 1, "step": step, "steps": global_step}


def should_validate(every_epoch: bool, epoch: int, epochs: int, annealed: bool) -> bool:
    """Validate after epoch `epoch` (from 0): every epoch when asked, and always the run's last one."""
    return every_epoch or epoch + 1 == epochs or annealed


def non_finite(epoch: int, step: int | None = None, loss: float | None = None) -> str:
    """The stop reason of a run whose loss stopped being a number."""
    where = f"epoch {epoch + 1}" + (f", step {step + 1}" if step is not None else "")
    return f"non-finite loss{f' ({loss})' if loss is not None else ''} at {where}"


def cut_in_first_epoch(max_seconds: float, steps_done: int, steps_per_epoch: int) -> str:
    """The stop reason of a run whose time limit passed before it finished one epoch (nothing to keep)."""
    return (
        f"the time limit ({max_seconds:.0f} s) passed inside its first epoch, after {steps_done} of "
        f"{steps_per_epoch} steps"
    )
