"""The lift is scored only on final runs that trained their whole schedule (issue 17, item 1): synthetic
predictions stand in for the runs, so nothing trains."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from liftlab.experiments.lift import BASELINE, NO_VERDICT, final_lift, lift_on_test
from liftlab.records import ImproveResult, RunRecord
from liftlab.report.improve import verdict

STORED_IMPROVE = Path(__file__).resolve().parents[1] / "records" / "format1" / "improve.json"

N = 400


def _run(seed: int, accuracy: float, cut: bool = False) -> RunRecord:
    rng = np.random.default_rng(seed)
    labels = np.arange(N) % 4
    right = rng.random(N) < accuracy
    predictions = np.where(right, labels, (labels + 1) % 4)
    return RunRecord(f"run{seed}", seed, (), accuracy, float(right.mean()), (), 1.0, stopped_by_time=2 if cut else None,
                     test_labels=tuple(labels.tolist()), test_predictions=tuple(predictions.tolist()))  # fmt: skip


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
    stored = ImproveResult.from_json(json.loads(STORED_IMPROVE.read_text()))
    result = replace(
        stored,
        lift=found["lift"],
        best=replace(stored.best, name="flip", test_acc=None, strategies=("flip",), exported=None),
        baseline=replace(stored.baseline, test_acc=None, strategies=()),
        effects={"helped": [], "hurt": []},
        target=None,
    )
    first, _ = verdict(result)
    assert first.startswith("No lift verdict") and "--budget" in first


def _paired_runs(
    rng: np.random.Generator, seeds: int, n: int, preference_sd: float, seed_sd: float
) -> tuple[np.ndarray, np.ndarray]:
    """(seeds, n) correctness of two recipes with no effect on average: each image has a difficulty, a
    preference for one recipe that persists across seeds (zero on average) and each run a seed's luck."""
    difficulty = rng.normal(1.5, 1.5, n)
    preference = rng.normal(0, preference_sd, n)

    def runs(sign: int) -> np.ndarray:
        luck = rng.normal(0, seed_sd, (seeds, 1))
        return rng.random((seeds, n)) < 1 / (1 + np.exp(-(difficulty + sign * preference + luck)))

    return runs(1), runs(-1)


def test_the_clustered_mcnemar_keeps_its_error_rate_where_pooling_seeds_does_not() -> None:
    # 3 seeds on the same 300 images, no effect: pooled McNemar counts an image that suits one recipe once
    # per seed (about 10% false positives at the 5% level); clustered by image it stays near 5%.
    from scipy import stats as scipy_stats

    from liftlab.stats import mcnemar

    rng = np.random.default_rng(0)
    trials, pooled, clustered = 300, 0, 0
    for _ in range(trials):
        arm, base = _paired_runs(rng, 3, 300, preference_sd=1.0, seed_sd=0.0)
        wins, losses = int(np.sum(arm & ~base)), int(np.sum(base & ~arm))
        pooled += scipy_stats.binomtest(wins, wins + losses, 0.5).pvalue < 0.05
        clustered += mcnemar(list(arm), list(base)).p_value < 0.05
    assert clustered / trials <= 0.07
    assert pooled / trials >= 0.08, "the simulation no longer shows what pooling did"


def test_the_two_level_interval_covers_a_zero_lift_despite_seed_luck() -> None:
    # 3 seed pairs, a run's luck of 0.2 logits (about 3 points): resampling only images covers the true zero
    # lift about 80% of the time, seeds then images at least the promised 95% here (it is conservative).
    from liftlab.evaluate.metrics import bootstrap_weights
    from liftlab.experiments.lift import seeds_then_images

    rng = np.random.default_rng(1)
    trials, two_level, images_only = 200, 0, 0
    for trial in range(trials):
        arm, base = _paired_runs(rng, 3, 300, preference_sd=0.0, seed_sd=0.2)
        low, high = np.percentile(seeds_then_images(arm, base, 400, trial)["lift"], [2.5, 97.5])
        two_level += low <= 0 <= high
        difference = arm.mean(0) - base.mean(0)
        draws = np.concatenate([w @ difference / difference.size for w in bootstrap_weights(300, 400, rng)])
        low, high = np.percentile(draws, [2.5, 97.5])
        images_only += low <= 0 <= high
    assert two_level / trials >= 0.93
    assert images_only / trials <= 0.88, "the simulation no longer shows what image-only resampling missed"


def test_the_scope_says_model_comparison_for_one_seed_or_a_search_run() -> None:
    one = lift_on_test([_run(0, 0.9)], [_run(10, 0.8)])
    reused = final_lift({"best": [_run(0, 0.9)], BASELINE: [_run(10, 0.8)]}, from_search=True)
    several = lift_on_test([_run(0, 0.9), _run(1, 0.9)], [_run(10, 0.8), _run(11, 0.8)])
    assert one["lift"]["scope"].startswith("model comparison, one seed")
    assert "chosen there on validation" in reused["lift"]["scope"]
    assert several["lift"]["scope"].startswith("recipe: 2 seeds") and "clustered" in several["lift"]["test"]
