"""The verdict on the test split: how much the winner lifts the baseline, with honest uncertainty.

Pure functions of the final runs' records (test labels and predictions per seed), so every claim is
checked by simulation in `tests/experiments/test_lift.py` with synthetic predictions:

- only seed pairs whose runs both finished their schedules are scored (a run the deadline cut is not its
  recipe);
- with two or more fresh seeds the lift describes the recipe: its interval treats both the seeds and the test
  images as samples (`stats.seeds_and_images`, a t-interval from the crossed two-way analysis of variance),
  and its p-value is that t-test's;
- with one seed, or with the winner on the search's seed (chosen there on validation), it compares two
  trained models: the interval resamples the test images only, and the p-value is McNemar's (do these two
  models differ on these images); seed variation and the selection are not in it, and the scope says so;
- a baseline that won the search has no lift to measure: the record says so instead of comparing it with
  itself;
- test images with an exact copy in the training or validation split (`leaked`) are also left out of a
  second, leak-free set of figures.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from liftlab.errors import BadInputError
from liftlab.evaluate.metrics import estimates
from liftlab.experiments.improve.halving import BASELINE
from liftlab.records import RunRecord
from liftlab.records.lift import MISSING, MODELS, NONE, RECIPE, Interval, Lift, LiftTest, TestFigures
from liftlab.stats import images_resampled, mcnemar, seeds_and_images

RESAMPLES = 1000
NO_VERDICT = (
    "no final pair of winner and baseline finished its schedule within the budget; a run the deadline cut "
    "did not train its recipe, so it is not scored as one. Give a longer --budget"
)
NO_LIFT = "no lift measured: no remedy beat the baseline on validation, so the baseline is the best recipe"


def scope(seeds: int, from_search: bool, arms: int = 0) -> str:
    """What a lift over `seeds` scored seed pairs describes (the words the report and improve.json show);
    `arms`: how many arms the search compared on validation.

    >>> scope(2, False)
    'recipe: 2 fresh seeds (not used in the search); seeds and test images both sampled, test split'
    >>> scope(1, True, 5)[:99]
    "model comparison: the winner on the search's seed, selected on validation among 5 arms on that seed"
    """
    among = f" among {arms} arms" if arms > 1 else ""
    if from_search:
        return (
            f"model comparison: the winner on the search's seed, selected on validation{among} on that seed, "
            "against the baseline on it; seed variation and selection are not in the interval, test split"
        )
    if seeds == 1:
        return (
            f"model comparison: one fresh seed of the winner (selected on validation{among}) against one of the "
            "baseline; seed variation is not in the interval, test split"
        )
    return f"recipe: {seeds} fresh seeds (not used in the search); seeds and test images both sampled, test split"


def _figures(correct: dict[str, np.ndarray], seed: int) -> TestFigures:
    """Each side's accuracy and the lift with 95% intervals, and the lift's p-value and test, from (seeds, images)
    correctness of each side: two-level t-intervals with several seeds, an image bootstrap with one."""
    difference = correct["best"].astype(float) - correct[BASELINE].astype(float)
    # the model-level test: exact with one seed (then it is the lift's own test), clustered by image with more
    models = mcnemar(list(correct["best"]), list(correct[BASELINE]), seed)
    if difference.shape[0] >= 2:
        found = {name: seeds_and_images(values.astype(float)) for name, values in correct.items()}
        lifted = seeds_and_images(difference)
        test = (
            f"t-test of the recipe's lift, seeds and test images both sampled (two-way random effects, "
            f"{lifted.df:.0f} degrees of freedom): is the recipe's mean lift zero"
        )
        sides = {name: Interval(f.mean, f.ci95) for name, f in found.items()}
        return TestFigures(sides["best"], sides[BASELINE], Interval(lifted.mean, lifted.ci95),
                           LiftTest(lifted.p_value, test, models.p_value))  # fmt: skip
    intervals = {}
    for name, values in (*correct.items(), ("lift", difference)):
        row = values[0].astype(float)
        estimate = estimates(np.asarray(row.mean()), images_resampled(row, RESAMPLES, seed))[0]
        intervals[name] = Interval(estimate.value, (estimate.low, estimate.high))
    test = "exact McNemar test: do these two trained models differ on these test images"
    return TestFigures(intervals["best"], intervals[BASELINE], intervals["lift"],
                       LiftTest(models.p_value, test, models.p_value))  # fmt: skip


@dataclass(frozen=True)
class FinalLift:
    """The final phase's verdict on the test split: each side's mean test accuracy and the lift record."""

    best: Interval
    baseline: Interval
    lift: Lift


def same_test_items(runs: list[RunRecord]) -> np.ndarray:
    """The test labels every run was scored on, checked equal across runs: a lift compares two models on the
    same images, so runs scored on different test items (another split, a file skipped in one) are refused."""
    labels = np.asarray(runs[0].test_labels)
    if not labels.size or any(not r.test_predictions for r in runs):
        raise BadInputError("improve: a final run has no test predictions (it failed); see improve.json's runs")
    for run in runs[1:]:
        if tuple(run.test_labels) != tuple(runs[0].test_labels):
            raise BadInputError(
                f"improve: final runs {runs[0].key} and {run.key} were scored on different test items "
                f"({len(runs[0].test_labels)} and {len(run.test_labels)} labels, not the same sequence); a lift "
                "needs both sides scored on the same images. Check that the data did not change during the run"
            )
    return labels


def lift_on_test(
    best: list[RunRecord],
    baseline: list[RunRecord],
    seed: int = 0,
    from_search: bool = False,
    arms: int = 0,
    leaked: np.ndarray | None = None,
) -> FinalLift:
    """Test accuracy of each (mean over seeds) and the lift, with 95% intervals, the p-value of the test the
    scope calls for and the scope (`from_search`: the winner's run is the search's own; `arms`: how many the
    search compared). `leaked`: a boolean mask of the test images with a copy in training; where any is set,
    `lift.leak_free` holds the same figures over the other images."""
    labels = same_test_items(best + baseline)
    correct = {
        name: np.stack([np.asarray(r.test_predictions) == labels for r in records])
        for name, records in (("best", best), (BASELINE, baseline))
    }
    found = _figures(correct, seed)
    clean = None
    if leaked is not None and leaked.any():
        kept = ~np.asarray(leaked, bool)
        if kept.sum() >= 2:
            clean = _figures({name: values[:, kept] for name, values in correct.items()}, seed)
            clean = replace(clean, images=int(kept.sum()), left_out=int((~kept).sum()))
    kind = RECIPE if len(best) >= 2 and not from_search else MODELS
    lift = Lift(found.lift.value, found.lift.ci95, found.test, kind, scope(len(best), from_search, arms), arms,
                leak_free=clean)  # fmt: skip
    return FinalLift(found.best, found.baseline, lift)


def leaked_mask(test_names: list[str], leaked: list[str]) -> np.ndarray:
    """Which of `test_names` (a run's test split, in order) the data check found with an exact copy in the
    training or validation split (`CheckReport.leaked_test`).

    >>> leaked_mask(["a.jpg", "b.jpg"], ["b.jpg"]).tolist()
    [False, True]
    """
    found = set(leaked)
    return np.asarray([name in found for name in test_names], dtype=bool)


def final_lift(
    finals: dict[str, list[RunRecord]],
    from_search: bool = False,
    arms: int = 0,
    leaked: np.ndarray | None = None,
    baseline_won: bool = False,
) -> FinalLift:
    """`lift_on_test` over the seed pairs whose winner and baseline runs both finished their schedules; a pair with
    a run the deadline cut is left out, and with no pair left there is no verdict (values None, `no_verdict`
    says why). Time only chooses how many seeds there are, never what a cut run would have reached. When the
    baseline won the search, both sides are the same runs: the baseline's figures are kept and the lift is
    None with `no_lift` saying why."""
    pairs = [
        (best, base)
        for best, base in zip(finals["best"], finals[BASELINE], strict=True)
        if not best.stopped_by_time and not base.stopped_by_time
    ]
    scored, cut = len(pairs), len(finals["best"]) - len(pairs)
    if not pairs:
        no_verdict = Lift(None, (None, None), LiftTest(), NONE, seeds_scored=scored, seeds_cut=cut,
                          no_verdict=NO_VERDICT)  # fmt: skip
        return FinalLift(MISSING, MISSING, no_verdict)
    found = lift_on_test([best for best, _ in pairs], [base for _, base in pairs], 0, from_search, arms, leaked)
    lift = replace(found.lift, seeds_scored=scored, seeds_cut=cut)
    if baseline_won:
        clean = replace(lift.leak_free, lift=MISSING, test=LiftTest()) if lift.leak_free else None
        lift = replace(lift, value=None, ci95=(None, None), test=LiftTest(), kind=NONE, no_lift=NO_LIFT,
                       leak_free=clean)  # fmt: skip
    return replace(found, lift=lift)


def compute_ratio(finals: dict[str, list[RunRecord]], like_for_like: bool = True) -> float | None:
    """Training seconds of the winner's final runs over the baseline's (means over seeds): the verdict states
    it, since the winner keeps the epochs, size and network it won with, and the baseline does not get them.
    None unless `like_for_like`: a head trained on cached features against a fine-tuned network leaves out
    the feature extraction the head needed, so the ratio would mean nothing.

    >>> def run(seconds): return RunRecord("key", 0, (), 0.9, 0.9, (), seconds)
    >>> compute_ratio({"best": [run(300.0)], BASELINE: [run(100.0)]})
    3.0
    >>> compute_ratio({"best": [run(300.0)], BASELINE: [run(1.0)]}, like_for_like=False) is None
    True
    """
    best = [r.seconds for r in finals["best"] if r.seconds]
    base = [r.seconds for r in finals[BASELINE] if r.seconds]
    if not like_for_like or not best or not base or not sum(base):
        return None
    return round(float(np.mean(best) / np.mean(base)), 2)
