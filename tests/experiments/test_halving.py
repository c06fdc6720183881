"""The search's decisions with fake scores (the way Optuna tests its pruners): nothing trains."""

from __future__ import annotations

import math

import pytest

from liftlab.experiments.improve.halving import (
    choose_fractions,
    halving_cost,
    rung_fractions,
    survivors,
    to_stack,
    winner,
)


def test_the_largest_first_rung_that_fits_is_chosen_and_the_edges_hold() -> None:
    # 6 arms + the stack, and the baseline at every rung, 100 s a full run: from half, 8 x 50 + 5 x 100 s
    assert halving_cost(7, [0.5, 1.0], 100.0) == pytest.approx(900.0)
    assert choose_fractions(7, 100.0, 900.0) == [0.5, 1.0], "exactly the allowance fits"
    assert choose_fractions(7, 100.0, 899.0) == [0.25, 0.5, 1.0]
    cheapest = halving_cost(7, rung_fractions(0.125), 100.0)
    assert choose_fractions(7, 100.0, cheapest) == [0.125, 0.25, 0.5, 1.0]
    assert choose_fractions(7, 100.0, cheapest - 1) == [0.125, 0.25], "nothing fits: two short rungs"
    assert choose_fractions(7, 100.0, 0.0) == [0.125, 0.25] and choose_fractions(0, 0.0, 0.0) == [0.5, 1.0]


def test_survivors_are_the_better_half_and_a_reached_target_stops_the_halving() -> None:
    scores = {"a": 0.70, "b": 0.90, "c": 0.80, "d": 0.60, "e": -math.inf}
    assert survivors(scores, list(scores), None) == (["b", "c", "a"], False)
    assert survivors(scores, ["e"], None) == (["e"], False), "one arm always survives"
    assert survivors(scores, list(scores), 0.9) == (["b"], True)
    assert survivors(scores, list(scores), 0.95)[1] is False


def test_the_stack_takes_what_did_not_clearly_hurt_and_finished() -> None:
    scores = {"baseline": 0.80, "a": 0.83, "b": 0.79, "c": 0.70, "d": 0.81}
    ranked = ["a", "d", "b", "c"]
    assert to_stack(scores, ranked, 0.02, set()) == ["a", "d", "b"]
    assert to_stack(scores, ranked, 0.02, {"a", "d"}) == [], "a cut run is not evidence; one arm is no stack"
    assert to_stack(scores, ranked, 0.0, set()) == ["a", "d"]


def test_the_winner_must_beat_the_baseline_on_the_last_rung() -> None:
    assert winner({"baseline": 0.80, "a": 0.85, "b": 0.90}, ["a", "b"]) == "b"
    assert winner({"baseline": 0.80, "a": 0.80}, ["a"]) == "baseline", "a tie keeps the baseline"
    assert winner({"baseline": 0.80, "a": None}, ["a"]) == "baseline", "a failed run never wins"
    assert winner({"baseline": 0.80, "a": 0.7, "b": 0.85}, ["a"]) == "baseline"
    assert winner({"baseline": None, "a": 0.5}, ["a"]) == "a"
