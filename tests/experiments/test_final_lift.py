"""The lift is scored only on final runs that trained their whole schedule (issue 17, item 1): synthetic
predictions stand in for the runs, so nothing trains."""

from __future__ import annotations

import numpy as np
import pytest

from liftlab.experiments.improve import BASELINE, NO_VERDICT, final_lift
from liftlab.experiments.improve import test_lift as lift_on_test
from liftlab.report.improve import verdict

N = 400


def _run(seed: int, accuracy: float, cut: bool = False) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    labels = np.arange(N) % 4
    right = rng.random(N) < accuracy
    predictions = np.where(right, labels, (labels + 1) % 4)
    return {"seed": seed, "test_labels": labels.tolist(), "test_predictions": predictions.tolist(),
            "stopped_by_time": 2 if cut else None}  # fmt: skip


def test_a_pair_with_a_cut_run_is_left_out_of_the_lift() -> None:
    # seed 1's winner run was cut after 2 epochs: near chance. Scored as the recipe it would drag the lift
    # below zero; it must not count at all.
    finals = {"best": [_run(0, 0.9), _run(1, 0.3, cut=True)], BASELINE: [_run(10, 0.8), _run(11, 0.8)]}
    found = final_lift(finals)
    alone = lift_on_test(finals["best"][:1], finals[BASELINE][:1])
    assert found["lift"]["value"] == pytest.approx(alone["lift"]["value"])
    assert found["best"]["value"] == pytest.approx(alone["best"]["value"])
    assert (found["lift"]["seeds_scored"], found["lift"]["seeds_cut"]) == (1, 1)
    scored_anyway = lift_on_test(finals["best"], finals[BASELINE])
    assert scored_anyway["lift"]["value"] < 0 < found["lift"]["value"], "what the old scoring would have said"


def test_a_cut_baseline_drops_its_pair_too() -> None:
    finals = {"best": [_run(0, 0.9), _run(1, 0.9)], BASELINE: [_run(10, 0.2, cut=True), _run(11, 0.8)]}
    found = final_lift(finals)
    assert found["lift"]["seeds_scored"] == 1
    second_pair = lift_on_test(finals["best"][1:], finals[BASELINE][1:])
    assert found["lift"]["value"] == pytest.approx(second_pair["lift"]["value"])


def test_no_finished_pair_means_no_verdict_and_the_report_says_so() -> None:
    finals = {"best": [_run(0, 0.9, cut=True)], BASELINE: [_run(10, 0.8)]}
    found = final_lift(finals)
    assert found["lift"]["value"] is None and found["best"]["value"] is None
    assert found["lift"]["no_verdict"] == NO_VERDICT
    result = {
        "lift": found["lift"],
        "best": {"name": "flip", "test_acc": None, "strategies": ["flip"]},
        "baseline": {"test_acc": None, "strategies": []},
        "effects": {"helped": [], "hurt": []},
        "target": None,
    }
    first, _ = verdict(result)
    assert first.startswith("No lift verdict") and "--budget" in first
