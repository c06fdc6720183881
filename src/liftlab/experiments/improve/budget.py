"""A wall-clock budget: parsed from "20m"-style text, and split between the phases of `liftlab improve`."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable

from liftlab.errors import BadInputError

UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_budget(text: str) -> float:
    """Seconds in a budget such as "90s", "20m", "1h30m" or a plain number of seconds.

    >>> parse_budget("1h30m"), parse_budget("20m"), parse_budget("45")
    (5400.0, 1200.0, 45.0)
    """
    cleaned = text.strip().lower().replace(" ", "")
    try:
        seconds = float(cleaned)
    except ValueError:
        parts = re.fullmatch(r"((\d+(\.\d+)?)[hms])+", cleaned)
        if not parts:
            raise BadInputError(f"--budget {text!r}: expected a duration like 90s, 20m or 1h30m") from None
        seconds = sum(float(n) * UNITS[u] for n, _, u in re.findall(r"(\d+(\.\d+)?)([hms])", cleaned))
    if seconds <= 0:
        raise BadInputError(f"--budget {text!r}: expected a positive duration")
    return seconds


class Clock:
    """Seconds used since start and left of the budget, and what is left before a phase's share ends."""

    def __init__(
        self, budget_s: float, started: float | None = None, timer: Callable[[], float] = time.perf_counter
    ) -> None:
        """`started`: the `timer()` reading at which the budget began (now by default). `timer`: where the
        seconds come from; the phases' tests give a fake one that their fake trainer moves on."""
        self.budget_s = budget_s
        self.timer = timer
        self.start = timer() if started is None else started

    def used(self) -> float:
        return self.timer() - self.start

    def left(self) -> float:
        return self.budget_s - self.used()

    def left_until(self, share: float) -> float:
        """Seconds left before `share` (0-1) of the whole budget is used."""
        return self.budget_s * share - self.used()


FULL_USE = 0.9
"""`improve` uses at least this share of its budget, or says why it ended early."""


def early_end_reason(
    budget_s: float,
    used_s: float,
    fresh_pair_s: float,
    target_reached: bool,
    seeds_run: int,
    seeds_asked: int,
    unfit: str | None = None,
) -> str | None:
    """Why `improve` ended with more than a tenth of its budget left, or None when it used at least FULL_USE.
    `fresh_pair_s`: wall seconds of one more pair of final runs (the winner and the baseline on a new seed),
    the cheapest step left that is predicted to help; `seeds_run` of the `seeds_asked` (--seeds) final seeds ran;
    `unfit`: a step that could not fit (the fine-tune), named in the reason.

    >>> early_end_reason(1800, 1700, 1000, False, 1, 3) is None
    True
    >>> early_end_reason(1800, 1467, 1050, False, 1, 3)[:72]
    '333 s of 1800 s left: a fresh seed of the winner and the baseline needs '
    >>> early_end_reason(180, 139, 15, False, 3, 3)
    '41 s of 180 s left: the final runs had all 3 seeds --seeds asks for, and no other step is predicted to help'
    """
    left = budget_s - used_s
    if used_s >= FULL_USE * budget_s:
        return None
    reason = _early_end(budget_s, left, fresh_pair_s, target_reached, seeds_run, seeds_asked)
    return f"{reason}; {unfit}" if unfit and not target_reached else reason


def _early_end(
    budget_s: float, left: float, fresh_pair_s: float, target_reached: bool, seeds_run: int, seeds_asked: int
) -> str:
    if target_reached:
        return f"{left:.0f} s of {budget_s:.0f} s left: the target was reached"
    if seeds_run >= seeds_asked:
        return (
            f"{left:.0f} s of {budget_s:.0f} s left: the final runs had all {seeds_asked} seeds --seeds asks for, "
            "and no other step is predicted to help"
        )
    if math.isfinite(fresh_pair_s) and fresh_pair_s > left:
        return (
            f"{left:.0f} s of {budget_s:.0f} s left: a fresh seed of the winner and the baseline needs "
            f"{fresh_pair_s:.0f} s, and no other step is predicted to help"
        )
    if math.isfinite(fresh_pair_s):
        return (
            f"{left:.0f} s of {budget_s:.0f} s left: {seeds_run} of {seeds_asked} final seeds ran; one more pair "
            f"of the winner and the baseline needs {fresh_pair_s:.0f} s, more than was left once the evaluation "
            "and the report had their share"
        )
    return f"{left:.0f} s of {budget_s:.0f} s left: no step that is predicted to help is left to run"


OVERRUN_SHARE, OVERRUN_SECONDS = 0.02, 10.0
"""`improve` ends within its budget plus the larger of these (2%, or 10 s on a small budget), or says why not."""


def overrun_reason(budget_s: float, used_s: float, step_ends: list[tuple[str, float]]) -> str | None:
    """Why `improve` used more than its budget allows, or None when it kept the promise. `step_ends`: each step's
    phase and the second of the budget at which it ended, in order; the step during which the budget ran out is
    named, with how far each later step carried it.

    >>> overrun_reason(600, 605, [("search", 400.0), ("final", 605.0)]) is None
    True
    >>> overrun_reason(600, 640, [("search", 400.0), ("final", 590.0), ("evaluation", 640.0)])
    'used 640 s of 600 s, 40 s (6.7%) over: the budget ran out during evaluation (from 590 s to 640 s)'
    """
    over = used_s - budget_s
    if over <= max(OVERRUN_SHARE * budget_s, OVERRUN_SECONDS):
        return None
    started = 0.0
    for phase, ended in step_ends:
        if ended > budget_s:
            return (
                f"used {used_s:.0f} s of {budget_s:.0f} s, {over:.0f} s ({100 * over / budget_s:.1f}%) over: the "
                f"budget ran out during {phase} (from {started:.0f} s to {ended:.0f} s)"
            )
        started = ended
    return f"used {used_s:.0f} s of {budget_s:.0f} s, {over:.0f} s over: the report and the files took the rest"
