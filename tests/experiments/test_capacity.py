"""Capacity by measurement (issue 18, item 4): the verdict from fake timings, one worker per GPU, the cache,
and a worker count the user asked for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from liftlab.experiments.capacity import Capacity, decide, machine_capacity, worker_counts


def test_side_by_side_is_chosen_only_when_it_finishes_a_plan_clearly_sooner() -> None:
    assert decide(2, 0, 1.0, {2: 1.6}) == Capacity(2, 1.25, "measured")
    assert decide(2, 0, 1.0, {2: 1.9}).workers == 1, "5% sooner is not worth a second process"
    assert decide(16, 0, 1.0, {2: 1.1, 4: 1.5, 8: 2.2, 16: 4.3}).workers == 8
    assert decide(1, 0, 0.0, {}) == Capacity(1, 1.0, "one core")


def test_one_worker_per_gpu_whatever_the_cores() -> None:
    assert decide(16, 1, 0.0, {}).workers == 1 and decide(64, 4, 0.0, {}).workers == 4


def test_slowdown_follows_from_workers_and_speedup() -> None:
    verdict = decide(2, 0, 1.0, {2: 1.6})
    assert verdict.slowdown == pytest.approx(1.6)
    assert verdict.with_workers(1) == Capacity(1, 1.0, "requested")
    assert verdict.with_workers(4).speedup == 1.25, "no more speedup than measured"
    assert verdict.with_workers(None) is verdict


def test_the_verdict_is_measured_once_per_machine_and_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    calls: list[list[int]] = []

    def fake(cores: int, counts: list[int]) -> tuple[float, dict[int, float]]:
        calls.append(counts)
        return 1.0, {2: 1.5, 4: 3.5}

    first = machine_capacity(tmp_path, fake)
    again = machine_capacity(tmp_path, fake)
    assert calls == [worker_counts(4)] == [[2, 4]], "measured once"
    assert (first.workers, first.speedup, first.source) == (2, 1.33, "measured")
    assert (again.workers, again.speedup, again.source) == (2, 1.33, "cached")
    assert len(json.loads((tmp_path / "capacity.json").read_text())) == 1
