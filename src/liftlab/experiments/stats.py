"""Honest comparisons of arms over seeds: intervals, paired tests, Holm correction, McNemar.

Every arm is compared with the baseline on the same seeds (the same splits, initialisations and
batch orders where the recipe allows), so the paired difference removes the seed-to-seed noise they
share. With few seeds the t distribution, not the normal, sets the interval widths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05


def mean_ci(values: list[float], confidence: float = 0.95) -> tuple[float, tuple[float, float]]:
    """Mean and its t-interval; a single value has no interval width to estimate (returns it twice)."""
    array = np.asarray(values, dtype=float)
    mean = float(array.mean())
    if len(array) < 2:
        return mean, (mean, mean)
    half = float(stats.t.ppf(0.5 + confidence / 2, len(array) - 1) * array.std(ddof=1) / math.sqrt(len(array)))
    return mean, (mean - half, mean + half)


@dataclass(frozen=True)
class PairedComparison:
    delta: float
    ci95: tuple[float, float]
    p_value: float
    n: int
    sd: float

    def seeds_to_detect(self, difference: float = 0.01, power: float = 0.8) -> int | None:
        """Seeds needed for a paired test to detect `difference` with `power` at the observed noise."""
        if self.n < 2:
            return None
        if self.sd == 0:
            return 2
        z = stats.norm.ppf(1 - ALPHA / 2) + stats.norm.ppf(power)
        return max(2, math.ceil((z * self.sd / difference) ** 2))


def paired_comparison(arm: list[float], baseline: list[float]) -> PairedComparison:
    """Paired t-test of arm - baseline over the same seeds.

    Identical non-zero differences on every seed (zero spread) are a certain effect (p = 0); identical
    zero differences are none (p = 1).
    """
    diffs = np.asarray(arm, dtype=float) - np.asarray(baseline, dtype=float)
    delta, ci = mean_ci(diffs.tolist())
    n = len(diffs)
    sd = float(diffs.std(ddof=1)) if n > 1 else 0.0
    if sd <= 1e-12 * max(1.0, abs(delta)):  # equal differences up to rounding
        sd = 0.0
    if n < 2:
        p = 1.0
    elif sd == 0:
        p = 0.0 if abs(delta) > 1e-12 else 1.0
    else:
        t = delta / (sd / math.sqrt(n))
        p = float(2 * stats.t.sf(abs(t), n - 1))  # the paired t-test, without scipy's per-call overhead
    return PairedComparison(delta, ci, p, n, sd)


def holm(p_values: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (family-wise error control across arms)."""
    order = np.argsort(p_values)
    m = len(p_values)
    adjusted = [1.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def verdict(delta: float, adjusted_p: float) -> str:
    if adjusted_p < ALPHA:
        return "helps" if delta > 0 else "hurts"
    return "no detectable effect"


@dataclass(frozen=True)
class McNemar:
    arm_only_right: int  # images the arm gets right and the baseline wrong, summed over seeds
    baseline_only_right: int
    p_value: float
    method: str = "exact McNemar, one seed"


SIGN_FLIPS = 20_000
"""Random sign flips of the per-image differences in the clustered test: the p-value's Monte Carlo error is
at most 0.0035 at p = 0.05."""


def mcnemar(arm_correct: list[np.ndarray], baseline_correct: list[np.ndarray], seed: int = 0) -> McNemar:
    """McNemar's test on per-image correctness of paired runs, each image counted once.

    One seed: the exact test (discordant images, binomial at 1/2). Several seeds on the same images: the
    test clustered by image, as a sign-flip (permutation) test of the per-image difference in correct runs
    (`arm right - baseline right`, summed over seeds). Pooling seeds as if every run saw new images counts an
    image the arm happens to suit once per seed: in simulation that pooled test declared 9-14% of no-effect
    comparisons significant at the 5% level (`tests/experiments/test_stats.py`), the clustered one 5%.
    """
    pairs = list(zip(arm_correct, baseline_correct, strict=True))
    arm_only = sum(int(np.sum(a & ~b)) for a, b in pairs)
    base_only = sum(int(np.sum(b & ~a)) for a, b in pairs)
    if len(pairs) <= 1:
        total = arm_only + base_only
        p = 1.0 if total == 0 else float(stats.binomtest(arm_only, total, 0.5).pvalue)
        return McNemar(arm_only, base_only, p)
    per_image = np.sum([a.astype(np.int64) - b.astype(np.int64) for a, b in pairs], axis=0)
    differences = per_image[per_image != 0].astype(np.float64)
    method = f"McNemar clustered by image over {len(pairs)} seeds (sign-flip test)"
    if differences.size == 0:
        return McNemar(arm_only, base_only, 1.0, method)
    observed = abs(differences.sum())
    rng = np.random.default_rng(seed)
    extreme, done = 0, 0
    while done < SIGN_FLIPS:
        chunk = min(1000, SIGN_FLIPS - done)
        signs = rng.integers(0, 2, (chunk, differences.size)) * 2 - 1
        extreme += int(np.sum(np.abs(signs @ differences) >= observed - 1e-9))
        done += chunk
    return McNemar(arm_only, base_only, (extreme + 1) / (SIGN_FLIPS + 1), method)
