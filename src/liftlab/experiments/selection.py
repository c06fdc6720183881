"""The one rule of greedy forward selection, in `ablate --combine greedy` and `improve`'s greedy step alike.

Each step trains every candidate addition on top of the current selection, takes the best on validation and
keeps it only when it beats the current selection clearly: a paired test of their validation accuracies
(`stats.paired_comparison`), with the seeds they share and the validation images both counted as random (the
images' part from per-image correctness, so one seed still gives a test), two-sided at FAMILY_ALPHA
Bonferroni-divided by the candidates compared in the step (the best of several is chosen for being best, so
it must clear a higher bar). A step that keeps nothing ends the selection. Under no effect, the rule keeps an
addition in at most FAMILY_ALPHA / 2 of steps (`tests/experiments/test_selection.py` simulates both one and
several seeds).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from liftlab.records import RunRecord
from liftlab.stats import image_variance_of, paired_comparison

FAMILY_ALPHA = 0.05
"""Chance, with no effect, that a step keeps some addition whatever the number of candidates (two-sided)."""


def keeps_addition(challenger: Sequence[RunRecord], current: Sequence[RunRecord], candidates: int = 1) -> bool:
    """Whether `challenger` (the best of `candidates` additions, its runs seed by seed) beats the `current`
    selection's runs on the same seeds clearly enough to be kept. A failed run never is."""
    pairs = [
        (a, b) for a, b in zip(challenger, current, strict=True) if a.val_acc is not None and b.val_acc is not None
    ]
    if not pairs or any(a.failed for a, _ in pairs):
        return False
    variance, images = 0.0, 0
    if all(a.val_labels and a.val_labels == b.val_labels for a, b in pairs):  # the same images: their sampling counts
        a_right = [np.asarray(a.val_predictions) == np.asarray(a.val_labels) for a, _ in pairs]
        b_right = [np.asarray(b.val_predictions) == np.asarray(b.val_labels) for _, b in pairs]
        variance, images = image_variance_of(a_right, b_right), len(pairs[0][0].val_labels)
    comparison = paired_comparison(
        [float(a.val_acc or 0.0) for a, _ in pairs], [float(b.val_acc or 0.0) for _, b in pairs], variance, images
    )
    return comparison.delta > 0 and comparison.p_value < FAMILY_ALPHA / max(candidates, 1)
