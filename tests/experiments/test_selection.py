"""The greedy selection rule (`experiments/selection.py`) as a statistician would test it: simulated steps with
no real effect keep an addition at most at the rate it promises, one seed or several, and a real effect is
still kept. Synthetic per-image predictions; nothing trains."""

from __future__ import annotations

import numpy as np

from liftlab.experiments.selection import FAMILY_ALPHA, keeps_addition
from liftlab.records import RunRecord
from liftlab.stats import paired_comparison

N_VAL = 300
SEED_SHIFT = 0.05
"""Each run's own shift of every image's logit: about one point of accuracy from seed to seed. One seed cannot
see it (the per-image test treats the two runs as given models); the final phase's fresh seeds are what
measure a recipe. A larger shift makes one-seed steps keep more than they promise."""


def _runs(rng: np.random.Generator, difficulty: np.ndarray, seeds: int, shift: float = 0.0) -> list[RunRecord]:
    """One arm's runs on `seeds` seeds: each seed moves every image's difficulty a little (seed noise), and the
    arm is `shift` logits better on every image."""
    labels = np.arange(N_VAL) % 4
    runs = []
    for seed in range(seeds):
        logits = difficulty + shift + rng.normal(0.0, SEED_SHIFT) + rng.normal(0.0, 0.5, N_VAL)
        right = rng.random(N_VAL) < 1 / (1 + np.exp(-logits))
        predictions = np.where(right, labels, (labels + 1) % 4)
        scored = {"val_labels": tuple(labels.tolist()), "val_predictions": tuple(predictions.tolist())}
        runs.append(RunRecord(f"s{seed}", seed, (), float(right.mean()), None, (), 1.0, **scored))
    return runs


def _step(rng: np.random.Generator, candidates: int, seeds: int, shift: float = 0.0) -> tuple[bool, bool]:
    """One greedy step: `candidates` additions against the current selection. Returns whether the rule keeps
    the best, and whether the old `ablate` rule (p < 0.05 over the seeds' accuracies alone, no correction for
    taking the best of several) would have."""
    difficulty = rng.normal(1.0, 1.5, N_VAL)  # models share their easy and hard images, as real ones do
    current = _runs(rng, difficulty, seeds)
    arms = [_runs(rng, difficulty, seeds, shift) for _ in range(candidates)]
    best = max(arms, key=lambda runs: float(np.mean([r.val_acc for r in runs])))
    old = paired_comparison([r.val_acc or 0.0 for r in best], [r.val_acc or 0.0 for r in current])
    return keeps_addition(best, current, candidates), old.delta > 0 and old.p_value < 0.05


def test_with_no_effect_a_step_keeps_an_addition_at_most_at_the_promised_rate() -> None:
    rng = np.random.default_rng(0)
    for candidates, seeds in ((6, 1), (4, 3)):
        trials = 600
        kept = old = 0
        for _ in range(trials):
            new_rule, old_rule = _step(rng, candidates, seeds)
            kept += new_rule
            old += old_rule
        assert kept / trials <= FAMILY_ALPHA / 2 + 0.015, (candidates, seeds, kept / trials)
        if seeds > 1:
            assert old / trials >= 2 * kept / trials, "the simulation no longer shows what the old rule did"


def test_a_real_addition_is_kept_on_one_seed_and_on_three() -> None:
    # three seeds count the seeds' spread and the images' both (conservative: each run's per-image noise is in
    # both parts), and the spread of three has two degrees of freedom: a step needs a larger effect there
    rng = np.random.default_rng(1)
    for seeds, shift, least in ((1, 0.6, 80), (3, 0.8, 65)):  # about +9 and +12 points on every image
        kept = sum(_step(rng, 4, seeds, shift=shift)[0] for _ in range(100))
        assert kept >= least, (seeds, kept)


def test_a_failed_challenger_is_never_kept() -> None:
    rng = np.random.default_rng(2)
    difficulty = rng.normal(1.0, 1.5, N_VAL)
    current, better = _runs(rng, difficulty, 1), _runs(rng, difficulty, 1, shift=2.0)
    assert keeps_addition(better, current)
    failed = [RunRecord("f", 0, (), better[0].val_acc, None, (), 1.0, stopped_reason="non-finite loss")]
    assert not keeps_addition(failed, current)
