"""The time plan on fake numbers and a clock set back by hand: what each phase may spend, and how the shares
answer as the budget is used up."""

from __future__ import annotations

import math
import time

import pytest

from liftlab.experiments.improve.budget import Clock
from liftlab.experiments.improve.time_plan import (
    CORRUPTION_PASSES,
    COST_CAP,
    DIAGNOSIS_SHARE,
    PROBE_SEARCH_ENDS,
    PROBE_SEARCH_MIN,
    SEARCH_ENDS,
    UNMEASURED_RUN_SHARE,
    TimePlan,
    probe_search_share,
)


def _clock(budget_s: float, used_s: float) -> Clock:
    """A clock whose budget began `used_s` seconds ago."""
    return Clock(budget_s, started=time.perf_counter() - used_s)


def test_each_phase_gets_its_share_of_the_budget() -> None:
    plan = TimePlan(1200, seeds=2, workers=2, slowdown=1.25)
    assert plan.diagnosis_seconds() == 1200 * DIAGNOSIS_SHARE
    assert plan.reserve() == 60.0 and TimePlan(100).reserve() == 10.0  # never below the report's few seconds
    assert plan.search_ends(probe=False) == SEARCH_ENDS
    assert plan.search_ends(probe=True) == PROBE_SEARCH_ENDS
    assert plan.search_ends(probe=True, probe_search_end=0.5) == 0.5
    # a search run may cost COST_CAP times the baseline's epoch, measured alone, slowed in a worker
    assert plan.epoch_cap(baseline_seconds=40.0, baseline_epochs=10) == pytest.approx(COST_CAP * 4.0 * 1.25)
    assert CORRUPTION_PASSES == 31  # clean + 6 corruptions x 5 severities
    assert plan.corruption_seconds(200, 0.01, networks=2) == pytest.approx(31 * 200 * 0.01 * 2)


def test_the_search_stops_at_its_share_whatever_the_clock_says() -> None:
    plan = TimePlan(600)
    clock = _clock(600, used_s=300)
    assert clock.left_until(plan.search_ends(probe=False)) == pytest.approx(600 * SEARCH_ENDS - 300, abs=0.5)
    late = _clock(600, used_s=500)
    assert late.left_until(plan.search_ends(probe=False)) < 0  # past the share: nothing more to search
    assert plan.fits(late.left(), 60) and not plan.fits(late.left(), 75)  # the reserve (30 s) is kept
    assert plan.fits(late.left(), 80, share_of_reserve=0.5) and not plan.fits(late.left(), 86, share_of_reserve=0.5)


def test_final_runs_are_planned_from_what_was_measured() -> None:
    plan = TimePlan(1000, seeds=3, workers=2)
    assert plan.final_seconds(winner_seconds=50.0, baseline_seconds=30.0) == pytest.approx(3 * 80 / 2)
    assert plan.final_seconds(50.0, math.inf) == pytest.approx(3 * 100 / 2)  # baseline never timed: the winner's
    assert plan.run_seconds(42.0) == 42.0 and plan.run_seconds(math.inf) == 1000 * UNMEASURED_RUN_SHARE
    assert plan.wall_seconds([10.0, 20.0, 30.0]) == 30.0 and TimePlan(1000, workers=4).wall_seconds([8.0]) == 8.0


@pytest.mark.parametrize(
    ("used", "need", "minimum", "kept", "expected"),
    [
        (60, 400, 150, 100, (PROBE_SEARCH_ENDS, True)),  # room for everything: the search ends at its share
        (60, 700, 150, 100, ((1200 - 700 - 100) / 1200, True)),  # the fine-tune's preferred plan moves it earlier
        (400, 900, 150, 100, (400 / 1200 + PROBE_SEARCH_MIN, True)),  # never less than the minimum after now
        (60, 1900, 1200, 100, ((1200 - 100) / 1200, False)),  # no fine-tune fits: the probes get the time
    ],
)
def test_the_probe_search_share_leaves_the_fine_tune_its_plan(
    used: float, need: float, minimum: float, kept: float, expected: tuple[float, bool]
) -> None:
    share, fits = TimePlan(1200).probe_search_share(used, need, minimum, kept)
    assert (share, fits) == (pytest.approx(expected[0]), expected[1])
    assert (share, fits) == probe_search_share(1200, used, need, minimum, kept)
