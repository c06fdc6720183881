"""The search's helped / hurt labels on validation (issue 17, item 7): simulated searches with no real effect
must rarely label any arm, and a real effect must still be found. Synthetic predictions, nothing trains."""

from __future__ import annotations

import numpy as np

from liftlab.experiments.improve.search_effects import clearly_better, effects, judge, paired_standard_error
from liftlab.records import RunRecord
from liftlab.records.search import HALVING, Rung
from liftlab.stats import noise_level

N_VAL, ARMS = 250, 7


def _record(rng: np.random.Generator, difficulty: np.ndarray, labels: np.ndarray, shift: float = 0.0) -> RunRecord:
    right = rng.random(labels.size) < 1 / (1 + np.exp(-(difficulty + shift)))
    predictions = np.where(right, labels, (labels + 1) % 5)
    return RunRecord("run", 0, (), float(right.mean()), None, (), 1.0, val_labels=tuple(labels.tolist()),
                     val_predictions=tuple(predictions.tolist()))  # fmt: skip


def _search(rng: np.random.Generator, shift: float = 0.0) -> tuple[list[Rung], dict[str, RunRecord]]:
    """One rung of a search: the baseline and ARMS arms on the same images (each arm `shift` logits better)."""
    difficulty = rng.normal(1.5, 2.0, N_VAL)  # models share their easy and hard images, as real ones do
    labels = np.arange(N_VAL) % 5
    records = {"baseline": _record(rng, difficulty, labels)}
    records |= {f"arm{i}": _record(rng, difficulty, labels, shift) for i in range(ARMS)}
    paired = {name: paired_standard_error(r, records["baseline"]) for name, r in records.items()}
    rung = Rung.scored(HALVING, 1.0, {name: 1 for name in records}, records, paired)
    return [rung], records


def test_with_no_effect_some_arm_is_labelled_at_most_five_percent_of_the_time() -> None:
    rng = np.random.default_rng(0)
    trials, labelled, old_rule = 400, 0, 0
    for _ in range(trials):
        rungs, records = _search(rng)
        found = effects(rungs, N_VAL)
        labelled += bool(found.helped or found.hurt)
        base = records["baseline"].val_acc
        margin = noise_level(base, N_VAL)  # the old rule: one unpaired standard error, no correction
        old_rule += any(abs(r.val_acc - base) > margin for n, r in records.items() if n != "baseline")
    assert labelled / trials <= 0.06
    assert old_rule / trials >= 0.3, "the simulation no longer shows what the old rule did"
    assert found.scope == "one seed each, validation split"


def test_a_real_thirteen_point_lift_is_still_labelled_helped() -> None:
    rng = np.random.default_rng(1)
    found_helped = 0
    for _ in range(100):
        rungs, _ = _search(rng, shift=1.2)  # about +13 points of accuracy for every arm
        found_helped += len(effects(rungs, N_VAL).helped) >= ARMS // 2
    assert found_helped >= 80


def test_a_kept_addition_must_be_clearly_better_not_half_a_standard_error() -> None:
    rng = np.random.default_rng(2)
    kept = 0
    for _ in range(300):
        _, records = _search(rng)
        kept += clearly_better(records["arm0"], records["baseline"], N_VAL)
    assert kept / 300 <= 0.05
    assert judge(0.0, 0.0, N_VAL) == "unclear" and judge(0.01, 0.0, N_VAL) == "helped"
