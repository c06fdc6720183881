"""The search's comparisons on validation: did an arm help, hurt, or is it unclear?

Each search run is one seed scored on one validation split, so a difference between two arms is partly
noise. It is measured on the same images: the paired standard error of the difference in per-image
correctness (two models that share most of their mistakes differ less by chance than two independent
accuracies suggest). A claim needs at least `CLEAR_Z` standard errors, raised by Bonferroni for the number
of arms judged together; below it the arm is "unclear". With no real effect, a one-standard-error rule
labelled some arm of seven "helped" about half the time (`tests/experiments/test_search_effects.py`).
Records from before per-image validation predictions fall back on the unpaired standard error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

from liftlab.experiments.improve.halving import BASELINE
from liftlab.records import RunRecord
from liftlab.records.improve import SearchEffects
from liftlab.records.search import Rung
from liftlab.stats import noise_level

CLEAR_Z = 2.0
"""The fewest standard errors for a claim about one comparison."""
FAMILY_ALPHA = 0.05
"""Chance, with no effect anywhere, that some arm of a family is labelled helped or hurt."""
SCOPE = "one seed each, validation split"


def paired_standard_error(arm: RunRecord, base: RunRecord) -> float | None:
    """Standard error of `arm`'s validation accuracy minus `base`'s from their per-image predictions on the
    same images (None when a record has none, or they were scored on different images)."""
    if not arm.val_labels or arm.val_labels != base.val_labels:
        return None
    return difference_standard_error(arm.val_labels, arm.val_predictions, base.val_predictions)


def difference_standard_error(labels: Sequence[int], a: Sequence[int], b: Sequence[int]) -> float | None:
    """Standard error of the accuracy of predictions `a` minus `b` on the same labelled images.

    >>> round(difference_standard_error([0, 1, 0, 1], [0, 1, 0, 1], [0, 0, 0, 0]), 3)
    0.289
    """
    if len(a) != len(labels) or len(b) != len(labels):
        return None
    truth = np.asarray(labels)
    difference = (np.asarray(a) == truth).astype(float) - (np.asarray(b) == truth).astype(float)
    return float(difference.std(ddof=1) / math.sqrt(difference.size)) if difference.size > 1 else None


def threshold(comparisons: int) -> float:
    """Standard errors a difference needs when `comparisons` arms are judged together (Bonferroni, two-sided).

    >>> threshold(1), round(threshold(7), 2)
    (2.0, 2.69)
    """
    return max(CLEAR_Z, float(stats.norm.ppf(1 - FAMILY_ALPHA / (2 * max(comparisons, 1)))))


def judge(delta: float, standard_error: float, n_val: int, comparisons: int = 1) -> str:
    """ "helped", "hurt" or "unclear" for a validation difference `delta` with its standard error; a zero
    standard error (the same predictions but a few) is floored at one image's worth, 1 / n_val.

    >>> judge(0.05, 0.01, 400), judge(-0.05, 0.01, 400), judge(0.015, 0.01, 400), judge(0.025, 0.01, 400, 7)
    ('helped', 'hurt', 'unclear', 'unclear')
    """
    margin = threshold(comparisons) * max(standard_error, 1.0 / max(n_val, 1))
    return "helped" if delta > margin else "hurt" if delta < -margin else "unclear"


def clearly_better(challenger: RunRecord, incumbent: RunRecord, n_val: int, comparisons: int = 1) -> bool:
    """Whether run record `challenger` beats `incumbent` on validation by a clear margin (see `judge`)."""
    a, b = challenger.val_acc, incumbent.val_acc
    if a is None or b is None or challenger.failed:
        return False
    paired = paired_standard_error(challenger, incumbent)
    error = noise_level(float(b), n_val) if paired is None else paired
    return judge(float(a) - float(b), error, n_val, comparisons) == "helped"


def effects(rungs: Sequence[Rung], n_val: int, finetune_helped: bool = False) -> SearchEffects:
    """Which arms helped, hurt or are unclear against the baseline at the longest budget each reached, judged
    together (`judge` with Bonferroni over the arms; paired standard errors where the rung recorded them).
    `finetune_helped`: the kept fine-tune clearly beat the best probe. `scope` says what the labels rest on."""
    verdicts: dict[str, list[str]] = {"helped": ["fine-tune (against the best probe)"] if finetune_helped else [],
                                      "hurt": [], "unclear": []}  # fmt: skip
    seen: dict[str, tuple[float, float]] = {}
    for rung in reversed(rungs):
        val, errors = rung.val_acc, rung.paired_se
        base = val.get(BASELINE)
        for name, value in val.items():
            if name == BASELINE or name in seen or base is None:
                continue
            delta = -1.0 if value is None else value - base
            error = errors.get(name)
            seen[name] = (delta, noise_level(base, n_val) if error is None else error)
    for name, (delta, error) in seen.items():
        verdicts[judge(delta, error, n_val, len(seen))].append(name)
    return SearchEffects(tuple(verdicts["helped"]), tuple(verdicts["hurt"]), tuple(verdicts["unclear"]), SCOPE)
