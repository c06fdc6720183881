"""`TimeLimits`, the one reading of the clock both training paths use, with a fake clock."""

from __future__ import annotations

from liftlab.config import ScheduleConfig
from liftlab.train.time_limits import TimeLimits, non_finite, should_validate


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def limits(clock: Clock, **kwargs: float | None) -> TimeLimits:
    settings = {"max_seconds": None, "anneal_within": None, "seconds_before": 0.0} | kwargs
    return TimeLimits(total_steps=100, steps_per_epoch=10, base_lr=1.0, schedule=ScheduleConfig(name="cosine"),
                      clock=clock, **settings)  # fmt: skip


def test_the_schedule_ends_by_time_when_the_elapsed_share_runs_ahead_of_the_steps() -> None:
    clock = Clock()
    ahead = limits(clock, anneal_within=50.0)
    clock.now += 25.0  # half the time gone after 10 of 100 steps: the schedule stands at its middle
    pace = ahead.pace(10)
    assert (pace.elapsed, pace.position, pace.schedule_ended, pace.over_limit) == (25.0, 50, False, False)
    assert abs(ahead.lr(pace) - 0.5) < 1e-9, "cosine at its middle"
    clock.now += 25.0
    assert ahead.pace(11).schedule_ended
    plain = limits(clock)
    clock.now += 1e6  # without anneal_within time never moves the schedule
    assert plain.pace(10).position == 10 and not plain.pace(99).schedule_ended and not plain.out_of_time()


def test_max_seconds_counts_a_resumed_runs_earlier_seconds() -> None:
    clock = Clock()
    resumed = limits(clock, max_seconds=60.0, seconds_before=50.0)
    clock.now += 5.0
    assert not resumed.pace(0).over_limit and not resumed.out_of_time()
    clock.now += 6.0
    assert resumed.pace(1).over_limit and resumed.out_of_time() and resumed.elapsed() == 61.0


def test_the_last_epoch_is_always_validated_and_a_stop_says_where() -> None:
    assert [should_validate(False, e, 3, False) for e in range(3)] == [False, False, True]
    assert should_validate(False, 0, 3, True) and should_validate(True, 0, 3, False)
    assert non_finite(1) == "non-finite loss at epoch 2"
    assert non_finite(0, 4, float("nan")) == "non-finite loss (nan) at epoch 1, step 5"
