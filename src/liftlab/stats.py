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

from liftlab.records.runs import LeakFreeAccuracy

ALPHA = 0.05


BOOTSTRAP_RESAMPLES = 1000


def images_resampled(values: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> np.ndarray:
    """(resamples,) bootstrap draws of the mean of per-image `values`, the images drawn with replacement: the
    interval of one run's test figures (`improve`'s one-seed lift, the leak-free accuracies), the same draws for
    every series of the same images and seed, so paired figures stay paired."""
    rng = np.random.default_rng(seed)
    values = np.asarray(values, dtype=float)
    draws = [values[rng.integers(0, values.size, (min(100, resamples - done), values.size))].mean(axis=1)
             for done in range(0, resamples, 100)]  # fmt: skip
    return np.concatenate(draws)


def accuracy_without(correct: np.ndarray, leaked: np.ndarray) -> LeakFreeAccuracy | None:
    """Accuracy over the items `leaked` does not mark, with its 95% bootstrap interval (`images_resampled`), and
    how many items it kept and left out; None when nothing is leaked or fewer than two items are left.

    >>> found = accuracy_without(np.array([1, 1, 0, 1], bool), np.array([False, False, True, False]))
    >>> found.value, found.images, found.left_out
    (1.0, 3, 1)
    """
    kept = ~np.asarray(leaked, bool)
    if kept.all() or kept.sum() < 2:
        return None
    right = np.asarray(correct, float)[kept]
    low, high = np.percentile(images_resampled(right), [2.5, 97.5])
    return LeakFreeAccuracy(float(right.mean()), (float(low), float(high)), int(kept.sum()), int((~kept).sum()))


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
    sd: float  # seed-to-seed spread of the per-seed differences

    def seeds_to_detect(self, difference: float = 0.01, power: float = 0.8) -> int | None:
        """Seeds a paired t-test needs to detect `difference` with `power` at the observed spread, from the
        noncentral t distribution. A lower bound: the spread comes from a few seeds and is itself noisy,
        and the test set's own sampling error, which more seeds do not shrink, is left out."""
        if self.n < 2:
            return None
        if self.sd == 0:
            return 2
        for seeds in range(2, 1001):
            critical = stats.t.ppf(1 - ALPHA / 2, seeds - 1)
            shift = difference / (self.sd / math.sqrt(seeds))
            if stats.nct.sf(critical, seeds - 1, shift) + stats.nct.cdf(-critical, seeds - 1, shift) >= power:
                return seeds
        return None


def paired_comparison(
    arm: list[float], baseline: list[float], image_variance: float = 0.0, n_images: int = 0
) -> PairedComparison:
    """Paired test of arm - baseline over the same seeds, scored on one test set.

    `image_variance` is the variance of the mean difference from sampling the test images (the test set is
    shared by every seed, so the seeds' spread does not contain it; `image_variance_of` computes it from
    per-image predictions). The standard error combines both, with Welch-Satterthwaite degrees of freedom.
    Without it and with identical differences on every seed, the exact sign-flip test over the seeds gives
    the p-value (2 / 2^n: 0.25 for 3 seeds), not a certainty.
    """
    diffs = np.asarray(arm, dtype=float) - np.asarray(baseline, dtype=float)
    n = len(diffs)
    delta = float(diffs.mean())
    sd = float(diffs.std(ddof=1)) if n > 1 else 0.0
    if sd <= 1e-12 * max(1.0, abs(delta)):  # equal differences up to rounding
        sd = 0.0
    seed_part = sd**2 / n if n else 0.0
    se = math.sqrt(seed_part + max(image_variance, 0.0))
    if se == 0:
        if n < 2 or abs(delta) <= 1e-12:
            return PairedComparison(delta, (delta, delta), 1.0, n, sd)
        return PairedComparison(delta, (delta, delta), min(1.0, 2 / 2**n), n, sd)
    if n < 2 and image_variance <= 0:
        return PairedComparison(delta, (delta, delta), 1.0, n, sd)
    # Welch-Satterthwaite degrees of freedom of the two parts (seeds: n - 1; the test set: its images - 1)
    seed_term = seed_part**2 / (n - 1) if n > 1 and seed_part > 0 else 0.0
    image_term = image_variance**2 / max(n_images - 1, 1) if image_variance > 0 else 0.0
    df = se**4 / (seed_term + image_term) if seed_term + image_term > 0 else 1.0
    df = max(df, 1.0)
    half = float(stats.t.ppf(0.975, df) * se)
    p = float(2 * stats.t.sf(abs(delta) / se, df))
    return PairedComparison(delta, (delta - half, delta + half), p, n, sd)


def image_variance_of(arm_correct: list[np.ndarray], baseline_correct: list[np.ndarray]) -> float:
    """Variance, from sampling the test images, of the mean over seeds of arm accuracy - baseline accuracy:
    the per-image difference averaged over the seeds, its variance over the images, over their number.

    >>> round(image_variance_of([np.array([1, 1, 0, 1], bool)], [np.array([1, 0, 0, 0], bool)]), 4)
    0.0833
    """
    if not arm_correct:
        return 0.0
    per_image = np.mean(
        [a.astype(float) - b.astype(float) for a, b in zip(arm_correct, baseline_correct, strict=True)], axis=0
    )
    return float(per_image.var(ddof=1) / per_image.size) if per_image.size > 1 else 0.0


@dataclass(frozen=True)
class SeedsAndImages:
    """The mean of a (seeds, images) array and its t-interval, with seeds and test images both random."""

    mean: float
    ci95: tuple[float, float]
    se: float
    df: float
    p_value: float  # two-sided, of a mean of zero


def seeds_and_images(values: np.ndarray, confidence: float = 0.95) -> SeedsAndImages:
    """Mean of `values` (seeds x images: per-image correctness, or a difference of it, of runs scored on one
    test set) and its interval when both the seeds and the test images are samples: the crossed two-way
    random-effects analysis of variance. Var(mean) = s_seed^2 / n + s_image^2 / N + s_rest^2 / (n N), each
    component from its mean square (floored at zero), and Satterthwaite's degrees of freedom for the t
    quantile. Adding a seed-level t variance to an image-level one counts each run's own image noise twice
    (too wide); resampling two seed pairs with replacement gives three distinct draws (too narrow). This one
    is simulated at 2 seeds in `tests/experiments/test_lift.py`.

    >>> found = seeds_and_images(np.array([[1, 1, 0, 1], [1, 0, 0, 1]], float))
    >>> round(found.mean, 3), round(found.df, 1)
    (0.625, 3.0)
    """
    x = np.asarray(values, dtype=float)
    n, images = x.shape
    if n < 2 or images < 2:
        raise ValueError(f"seeds_and_images: expected at least 2 seeds and 2 images, found {n} x {images}")
    mean = float(x.mean())
    rows, columns = x.mean(axis=1), x.mean(axis=0)
    ms_seed = images * float(rows.var(ddof=1))
    ms_image = n * float(columns.var(ddof=1))
    residual = x - rows[:, None] - columns[None, :] + mean
    ms_rest = float((residual**2).sum()) / ((n - 1) * (images - 1))
    # Var(mean) * n * N as a sum of mean squares (coefficient, value, degrees of freedom): each component kept
    # adds its own mean square less the residual's; one floored at zero adds nothing
    seed_kept, image_kept = ms_seed > ms_rest, ms_image > ms_rest
    terms = [
        (1.0, ms_seed if seed_kept else 0.0, n - 1),
        (1.0, ms_image if image_kept else 0.0, images - 1),
        (1.0 - seed_kept - image_kept, ms_rest, (n - 1) * (images - 1)),
    ]
    scaled = sum(c * ms for c, ms, _ in terms)
    se = math.sqrt(max(scaled, 0.0) / (n * images))
    if se == 0:
        return SeedsAndImages(mean, (mean, mean), 0.0, math.inf, 1.0 if mean == 0 else 0.0)
    df = scaled**2 / sum((c * ms) ** 2 / dof for c, ms, dof in terms if c * ms)
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
    p = float(2 * stats.t.sf(abs(mean) / se, df))
    return SeedsAndImages(mean, (mean - half, mean + half), se, float(df), p)


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


def noise_level(accuracy: float, n_val: int) -> float:
    """One standard error of the difference of two independent validation accuracies.

    >>> round(noise_level(0.8, 400), 4)
    0.0283
    """
    p = min(max(accuracy, 0.01), 0.99)
    return math.sqrt(2 * p * (1 - p) / max(n_val, 1))
