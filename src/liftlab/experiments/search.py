"""The search: successive halving of the arms on validation accuracy (every arm at a short budget, the
better half at twice that, ...; the baseline at every rung), the stack of what did not hurt, and a greedy
step that adds one remedy at a time to the winner while it beats the winner clearly. The decisions are
pure functions in `halving.py` and `search_effects.py`; this module runs them against the clock.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from liftlab.config import Recipe, with_values
from liftlab.data.loading import ImageData, load_data
from liftlab.experiments import crossval
from liftlab.experiments.arms import stacked
from liftlab.experiments.crossval import saturated
from liftlab.experiments.halving import BASELINE, choose_fractions, survivors, to_stack, winner
from liftlab.experiments.search_effects import clearly_better, effects, paired_standard_error
from liftlab.experiments.work import Improvement, val_of
from liftlab.stats import noise_level
from liftlab.strategies import apply_strategies
from liftlab.train.loop import fit
from liftlab.train.probe import on_features

STACK = "stack"


def rung_recipe(recipe: Recipe, fraction: float) -> Recipe:
    """`recipe` at `fraction` of its epochs (at least one): a rung's budget."""
    return with_values(recipe, {"epochs": max(1, round(recipe.epochs * fraction))})


def fractions_for(work: Improvement, arms: dict[str, Recipe], baseline_seconds: float) -> list[float]:
    """Rung budgets: the largest first rung whose halving fits the search's share of the budget."""
    allowance = work.clock.left_until(work.search_ends()) * work.capacity.speedup  # the baseline was timed alone
    per_epoch = baseline_seconds / max(work.base.epochs, 1)
    sizes = [per_epoch * r.epochs * (r.data.size / work.base.data.size) ** 2 for r in arms.values()]
    return choose_fractions(len(arms) + 1, float(np.mean([*sizes, baseline_seconds])), allowance)


def search(work: Improvement, arms: dict[str, Recipe], baseline_seconds: float, n_val: int) -> dict[str, Any]:
    """Successive halving on validation accuracy; returns the rungs and the winner's name."""
    work.baseline_seconds = baseline_seconds
    fractions = work.remember("fractions", fractions_for(work, arms, baseline_seconds))
    recipes = {BASELINE: work.base, **arms}
    alive = list(arms)
    rungs: list[dict[str, Any]] = []
    target = work.settings.target
    for index, fraction in enumerate(fractions):
        allowance = work.clock.left_until(work.search_ends())
        names = [BASELINE, *alive]
        if rungs and allowance > 0:
            # A rung that cannot finish would compare runs cut at different points of their schedules:
            # skip it and let the final phase train the winner at its full budget.
            previous = rungs[-1]
            per_epoch = {n: previous["seconds"][n] / max(previous["epochs"][n], 1) for n in previous["seconds"]}
            slowest = max(per_epoch.values())  # an arm new at this rung (the stack) costs at most this
            needed = [per_epoch.get(n, slowest) * rung_recipe(recipes[n], fraction).epochs for n in names]
            if work.time_plan.wall_seconds(needed) > allowance:
                work.step("search", f"rung {index + 1} at {fraction:.3g} skipped: it would not fit", work.clock.used())
                break
        if allowance <= 0 and alive:
            spent = f"rung {index + 1} at {fraction:.3g} skipped: the search's share of the budget is spent"
            work.step("search", spent, work.clock.used())
        if allowance <= 0 or not alive:
            break
        started = work.clock.used()
        trained_before, reused_before = work.batch_counts
        records = work.train([(n, rung_recipe(recipes[n], fraction)) for n in names], allowance, work.epoch_cap())
        val = {name: val_of(records[name]) for name in names}
        rungs.append({
            "fraction": fraction,
            "epochs": {name: rung_recipe(recipes[name], fraction).epochs for name in names},
            "val_acc": {name: (None if math.isinf(v) else v) for name, v in val.items()},
            "failed": {name: records[name].stopped_reason for name in names if math.isinf(val[name])},
            "seconds": {name: records[name].seconds for name in names},
            "paired_se": {n: paired_standard_error(records[n], records[BASELINE]) for n in names if n != BASELINE},
        })  # fmt: skip
        ranked = sorted(alive, key=lambda n: val[n], reverse=True)
        work.step(
            "search",
            f"rung {index + 1}: {len(names)} arms at {fraction:.3g} of their epochs; best {ranked[0]} "
            f"{val[ranked[0]]:.4f} (baseline {val[BASELINE]:.4f})",
            started,
            work.batch_counts[0] - trained_before,
            work.batch_counts[1] - reused_before,
        )
        alive, reached = survivors(val, alive, target)
        if reached:
            break
        if index == 0:
            # Remedies add up, and augmentation pays off only with epochs: stack every remedy that did
            # not clearly hurt at this short budget (and ran to the end of its schedule).
            cut = {n for n in ranked if records[n].stopped_by_time}
            helping = to_stack(val, ranked, noise_level(val[BASELINE], n_val), cut)
            if helping:
                stack = work.remember("stack", stacked([s for n in helping for s in work.added(recipes[n])]))
                recipes[STACK] = apply_strategies(work.base, stack)
                alive.append(STACK)
        if len(alive) == 1 and fraction >= 1.0:
            break
    last = rungs[-1]["val_acc"] if rungs else {}
    best = winner(last, alive)
    cross = None
    tied = saturated(last, n_val) if rungs and on_features(work.base) else []
    if tied:
        cross = cross_validated_choice(work, recipes, rungs[-1], tied, n_val)
        if cross is not None:
            best = cross["winner"]
    reached = target is not None and (last.get(best) or 0.0) >= target
    if not reached and not tied:  # a saturated validation split cannot tell an addition from the winner
        useful = [n for n in arms if n not in effects({"rungs": rungs}, n_val)["hurt"]]
        best = greedy(work, recipes, best, useful, rungs, n_val)
    return {"rungs": rungs, "winner": best, "recipes": recipes, "cross_validation": cross}


def cross_validated_choice(
    work: Improvement, recipes: dict[str, Recipe], rung: dict[str, Any], names: list[str], n_val: int
) -> dict[str, Any] | None:
    """With validation saturated at the last rung (`names`, the arms tied at the top): those arms ranked by
    cross-validated accuracy over the training and validation images (`crossval`), when K folds of each fit the
    search's time (one fold is timed first); None when they do not."""
    started = work.clock.used()
    errors = crossval.SATURATED_ERRORS
    saturation = f"validation saturated ({len(names)} arms within {errors} error of 100% on {n_val} images)"
    at_rung = {name: with_values(recipes[name], {"epochs": rung["epochs"][name]}) for name in names}
    folds: dict[str, list[ImageData]] = {}

    def folds_of(recipe: Recipe) -> list[ImageData]:
        key = recipe.data.model_dump_json()
        if key not in folds:  # arms that see the same images share their folds
            folds[key] = crossval.pooled_folds(load_data(work.spec, recipe.data, skip_bad=work.settings.skip_bad))
        return folds[key]

    scored: dict[tuple[str, int], float] = {}

    def score(recipe: Recipe, fold: ImageData) -> float:
        key = (recipe.model_dump_json(), id(fold))  # the folds live in `folds` for the whole choice
        if key not in scored:
            scored[key] = float(fit(recipe, fold).val_acc or 0.0)
        return scored[key]

    # a fold's cost is the head's training plus building the network and reading the cached features, which
    # the rung's records do not show: one fold of the first arm is timed (and kept as that fold's score), and the
    # others are predicted from it
    timing = time.perf_counter()
    score(at_rung[names[0]], folds_of(at_rung[names[0]])[0])
    needed = (time.perf_counter() - timing) * crossval.FOLDS * len(names)
    if needed > work.clock.left_until(work.search_ends()):
        work.step("search", f"{saturation}; cross-validation would need {needed:.0f} s: the halving's winner stays",
                  started)  # fmt: skip
        return None
    ranked = []
    for name, recipe in at_rung.items():
        ranked += crossval.cross_validate({name: recipe}, folds_of(recipe), score)
    ranked.sort(key=lambda result: -result.mean)
    chosen = ranked[0].name
    work.step(
        "search",
        f"{saturation}: they are ranked by {len(ranked[0].folds)}-fold cross-validated accuracy over the training "
        "and validation images; " + ", ".join(f"{r.name} {r.mean:.4f}" for r in ranked[:4]) + f"; chosen {chosen}",
        started,
    )
    return {"folds": len(ranked[0].folds), "scores": {r.name: r.mean for r in ranked},
            "per_fold": {r.name: list(r.folds) for r in ranked}, "winner": chosen}  # fmt: skip


def greedy(
    work: Improvement,
    recipes: dict[str, Recipe],
    winner: str,
    useful: list[str],
    rungs: list[dict[str, Any]],
    n_val: int,
) -> str:
    """With the search's time left: add one more remedy at a time to the winner, at full budget.

    Halving at short budgets favours what converges fast; remedies such as augmentation pay off only
    with enough epochs, and remedies add up, so the winner is tried with each remaining useful remedy
    and the best addition kept while it beats the winner clearly (`search_effects.clearly_better`).
    """
    while True:
        current = recipes[winner]
        # More epochs can be added again; any other remedy once. Best-ranked in the halving first.
        additions = [
            n for n in useful if n.startswith("epochs=") or not set(work.added(recipes[n])) <= set(current.strategies)
        ]
        additions.sort(key=lambda n: max((r["val_acc"].get(n) or 0.0 for r in rungs), default=0.0), reverse=True)
        per_run = work.full_seconds(current) * 1.5  # an addition costs more than the winner alone
        if math.isinf(per_run):  # no run of the winner to time (no rung fitted): nothing to add blind
            return winner
        # Keep what the final phase will need for a winner that costly, then spend the rest here.
        allowance = work.time_plan.spendable(work.clock.left()) - work.final_seconds(per_run)
        if on_features(work.base):  # probes leave the rest of the budget to the fine-tune
            allowance = min(allowance, work.clock.left_until(work.search_ends()))
        affordable = int(allowance * work.workers // per_run) - 1 if per_run > 0 else 0
        additions = additions[: max(affordable, 0)]
        if not additions:
            return winner
        started = work.clock.used()
        trained_before, reused_before = work.batch_counts
        names = [winner] + [f"{winner}+{n}" if winner != BASELINE else n for n in additions]
        for name, addition in zip(names[1:], additions, strict=True):
            recipes[name] = apply_strategies(current, work.added(recipes[addition]))
        records = work.train([(n, recipes[n]) for n in names], allowance, work.epoch_cap())
        val = {n: val_of(records[n]) for n in names}
        rungs.append({
            "fraction": 1.0, "kind": "greedy", "epochs": {n: recipes[n].epochs for n in names},
            "val_acc": {n: (None if math.isinf(v) else v) for n, v in val.items()},
            "failed": {n: records[n].stopped_reason for n in names if math.isinf(val[n])},
            "seconds": {n: records[n].seconds for n in names},
        })  # fmt: skip
        challenger = max(names[1:], key=lambda n: val[n])
        better = clearly_better(records[challenger], records[winner], n_val, len(names) - 1)
        work.step(
            "search",
            f"greedy: {winner} {val[winner]:.4f}; best addition {challenger} {val[challenger]:.4f}"
            + (" (kept)" if better else " (not better: stop)"),
            started,
            work.batch_counts[0] - trained_before,
            work.batch_counts[1] - reused_before,
        )
        if not better:
            return winner
        winner = challenger
