"""`improve` spends its budget or says why it did not: the early-end decision with fake seconds."""

from __future__ import annotations

import math

import pytest

from liftlab.experiments.improve.budget import FULL_USE, early_end_reason


def test_a_run_that_used_most_of_its_budget_needs_no_reason() -> None:
    assert early_end_reason(600, FULL_USE * 600, 500, False, 1, 3) is None
    assert early_end_reason(600, 600, math.inf, False, 0, 3) is None


@pytest.mark.parametrize(
    ("fresh_pair", "reached", "seeds_run", "said"),
    [
        (1050, False, 1, "a fresh seed of the winner and the baseline needs 1050 s"),  # TrashNet at 30 minutes
        (100, True, 1, "the target was reached"),
        (100, False, 3, "the final runs had all 3 seeds --seeds asks for"),
        # a pair would fit in what is left now, but not in what was left before the evaluation: not "every seed"
        (100, False, 2, "2 of 3 final seeds ran; one more pair of the winner and the baseline needs 100 s"),
        (math.inf, False, 0, "no step that is predicted to help is left to run"),  # no timed run of the winner
    ],
)
def test_an_early_end_names_its_reason_and_the_time_left(
    fresh_pair: float, reached: bool, seeds_run: int, said: str
) -> None:
    reason = early_end_reason(1800, 1467, fresh_pair, reached, seeds_run, 3)
    assert reason is not None and said in reason
    assert reason.startswith("333 s of 1800 s left")


def test_an_early_end_names_the_step_that_could_not_fit() -> None:
    unfit = "fine-tune skipped: 212 s an epoch, 258 s left"
    reason = early_end_reason(600, 300, 400, False, 1, 2, unfit=unfit)
    assert reason is not None and reason.endswith(unfit)
    assert early_end_reason(600, 590, 400, False, 1, 2, unfit=unfit) is None, "90% used: nothing to explain"
