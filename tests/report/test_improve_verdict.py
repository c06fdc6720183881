"""The verdict's sentences follow the lift record: rose, fell or no reliable difference from its interval, the
words of its scope, the exported model apart from the recipe's mean, and the target decided on validation."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from liftlab.records import Exported, ImproveResult, RunSummary
from liftlab.records.improve import SearchEffects
from liftlab.records.lift import Lift, LiftTest
from liftlab.records.runs import LeakFreeAccuracy
from liftlab.report.verdict import verdict_sentences

STORED = Path(__file__).resolve().parents[1] / "records" / "format1" / "improve.json"


def _result(value: float, low: float, high: float, kind: str = "recipe") -> ImproveResult:
    """A stored improve.json with the lift, the recipes and the effects set for the case at hand."""
    stored = ImproveResult.from_json(json.loads(STORED.read_text()))
    return replace(
        stored,
        lift=Lift(
            value, (low, high), LiftTest(0.01), kind, "model comparison: one fresh seed of the winner", seeds_scored=2
        ),
        baseline=replace(stored.baseline, test_acc=0.6, strategies=()),
        best=replace(stored.best, name="flip", test_acc=0.6 + value, strategies=("flip",), runs=()),
        effects=SearchEffects(("flip",), ("crop",)),
        target=0.9,
        target_reached=False,
    )


@pytest.mark.parametrize(
    ("interval", "expected"),
    [((0.05, 0.03, 0.07), "rose"), ((-0.05, -0.07, -0.03), "fell"), ((0.01, -0.01, 0.03), "no reliable difference")],
)
def test_verdict_follows_the_interval(interval: tuple[float, float, float], expected: str) -> None:
    first, second = verdict_sentences(_result(*interval))
    assert expected in first and "with flip" in first and "mean of 2 fresh seeds" in first
    assert second.startswith("Helped in the search: flip; hurt: crop. Target 90.00%, decided on validation")
    assert second.endswith("not reached.")


def test_a_model_comparison_never_speaks_of_the_recipe_and_an_unlike_time_ratio_is_not_printed() -> None:
    first, _ = verdict_sentences(_result(0.05, 0.03, 0.07, kind="model comparison"))
    assert first.startswith("This model against the baseline model") and "recipe" not in first
    assert "McNemar p = 0.01" in first and "one fresh seed of the winner" in first
    assert "baseline's time" not in first, "compute_ratio is None: no ratio sentence"
    result = _result(0.05, 0.03, 0.07)
    result = replace(result, lift=replace(result.lift, compute_ratio=3.4))
    assert "3.4x the baseline's time" in verdict_sentences(result)[0]


def test_the_headline_names_the_exported_model_leak_free_first_and_the_target_on_validation() -> None:
    result = _result(0.05, 0.03, 0.07)
    runs = tuple(RunSummary(seed, 0.6, 0.65, (), 1.0) for seed in (1, 2))
    clean = LeakFreeAccuracy(0.61, (0.55, 0.67), 180, 20)
    exported_model = Exported(seed=1, test_acc=0.63, ci95=(0.58, 0.68), folder="out/best", val_acc=0.91,
                              leak_free=clean)  # fmt: skip
    result = replace(result, best=replace(result.best, runs=runs, exported=exported_model), target_reached=True)
    exported, first, second = verdict_sentences(result)
    assert exported.index("61.00%") < exported.index("63.00%"), "the leak-free figure comes first"
    assert "180 test images without a copy or near-copy" in exported and "20 leaked" in exported
    assert "seed 1" in exported
    assert "65.00%" in first
    assert "decided on validation by the exported model: 91.00%; reached" in second
    assert "test 63.00%, reported, not used to decide" in second


def test_a_test_split_of_copies_only_says_its_figure_is_not_held_out() -> None:
    result = _result(0.05, 0.03, 0.07)
    exported_model = Exported(seed=1, test_acc=1.0, ci95=(1.0, 1.0), folder="out/best", leak_free=None)
    held_in = replace(
        result,
        best=replace(result.best, exported=exported_model),
        data_check=result.data_check | {"leaked_test": ["a.png"], "near_copy_test": ["b.png", "c.png"]},
    )
    exported = verdict_sentences(held_in)[0]  # fmt: skip
    assert "3 test image(s) have a copy or near-copy" in exported and "not held out" in exported
    clean = replace(held_in, data_check=result.data_check | {"leaked_test": [], "near_copy_test": []})
    assert "not held out" not in verdict_sentences(clean)[0]


def test_a_cut_export_says_so() -> None:
    result = _result(0.05, 0.03, 0.07)
    cut = Exported(seed=1, test_acc=0.63, ci95=(0.58, 0.68), folder="out/best", cut_after=3)
    exported, _, _ = verdict_sentences(replace(result, best=replace(result.best, exported=cut)))
    assert "a run the deadline cut after 3 epoch(s)" in exported


def test_the_headline_names_a_probe_member_with_its_validation_figures_only_when_added() -> None:
    from liftlab.records import EnsembleChoice, ProbeMemberChoice

    result = _result(0.05, 0.03, 0.07)
    seeds = EnsembleChoice((1, 2), 0.94, 0.93, 20.0, 10.0, exported=True)
    probe = ProbeMemberChoice("lite2", "efficientnet_lite2", 260, 0.96, 0.94, 8, 3, 12.0, added=True)
    best = Exported(seed=1, test_acc=0.63, ci95=(0.58, 0.68), folder="out/best", ensemble=seeds, probe_member=probe)
    exported, _, _ = verdict_sentences(replace(result, best=replace(result.best, exported=best)))
    assert "seeds 1 and 2" in exported and "probe of efficientnet_lite2 at 260 px" in exported
    assert "96.00% against 94.00% without it, 8 image(s) fixed and 3 broken)" in exported
    refused = replace(best, probe_member=replace(probe, added=False))
    exported, _, _ = verdict_sentences(replace(result, best=replace(result.best, exported=refused)))
    assert "probe" not in exported


def test_an_arm_of_several_strategies_stays_one_item_of_the_helped_and_hurt_lists() -> None:
    result = _result(0.05, 0.03, 0.07)
    result = replace(result, effects=SearchEffects(("flip",), ("crop,depth=+1",)))
    _, second = verdict_sentences(result)
    assert "Helped in the search: flip; hurt: crop + depth=+1." in second
