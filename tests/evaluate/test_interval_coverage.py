"""The 95% bootstrap intervals cover the true value in 93-97% of 1,000 simulated test sets."""

from __future__ import annotations

import numpy as np

from liftlab.evaluate.metrics import summarise
from liftlab.evaluate.predictions_csv import Predictions

DRAWS = 1000
TRUE_ACCURACY = 0.8
TRUE_RECALL_OF_RARE = 0.6  # recall of the rarer class "b" (30% of items)


def _draw(rng: np.random.Generator, n: int = 400) -> Predictions:
    y_true = (rng.random(n) < 0.3).astype(np.int64)  # class 1 is "b"
    right = np.where(y_true == 1, rng.random(n) < TRUE_RECALL_OF_RARE, rng.random(n) < 0.8857142857142857)
    y_pred = np.where(right, y_true, 1 - y_true)
    return Predictions(["a", "b"], y_true, y_pred, None, None, "simulation")


def test_intervals_cover_the_true_value_about_95_percent_of_the_time() -> None:
    # True accuracy = 0.7 * 0.8857... + 0.3 * 0.6 = 0.8 by construction.
    rng = np.random.default_rng(2026)
    covered_accuracy = covered_recall = 0
    for draw in range(DRAWS):
        summary = summarise(_draw(rng), resamples=500, seed=draw)
        low, high = summary.accuracy.ci95
        covered_accuracy += low <= TRUE_ACCURACY <= high
        low, high = summary.per_class["b"].recall.ci95
        covered_recall += low <= TRUE_RECALL_OF_RARE <= high
    assert 0.93 <= covered_accuracy / DRAWS <= 0.97, covered_accuracy
    assert 0.93 <= covered_recall / DRAWS <= 0.97, covered_recall
