"""Learning-rate schedules as pure functions of the step (nanoGPT style): easy to test, resume and plot."""

from __future__ import annotations

import math

from liftlab.config import ScheduleConfig


def lr_at(step: int, total_steps: int, steps_per_epoch: int, base_lr: float, schedule: ScheduleConfig) -> float:
    """Learning rate for optimizer step `step` (0-based) of `total_steps`.

    Warm-up (if any) ramps linearly from base_lr/10 to the schedule's value.

    >>> lr_at(0, 100, 10, 0.1, ScheduleConfig(name="cosine"))
    0.1
    >>> round(lr_at(50, 100, 10, 0.1, ScheduleConfig(name="cosine")), 4)
    0.05
    """
    total_steps = max(total_steps, 1)
    progress = min(step / total_steps, 1.0)
    if schedule.name == "constant":
        lr = base_lr
    elif schedule.name == "step":
        lr = base_lr * schedule.gamma ** math.floor(step / (schedule.step_every * steps_per_epoch))
    elif schedule.name == "cosine":
        lr = base_lr * 0.5 * (1.0 + math.cos(math.pi * progress))
    elif schedule.name == "onecycle":
        # Up from base/10 over the first 30%, then linearly down to zero.
        peak = 0.3
        lr = base_lr * (0.1 + 0.9 * progress / peak) if progress < peak else base_lr * (1 - progress) / (1 - peak)
    elif schedule.name == "triangle":
        # airbench's warm-up then linear decay: start_factor -> 1 at peak_at, then down to end_factor.
        peak = int(schedule.peak_at * total_steps)
        if step < peak:
            lr = base_lr * (schedule.start_factor + (1 - schedule.start_factor) * step / peak)
        else:
            lr = base_lr * (1 + (schedule.end_factor - 1) * (step - peak) / max(total_steps - peak, 1))
    else:
        raise ValueError(f"schedule.name {schedule.name!r}: expected constant, step, cosine, onecycle or triangle")
    warmup_steps = schedule.warmup_epochs * steps_per_epoch
    if step < warmup_steps:
        lr *= 0.1 + 0.9 * step / warmup_steps
    return lr


def schedule_step(step: int, total_steps: int, elapsed: float, within: float | None = None) -> int:
    """The step of the schedule that applies at optimizer step `step` after `elapsed` seconds: the step itself,
    or, for a schedule that must end within `within` seconds (a fine-tune planned to the edge of a time
    budget), the elapsed share of that time when it runs ahead of the steps' share. Training ends, annealed,
    once this reaches `total_steps`: a slower machine trains fewer steps instead of being cut mid-schedule.

    >>> schedule_step(10, 100, 5.0), schedule_step(10, 100, 50.0, 100.0), schedule_step(60, 100, 50.0, 100.0)
    (10, 50, 60)
    >>> schedule_step(90, 100, 101.0, 100.0)
    101
    """
    if within is None or within <= 0:
        return step
    return max(step, math.floor(total_steps * elapsed / within))
