"""The one owner of `improve`'s time budget: what each phase may spend, from the budget and what has been
measured. Every share and margin of the budget is a constant here, with the reason it has its value; the
phases ask a `TimePlan` (pure: no clock, no I/O), and the clock (`budget.Clock`) says how much is used.

The phases in order and their shares: the data check and the profile take what they take; the diagnosis at
most DIAGNOSIS_SHARE; the search until SEARCH_ENDS of the budget (a probe search until PROBE_SEARCH_ENDS at
the latest, so that the fine-tune gets the rest); the final runs what is left after the reserve; the
evaluation and the report the reserve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from liftlab.evaluate.robustness import CORRUPTIONS, SEVERITIES

DIAGNOSIS_SHARE = 0.3
"""The diagnosis skips its costlier checks (the learning curve, the LR check) rather than use more than this
share of the budget: the search and the final runs are where the lift is found and proved."""
SEARCH_ENDS = 0.65
"""Share of the budget by which a from-scratch search stops; the rest trains and tests the finalists (two
fresh pairs of the winner and the baseline, each about a search run's time, and the evaluation)."""
COST_CAP = 3.0
"""A search run may take at most this many times the baseline's seconds per epoch: a remedy that costs far
more (a large pretrained network on a CPU) is cut and compared at equal time, not allowed to eat the budget."""
RESERVE_SHARE = 0.05
RESERVE_MIN_S = 10.0
"""Seconds kept for the evaluation and the report: this share of the budget, and never less than the minimum
(writing the report and its plots takes a few seconds whatever the budget)."""
UNMEASURED_RUN_SHARE = 0.1
"""A final run whose recipe was never timed (none of its search runs kept a history) is planned at this share
of the budget: a guess that lets one fresh pair fit in most budgets rather than none."""
CORRUPTION_PASSES = 1 + len(CORRUPTIONS) * len(SEVERITIES)
"""Passes over the test split the evaluation's robustness curves make: the clean images and every corruption
at every severity (`evaluate.robustness`)."""

PROBE_SEARCH_ENDS = 0.35
"""For a probe baseline, the search among probes (seconds each once the features are cached) stops at this
share of the budget; fine-tuning the winner, tens of times costlier per epoch, gets the rest."""

START_SECONDS = 10.0
"""What a fine-tuning run costs besides its epochs: loading the cached images, building the network, writing
its run folder (3.3 s for TrashNet at 224 px here, timed around `run_job`), and scoring the test split in
the final phase (2 s)."""

PLAN_MARGIN = 0.9
"""Epochs are planned as if each took this many times its prediction, a little fewer seconds than predicted:
the fine-tune's schedule ends by the time it was given (`schedules.schedule_step`), so a slower machine
trains fewer steps, annealed, instead of being cut and dropped, and a plan slightly past the prediction
costs nothing but steps. Predictions miss both ways on these shared machines: on CIFAR-10 (Lite0, 9,000
images) 14 epochs predicted at 48 s each took 47-77 s, and 4 predicted at 135 s took 112 s each; on TrashNet
15 predicted at 70 s took 72 s. Before the schedule ended by time, this was 1.25 (a plan to the edge of the
budget was cut by the deadline in 2 of 3 TrashNet runs at 10 minutes), which left a fifth of the time the
fine-tune was given unused whenever the prediction was right or high: the CIFAR-10 run of 2026-12-06 ended
with 326 of 1,200 s unused."""

PROBE_SEARCH_MIN = 0.05
"""When the fine-tune needs the whole budget, the probe search still gets this share: the arms on cached
features cost a second or two each."""


def probe_search_share(
    budget_s: float, used_s: float, need_s: float, minimum_s: float, kept_s: float
) -> tuple[float, bool]:
    """(share of the budget at which the probe search ends, whether a fine-tune is planned after it).

    The search ends where the fine-tune's preferred plan (`need_s`, `finetune_need`) still fits before what
    must follow it (`kept_s`: the final runs' baselines and the evaluation's reserve), at PROBE_SEARCH_ENDS at
    the latest and PROBE_SEARCH_MIN after now at the earliest. When not even the cheapest fine-tune
    (`minimum_s`) fits, no fine-tune follows, and the search gets all the time until `kept_s`: the budget goes
    to probes that fit (another backbone, flips, test-time views), not unused. (On a 10,899-image scene set at
    `--budget 10m` the fine-tune was skipped after the search, "212 s an epoch, 258 s left", and 303 s of 600
    went unused while probes had been left out for their feature extraction.)

    >>> probe_search_share(1200, 60, 400, 150, 100)
    (0.35, True)
    >>> probe_search_share(600, 60, 1900, 700, 60)
    (0.9, False)
    """
    floor = used_s / budget_s + PROBE_SEARCH_MIN
    if used_s + minimum_s + kept_s > budget_s:
        return max(floor, (budget_s - kept_s) / budget_s), False
    return max(floor, min(PROBE_SEARCH_ENDS, (budget_s - need_s - kept_s) / budget_s)), True


@dataclass(frozen=True)
class TimePlan:
    """What the phases of one `improve` may spend: `budget_s` (--budget), `seeds` (--seeds, the final pairs
    wanted), and the worker pool measured on this machine (`workers` side by side, each `slowdown` times slower
    than a run alone)."""

    budget_s: float
    seeds: int = 2
    workers: int = 1
    slowdown: float = 1.0

    def diagnosis_seconds(self) -> float:
        return self.budget_s * DIAGNOSIS_SHARE

    def reserve(self) -> float:
        """Seconds kept for the evaluation and the report.

        >>> TimePlan(1200).reserve(), TimePlan(60).reserve()
        (60.0, 10.0)
        """
        return max(RESERVE_MIN_S, RESERVE_SHARE * self.budget_s)

    def search_ends(self, probe: bool, probe_search_end: float | None = None) -> float:
        """Share of the budget by which the search stops: for a `probe` search, `probe_search_end` (set by the
        transfer plan from the fine-tune's needs, `probe_search_share`) or PROBE_SEARCH_ENDS; else SEARCH_ENDS.

        >>> TimePlan(600).search_ends(False), TimePlan(600).search_ends(True), TimePlan(600).search_ends(True, 0.2)
        (0.65, 0.35, 0.2)
        """
        if not probe:
            return SEARCH_ENDS
        return PROBE_SEARCH_ENDS if probe_search_end is None else probe_search_end

    def epoch_cap(self, baseline_seconds: float, baseline_epochs: int) -> float:
        """Most seconds per epoch a search run may take: COST_CAP times the baseline's, in a worker.

        >>> TimePlan(600, workers=2, slowdown=1.5).epoch_cap(100.0, 10)
        45.0
        """
        return COST_CAP * baseline_seconds / max(baseline_epochs, 1) * self.slowdown

    def wall_seconds(self, run_seconds: list[float]) -> float:
        """Wall time of runs timed in the worker pool when run side by side.

        >>> TimePlan(600, workers=2).wall_seconds([10.0, 20.0, 30.0])
        30.0
        """
        return sum(run_seconds) / min(self.workers, max(len(run_seconds), 1))

    def run_seconds(self, measured: float) -> float:
        """A final run's seconds: as measured, or UNMEASURED_RUN_SHARE of the budget when never timed."""
        return measured if math.isfinite(measured) else self.budget_s * UNMEASURED_RUN_SHARE

    def final_seconds(self, winner_seconds: float, baseline_seconds: float) -> float:
        """Wall time of the final phase: --seeds pairs of the winner and the baseline, side by side in the pool
        (the baseline taken at the winner's time when it was never timed).

        >>> TimePlan(600, seeds=2, workers=2).final_seconds(30.0, 10.0)
        40.0
        """
        baseline = winner_seconds if math.isinf(baseline_seconds) else baseline_seconds
        return self.seeds * (winner_seconds + baseline) / self.workers

    def spendable(self, left_s: float, share_of_reserve: float = 1.0) -> float:
        """Of `left_s` seconds, what a phase may spend with (this share of) the reserve kept."""
        return left_s - self.reserve() * share_of_reserve

    def fits(self, left_s: float, need_s: float, share_of_reserve: float = 1.0) -> bool:
        """Whether a step of `need_s` seconds fits in `left_s` with (this share of) the reserve kept."""
        return self.spendable(left_s, share_of_reserve) > need_s

    def corruption_seconds(self, test_images: int, image_seconds: float, networks: int) -> float:
        """Seconds of the evaluation's robustness curves: CORRUPTION_PASSES over the test split, per network."""
        return CORRUPTION_PASSES * test_images * image_seconds * networks

    def probe_search_share(self, used_s: float, need_s: float, minimum_s: float, kept_s: float) -> tuple[float, bool]:
        """`probe_search_share` for this budget."""
        return probe_search_share(self.budget_s, used_s, need_s, minimum_s, kept_s)
