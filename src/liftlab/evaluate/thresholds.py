"""Decisions for one target class: the threshold that meets a constraint, and how many people to contact.

The marketing question: to make `goal` sales we must contact goal / precision people, so a model with
higher precision on "buyer" needs fewer contacts even when its accuracy is lower.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from liftlab.errors import BadInputError
from liftlab.evaluate.predictions_csv import Predictions

RULES = ("min_precision", "min_recall", "max_profit")


@dataclass(frozen=True)
class Rule:
    """`min_precision` / `min_recall` with a level in (0, 1], or `max_profit` (needs a cost matrix)."""

    kind: str
    level: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in RULES:
            raise BadInputError(f"threshold rule: expected one of {list(RULES)}, found {self.kind!r}")
        if self.kind != "max_profit" and (self.level is None or not 0 < self.level <= 1):
            raise BadInputError(f"--{self.kind.replace('_', '-')}: expected a number in (0, 1], found {self.level}")

    @property
    def label(self) -> str:
        return self.kind if self.level is None else f"{self.kind}={self.level:g}"


def other_class(proba: np.ndarray, target: int) -> np.ndarray:
    """For each item, the most probable class other than `target` (the decision when the target is not chosen)."""
    masked = proba.copy()
    masked[:, target] = -np.inf
    return np.asarray(masked.argmax(axis=1))


def decisions_at(proba: np.ndarray, target: int, threshold: float) -> np.ndarray:
    """Predict `target` where its probability is at least `threshold`, else the best other class."""
    return np.where(proba[:, target] >= threshold, target, other_class(proba, target))


def precision_at(share: float, recall: np.ndarray, false_rate: np.ndarray) -> np.ndarray:
    """The target's precision where a `share` of the items are of the target class, from its recall and
    false-positive rate (neither depends on the class mix): share x recall over share x recall + (1 - share)
    x false-positive rate; 0 where nothing is predicted.

    >>> round(float(precision_at(0.05, np.array([0.9]), np.array([0.2]))[0]), 3)
    0.191
    """
    found = share * recall + (1 - share) * false_rate
    return np.divide(share * recall, found, out=np.zeros_like(found, dtype=float), where=found > 0)


def _curve(
    predictions: Predictions, target: int, costs: np.ndarray | None, share: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """At every distinct threshold (descending): threshold, precision (at the target `share` of the items when
    given), recall and mean cost."""
    if predictions.proba is None:
        raise BadInputError(f"{predictions.source}: thresholds need one probability column per class")
    scores = predictions.proba[:, target]
    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    hits = (predictions.y_true[order] == target).astype(float)
    true_positives, chosen = np.cumsum(hits), np.arange(1, len(scores) + 1)
    last_of_each = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    positives = max(hits.sum(), 1.0)
    mean_cost = np.zeros(len(scores))
    if costs is not None:
        y_sorted = predictions.y_true[order]
        cost_if_target = costs[y_sorted, target]
        cost_if_not = costs[y_sorted, other_class(predictions.proba, target)[order]]
        mean_cost = (np.cumsum(cost_if_target) + (cost_if_not.sum() - np.cumsum(cost_if_not))) / len(scores)
    keep = last_of_each
    precision = true_positives / chosen
    if share is not None:
        negatives = max(len(scores) - hits.sum(), 1.0)
        precision = precision_at(share, true_positives / positives, (chosen - true_positives) / negatives)
    return sorted_scores[keep], precision[keep], (true_positives / positives)[keep], mean_cost[keep]


def choose_threshold(
    predictions: Predictions, target: int, rule: Rule, costs: np.ndarray | None = None, share: float | None = None
) -> float | None:
    """The threshold on p(target) that satisfies `rule`, or None when no threshold does.

    min_precision: the largest recall with precision >= level (precision where a `share` of the items are of
    the target class, when given); min_recall: the largest precision with recall >= level; max_profit: the
    lowest expected cost under `costs`.
    """
    thresholds, precision, recall, mean_cost = _curve(predictions, target, costs, share)
    if rule.kind == "max_profit":
        if costs is None:
            raise BadInputError("--max-profit: needs a cost or gain matrix (--cost FILE)")
        return float(thresholds[int(np.argmin(mean_cost))])
    assert rule.level is not None  # checked in Rule.__post_init__
    meets = (precision >= rule.level) if rule.kind == "min_precision" else (recall >= rule.level)
    if not meets.any():
        return None
    objective = np.where(meets, recall if rule.kind == "min_precision" else precision, -np.inf)
    best = np.flatnonzero(objective == objective.max())
    return float(thresholds[best[0]])


def contacts_needed(goal: float, precision: float) -> int | None:
    """People to contact for `goal` successes at `precision` (rounded up), None when precision is 0.

    >>> contacts_needed(50, 2 / 3), contacts_needed(50, 5 / 6)
    (75, 60)
    """
    if precision <= 0:
        return None
    return math.ceil(goal / precision - 1e-9)
