"""The report's two-sentence verdict says rose, fell or no reliable lift from the lift's interval."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from liftlab.records import Exported, ImproveResult, RunSummary
from liftlab.report.improve import verdict

STORED = Path(__file__).resolve().parents[1] / "records" / "format1" / "improve.json"


def _result(value: float, low: float, high: float) -> ImproveResult:
    """A stored improve.json with the lift, the recipes and the effects set for the case at hand."""
    stored = ImproveResult.from_json(json.loads(STORED.read_text()))
    return replace(
        stored,
        lift={"value": value, "ci95": [low, high]},
        baseline=replace(stored.baseline, test_acc=0.6, strategies=()),
        best=replace(stored.best, name="flip", test_acc=0.6 + value, strategies=("flip",), runs=()),
        effects={"helped": ["flip"], "hurt": ["crop"], "unclear": []},
        target=0.9,
        target_reached=False,
    )


@pytest.mark.parametrize(
    ("interval", "expected"),
    [((0.05, 0.03, 0.07), "rose"), ((-0.05, -0.07, -0.03), "fell"), ((0.01, -0.01, 0.03), "no reliable lift")],
)
def test_verdict_follows_the_interval(interval: tuple[float, float, float], expected: str) -> None:
    first, second = verdict(_result(*interval))
    assert expected in first and "with flip" in first
    assert second == "Helped in the search: flip; hurt: crop. Target 90.00% (by the exported model): not reached."


def test_verdict_states_what_was_compared_and_the_compute_ratio() -> None:
    result = _result(0.05, 0.03, 0.07)
    result.lift.update({"scope": "model comparison, one seed (seed-to-seed variation not measured), test split",
                        "compute_ratio": 3.4})  # fmt: skip
    first, _ = verdict(result)
    assert "model comparison, one seed" in first and "3.4x the baseline's time" in first


def test_the_headline_names_the_exported_model_apart_from_the_recipes_mean() -> None:
    # issue 17, item 11: two final seeds average 65%; the exported model (seed 1) scores 63% on its own.
    result = _result(0.05, 0.03, 0.07)
    runs = tuple(RunSummary(seed, 0.6, 0.65, (), 1.0) for seed in (1, 2))
    exported_model = Exported(seed=1, test_acc=0.63, ci95=(0.58, 0.68), folder="out/best")
    result = replace(result, best=replace(result.best, runs=runs, exported=exported_model))
    exported, first, _ = verdict(result)
    assert "seed 1" in exported and "63.00%" in exported and "58.00% to 68.00%" in exported
    assert "mean of 2 final seeds" in first and "65.00%" in first
