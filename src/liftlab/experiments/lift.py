"""The verdict on the test split: how much the winner lifts the baseline, with honest uncertainty.

Pure functions of the final runs' records (test labels and predictions per seed), so every claim is
checked by simulation in `tests/experiments/test_lift.py` with synthetic predictions:

- only seed pairs whose runs both finished their schedules are scored (a run the deadline cut is not its
  recipe);
- the interval resamples seed pairs, then test images (a two-level bootstrap): with several seeds the seed-
  to-seed variation is part of the recipe's lift, and a one-image-level bootstrap leaves it out;
- the paired test counts each test image once (`stats.mcnemar`, clustered by image over seeds);
- the scope says what was compared: the recipe over N fresh seeds, or, with one seed or with a run reused
  from the search (chosen there on validation), a comparison of two trained models.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from liftlab.errors import BadInputError
from liftlab.evaluate.metrics import bootstrap_weights, estimates
from liftlab.experiments.halving import BASELINE
from liftlab.records import RunRecord
from liftlab.stats import mcnemar

RESAMPLES = 1000
NO_VERDICT = (
    "no final pair of winner and baseline finished its schedule within the budget; a run the deadline cut "
    "did not train its recipe, so it is not scored as one. Give a longer --budget"
)


def scope(seeds: int, from_search: bool) -> str:
    """What a lift over `seeds` seed pairs describes (the words the report and improve.json show).

    >>> scope(3, False)
    'recipe: 3 seeds not used in the search, test split (seeds and test images resampled)'
    >>> print(scope(1, True))
    model comparison, one seed: the search's own run (chosen there on validation), test split
    """
    if from_search:
        return "model comparison, one seed: the search's own run (chosen there on validation), test split"
    if seeds == 1:
        return "model comparison, one seed (seed-to-seed variation not measured), test split"
    return f"recipe: {seeds} seeds not used in the search, test split (seeds and test images resampled)"


def seeds_then_images(
    best: np.ndarray, baseline: np.ndarray, resamples: int = RESAMPLES, seed: int = 0
) -> dict[str, np.ndarray]:
    """(resamples,) bootstrap draws of the test accuracy of `best`, of `baseline` and of their difference, from
    (seeds, images) arrays of per-image correctness: seed pairs drawn with replacement, then test images.

    >>> draws = seeds_then_images(np.ones((2, 50), bool), np.zeros((2, 50), bool), 10)
    >>> float(draws["lift"].min()), float(draws["lift"].max())
    (1.0, 1.0)
    """
    rng = np.random.default_rng(seed)
    n_seeds, n_images = best.shape
    chunks: dict[str, list[np.ndarray]] = {"best": [], BASELINE: [], "lift": []}
    for weights in bootstrap_weights(n_images, resamples, rng):
        picks = rng.integers(0, n_seeds, (weights.shape[0], n_seeds))  # the same seed for both of a pair
        per_image = {"best": best[picks].mean(axis=1), BASELINE: baseline[picks].mean(axis=1)}
        accuracy = {name: np.einsum("ri,ri->r", weights, values) / n_images for name, values in per_image.items()}
        for name in ("best", BASELINE):
            chunks[name].append(accuracy[name])
        chunks["lift"].append(accuracy["best"] - accuracy[BASELINE])
    return {name: np.concatenate(parts) for name, parts in chunks.items()}


def lift_on_test(
    best: list[RunRecord], baseline: list[RunRecord], seed: int = 0, from_search: bool = False
) -> dict[str, Any]:
    """Test accuracy of each (mean over seeds) and the lift, with 95% intervals from `seeds_then_images`,
    the clustered McNemar p-value and the scope (`from_search`: the winner's run is the search's own)."""
    labels = np.asarray(best[0].test_labels)
    if not labels.size or any(not r.test_predictions for r in best + baseline):
        raise BadInputError("improve: a final run has no test predictions (it failed); see improve.json's runs")
    correct = {
        name: np.stack([np.asarray(r.test_predictions) == labels for r in records])
        for name, records in (("best", best), (BASELINE, baseline))
    }
    means = {name: values.mean(axis=0) for name, values in correct.items()}
    point = {"best": means["best"].mean(), BASELINE: means[BASELINE].mean()}
    point["lift"] = point["best"] - point[BASELINE]
    draws = seeds_then_images(correct["best"], correct[BASELINE], RESAMPLES, seed)
    found = {name: estimates(np.asarray(point[name]), draws[name])[0].record() for name in point}
    test = mcnemar(list(correct["best"]), list(correct[BASELINE]), seed)
    lift = found["lift"] | {"mcnemar_p": test.p_value, "test": test.method, "scope": scope(len(best), from_search)}
    return found | {"lift": lift}


def final_lift(finals: dict[str, list[RunRecord]], from_search: bool = False) -> dict[str, Any]:
    """`lift_on_test` over the seed pairs whose winner and baseline runs both finished their schedules; a pair with
    a run the deadline cut is left out, and with no pair left there is no verdict (values None, `no_verdict`
    says why). Time only chooses how many seeds there are, never what a cut run would have reached."""
    pairs = [
        (best, base)
        for best, base in zip(finals["best"], finals[BASELINE], strict=True)
        if not best.stopped_by_time and not base.stopped_by_time
    ]
    counts = {"seeds_scored": len(pairs), "seeds_cut": len(finals["best"]) - len(pairs)}
    if pairs:
        found = lift_on_test([best for best, _ in pairs], [base for _, base in pairs], from_search=from_search)
        return found | {"lift": found["lift"] | counts}
    missing: dict[str, Any] = {"value": None, "ci95": [None, None]}
    no_verdict = {"mcnemar_p": None, "no_verdict": NO_VERDICT, **counts}
    return {"best": missing, BASELINE: missing, "lift": missing | no_verdict}


def compute_ratio(finals: dict[str, list[RunRecord]]) -> float | None:
    """Training seconds of the winner's final runs over the baseline's (means over seeds): the verdict states
    it, since the winner keeps the epochs, size and network it won with, and the baseline does not get them.

    >>> def run(seconds): return RunRecord("key", 0, (), 0.9, 0.9, (), seconds)
    >>> compute_ratio({"best": [run(300.0)], BASELINE: [run(100.0)]})
    3.0
    """
    best = [r.seconds for r in finals["best"] if r.seconds]
    base = [r.seconds for r in finals[BASELINE] if r.seconds]
    if not best or not base or not sum(base):
        return None
    return round(float(np.mean(best) / np.mean(base)), 2)
