"""The search's pure decisions: rung budgets, who survives a rung, what is stacked, who wins.

Fake scores in, choices out (`tests/experiments/test_halving.py`); `improve` trains the runs and keeps the
order. A score is a validation accuracy, -inf for a failed run (never chosen).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

FRACTIONS = (0.5, 0.25, 0.125)
"""First-rung budgets (share of each arm's epochs) tried from the largest down until the search fits."""
BASELINE = "baseline"


def rung_fractions(first: float) -> list[float]:
    """The rungs of a halving that starts at `first` of the epochs and doubles up to the full budget.

    >>> rung_fractions(0.125), rung_fractions(0.5)
    ([0.125, 0.25, 0.5, 1.0], [0.5, 1.0])
    """
    return [min(1.0, first * 2**i) for i in range(int(math.log2(1 / first)) + 1)]


def halving_cost(arms: int, fractions: Sequence[float], mean_full_seconds: float) -> float:
    """Seconds of run time a halving over `arms` arms (the stack included; plus the baseline at every rung)
    costs, each run at a rung taking its fraction of `mean_full_seconds`; half the arms survive each rung.

    >>> halving_cost(3, [0.5, 1.0], 100.0)  # (3 + 1) x 50 s, then (2 + 1) x 100 s
    500.0
    """
    alive, cost = arms, 0.0
    for fraction in fractions:
        cost += (alive + 1) * fraction * mean_full_seconds
        alive = math.ceil(alive / 2)
    return cost


def choose_fractions(arms: int, mean_full_seconds: float, allowance: float) -> list[float]:
    """The largest first rung whose halving fits `allowance` seconds; when none does, the two shortest rungs
    (the search then skips a rung that would not fit).

    >>> choose_fractions(3, 100.0, 500.0), choose_fractions(3, 100.0, 499.0), choose_fractions(6, 100.0, 1.0)
    ([0.5, 1.0], [0.25, 0.5, 1.0], [0.125, 0.25])
    """
    for first in FRACTIONS:
        fractions = rung_fractions(first)
        if halving_cost(arms, fractions, mean_full_seconds) <= allowance:
            return fractions
    return [min(FRACTIONS), 2 * min(FRACTIONS)]


def survivors(scores: dict[str, float], alive: Sequence[str], target: float | None) -> tuple[list[str], bool]:
    """The better half of `alive` by score (ties keep the earlier arm), and whether the best reached `target`
    (then it alone survives and the halving stops).

    >>> survivors({"a": 0.7, "b": 0.9, "c": 0.8}, ["a", "b", "c"], None)
    (['b', 'c'], False)
    >>> survivors({"a": 0.7, "b": 0.9}, ["a", "b"], 0.85)
    (['b'], True)
    """
    ranked = sorted(alive, key=lambda name: scores[name], reverse=True)
    if target is not None and ranked and scores[ranked[0]] >= target:
        return ranked[:1], True
    return ranked[: max(1, math.ceil(len(ranked) / 2))], False


def to_stack(scores: dict[str, float], ranked: Sequence[str], margin: float, cut: set[str]) -> list[str]:
    """Arms of the first rung that did not clearly hurt (within `margin` below the baseline) and ran their
    whole schedule: remedies add up, so these are tried together. Fewer than two: nothing to stack.

    >>> to_stack({"baseline": 0.8, "a": 0.82, "b": 0.79, "c": 0.7}, ["a", "b", "c"], 0.02, set())
    ['a', 'b']
    >>> to_stack({"baseline": 0.8, "a": 0.82, "b": 0.79}, ["a", "b"], 0.02, {"b"})
    []
    """
    helping = [n for n in ranked if scores[n] > scores[BASELINE] - margin and n not in cut]
    return helping if len(helping) >= 2 else []


def winner(last: dict[str, float | None], alive: Sequence[str]) -> str:
    """The best surviving arm of the last rung, or the baseline when no arm beat it there (or none scored).

    >>> winner({"baseline": 0.8, "a": 0.85, "b": 0.9}, ["a"]), winner({"baseline": 0.8, "a": 0.75}, ["a"])
    ('a', 'baseline')
    >>> winner({}, ["a"])
    'baseline'
    """
    contenders = [n for n in alive if last.get(n) is not None] or [n for n in last if n != BASELINE]
    best = max(contenders, key=lambda n: last[n] or -1.0, default=BASELINE)
    if not last or (last.get(best) or -1.0) <= (last.get(BASELINE) or -1.0):
        return BASELINE
    return best
