from __future__ import annotations

import itertools

import pytest

from liftlab.config import ScheduleConfig
from liftlab.train import lr_at


def test_constant_and_step() -> None:
    assert lr_at(57, 100, 10, 0.1, ScheduleConfig(name="constant")) == 0.1
    step = ScheduleConfig(name="step", step_every=3, gamma=0.5)
    assert [lr_at(s, 100, 10, 0.4, step) for s in (0, 29, 30, 60)] == [0.4, 0.4, 0.2, 0.1]


def test_cosine_goes_from_base_to_zero() -> None:
    schedule = ScheduleConfig(name="cosine")
    values = [lr_at(s, 100, 10, 1.0, schedule) for s in range(101)]
    assert values[0] == 1.0 and values[100] == pytest.approx(0.0, abs=1e-12)
    assert values[50] == pytest.approx(0.5)
    assert all(a >= b for a, b in itertools.pairwise(values))


def test_onecycle_rises_to_base_then_falls() -> None:
    schedule = ScheduleConfig(name="onecycle")
    values = [lr_at(s, 100, 10, 1.0, schedule) for s in range(100)]
    peak = max(range(100), key=lambda s: values[s])
    assert 25 <= peak <= 31 and values[peak] == pytest.approx(1.0, abs=0.04)
    assert values[0] == pytest.approx(0.1) and values[99] < 0.02


def test_warmup_ramps_linearly_from_a_tenth() -> None:
    schedule = ScheduleConfig(name="constant", warmup_epochs=2)
    assert lr_at(0, 100, 10, 1.0, schedule) == pytest.approx(0.1)
    assert lr_at(10, 100, 10, 1.0, schedule) == pytest.approx(0.55)
    assert lr_at(20, 100, 10, 1.0, schedule) == 1.0


def test_triangle_warms_up_then_decays_linearly() -> None:
    schedule = ScheduleConfig(name="triangle", start_factor=0.2, peak_at=0.25, end_factor=0.1)
    values = [lr_at(s, 100, 10, 2.0, schedule) for s in range(101)]
    assert values[0] == pytest.approx(0.4) and values[25] == pytest.approx(2.0) and values[100] == pytest.approx(0.2)
    assert all(a < b for a, b in itertools.pairwise(values[:26]))
    assert all(a > b for a, b in itertools.pairwise(values[25:]))
    assert values[60] - values[61] == pytest.approx(values[90] - values[91]), "linear decay"


def test_a_schedule_ended_by_time_follows_the_clock_when_it_runs_ahead_of_the_steps() -> None:
    from liftlab.train.schedules import schedule_step

    assert schedule_step(30, 100, elapsed=999.0) == 30, "no time limit: the step itself"
    assert schedule_step(30, 100, elapsed=10.0, within=100.0) == 30, "the steps ahead of the clock"
    assert schedule_step(30, 100, elapsed=75.0, within=100.0) == 75, "a slow machine: the clock ahead"
    assert schedule_step(30, 100, elapsed=100.0, within=100.0) >= 100, "the time is up: the schedule has ended"
    # the clock only moves the schedule forward, never back
    steps = [schedule_step(s, 100, elapsed=s * 1.5, within=100.0) for s in range(0, 70)]
    assert steps == sorted(steps)
