from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from liftlab.stats import holm, mcnemar, mean_ci, paired_comparison, verdict


def test_mean_ci_uses_the_t_distribution() -> None:
    mean, (low, high) = mean_ci([0.80, 0.82, 0.84])
    assert mean == pytest.approx(0.82)
    half = scipy_stats.t.ppf(0.975, 2) * 0.02 / np.sqrt(3)
    assert (low, high) == pytest.approx((0.82 - half, 0.82 + half))


def test_paired_comparison_matches_scipy_and_handles_zero_spread() -> None:
    arm, base = [0.81, 0.85, 0.80, 0.86], [0.80, 0.83, 0.80, 0.84]
    result = paired_comparison(arm, base)
    assert result.delta == pytest.approx(0.0125)
    assert result.p_value == pytest.approx(scipy_stats.ttest_rel(arm, base).pvalue)
    # identical non-zero differences are not a certainty: the exact sign-flip p over 2 seeds is 2 / 4
    assert paired_comparison([0.9, 0.8], [0.8, 0.7]).p_value == 0.5
    assert paired_comparison([0.8, 0.7], [0.8, 0.7]).p_value == 1.0
    # with the test set's sampling variance, equal differences get a finite, honest p
    assert 0 < paired_comparison([0.82, 0.82, 0.82], [0.80, 0.80, 0.80], 0.01**2, 1000).p_value < 0.2


def test_seeds_to_detect_comes_from_the_noncentral_t() -> None:
    # spread 0.01 between seeds, 1 point to detect at 80% power: a paired t-test needs 10 seeds (the normal
    # approximation said 8)
    comparison = paired_comparison([0.81, 0.82, 0.80], [0.80, 0.80, 0.80])
    assert comparison.sd == pytest.approx(0.01)
    assert comparison.seeds_to_detect(0.01) == 10


def test_an_ablation_on_one_test_set_keeps_its_error_rate_with_the_test_sets_variance() -> None:
    """3 seeds, 300 test images, two recipes with no effect on average but each suiting some images: the
    XX (the shared test set's luck is invisible
        to it); with the test-sampling variance added, 2.5% (it is conservative)."""
    from liftlab.stats import image_variance_of

    rng = np.random.default_rng(3)
    trials, seeds_only, with_images = 400, 0, 0
    for _ in range(trials):
        difficulty, preference = rng.normal(1.5, 1.5, 300), rng.normal(0, 2.0, 300)
        arm = rng.random((3, 300)) < 1 / (1 + np.exp(-(difficulty + preference)))
        base = rng.random((3, 300)) < 1 / (1 + np.exp(-(difficulty - preference)))
        accuracies = arm.mean(1).tolist(), base.mean(1).tolist()
        seeds_only += paired_comparison(*accuracies).p_value < 0.05
        with_images += paired_comparison(*accuracies, image_variance_of(list(arm), list(base)), 300).p_value < 0.05
    assert with_images / trials <= 0.065
    assert seeds_only / trials >= 0.1, "the simulation no longer shows what the seeds' t-test missed"


def test_holm_adjusts_in_step_down_order() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5]) == [0.5]


def test_mcnemar_counts_discordant_images_and_tests_them_exactly() -> None:
    arm = [np.array([1, 1, 1, 0, 1, 1], dtype=bool)]
    base = [np.array([0, 0, 1, 0, 0, 1], dtype=bool)]
    result = mcnemar(arm, base)
    assert (result.arm_only_right, result.baseline_only_right) == (3, 0)
    assert result.p_value == pytest.approx(scipy_stats.binomtest(3, 3, 0.5).pvalue)


def test_seeds_needed_for_one_point_grow_with_noise() -> None:
    quiet = paired_comparison([0.801, 0.802, 0.800], [0.800, 0.800, 0.800])
    noisy = paired_comparison([0.83, 0.78, 0.81], [0.80, 0.80, 0.80])
    assert quiet.seeds_to_detect() is not None and noisy.seeds_to_detect() is not None
    assert quiet.seeds_to_detect() < noisy.seeds_to_detect()


def test_false_positive_rate_is_at_most_five_percent_when_no_arm_differs() -> None:
    """4,000 simulated ablations (3 seeds, 4 arms, every arm drawn like the baseline, with a shared
    seed effect as real paired runs have): at most 5% may declare any arm helps or hurts."""
    rng = np.random.default_rng(0)
    declared = 0
    trials = 4_000
    for _ in range(trials):
        seed_effect = rng.normal(0, 0.01, 3)
        baseline = 0.8 + seed_effect + rng.normal(0, 0.005, 3)
        p_values, deltas = [], []
        for _arm in range(4):
            arm = 0.8 + seed_effect + rng.normal(0, 0.005, 3)
            comparison = paired_comparison(arm.tolist(), baseline.tolist())
            p_values.append(comparison.p_value)
            deltas.append(comparison.delta)
        verdicts = [verdict(d, p) for d, p in zip(deltas, holm(p_values), strict=True)]
        declared += any(v != "no detectable effect" for v in verdicts)
    assert declared / trials <= 0.05
