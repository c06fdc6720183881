"""The search: successive halving of the arms on validation accuracy (every arm at a short budget, the
better half at twice that, ...; the baseline at every rung), the stack of what did not hurt, and a greedy
step that adds one remedy at a time to the winner while it beats the winner clearly. The decisions are
pure functions in `halving.py` and `search_effects.py`; this module runs them against the clock and returns
a `SearchResult`.
"""

from __future__ import annotations

import math

import numpy as np

from liftlab.config import Recipe, with_values
from liftlab.experiments.improve import crossval
from liftlab.experiments.improve.arms import more_epochs, stacked
from liftlab.experiments.improve.context import ImproveContext
from liftlab.experiments.improve.crossval import saturated
from liftlab.experiments.improve.halving import BASELINE, choose_fractions, survivors, to_stack, winner
from liftlab.experiments.improve.phase_results import SearchResult
from liftlab.experiments.improve.search_effects import effects, paired_standard_error
from liftlab.experiments.improve.trainer import Limits
from liftlab.experiments.selection import keeps_addition
from liftlab.records.search import GREEDY, HALVING, CrossValidatedChoice, Rung
from liftlab.stats import noise_level
from liftlab.strategies import apply_strategies
from liftlab.train.probe import on_features

STACK = "stack"


def rung_recipe(recipe: Recipe, fraction: float) -> Recipe:
    """`recipe` at `fraction` of its epochs (at least one): a rung's budget."""
    return with_values(recipe, {"epochs": max(1, round(recipe.epochs * fraction))})


def fractions_for(
    ctx: ImproveContext, arms: dict[str, Recipe], baseline_seconds: float, search_end: float
) -> list[float]:
    """Rung budgets: the largest first rung whose halving fits the search's share of the budget."""
    allowance = ctx.clock.left_until(search_end) * ctx.capacity.speedup  # the baseline was timed alone
    per_epoch = baseline_seconds / max(ctx.base.epochs, 1)
    sizes = [per_epoch * r.epochs * (r.data.size / ctx.base.data.size) ** 2 for r in arms.values()]
    return choose_fractions(len(arms) + 1, float(np.mean([*sizes, baseline_seconds])), allowance)


def search(
    ctx: ImproveContext, arms: dict[str, Recipe], baseline_seconds: float, n_val: int, search_end: float
) -> SearchResult:
    """Successive halving on validation accuracy until `search_end` (a share of the budget), then the greedy
    additions; `baseline_seconds`: the diagnosis baseline's training time, which caps a search run's epochs."""
    fractions = ctx.remember("fractions", fractions_for(ctx, arms, baseline_seconds, search_end))
    epoch_cap = ctx.time_plan.epoch_cap(baseline_seconds, ctx.base.epochs)
    recipes = {BASELINE: ctx.base, **arms}
    alive = list(arms)
    rungs: list[Rung] = []
    target = ctx.settings.target
    for index, fraction in enumerate(fractions):
        allowance = ctx.clock.left_until(search_end)
        names = [BASELINE, *alive]
        if rungs and allowance > 0:
            # A rung that cannot finish would compare runs cut at different points of their schedules:
            # skip it and let the final phase train the winner at its full budget.
            previous = rungs[-1]
            per_epoch = {n: previous.seconds[n] / max(previous.epochs[n], 1) for n in previous.seconds}
            slowest = max(per_epoch.values())  # an arm new at this rung (the stack) costs at most this
            needed = [per_epoch.get(n, slowest) * rung_recipe(recipes[n], fraction).epochs for n in names]
            if ctx.time_plan.wall_seconds(needed) > allowance:
                ctx.step("search", f"rung {index + 1} at {fraction:.3g} skipped: it would not fit", ctx.clock.used())
                break
        if allowance <= 0 and alive:
            spent = f"rung {index + 1} at {fraction:.3g} skipped: the search's share of the budget is spent"
            ctx.step("search", spent, ctx.clock.used())
        if allowance <= 0 or not alive:
            break
        started = ctx.clock.used()
        runs = {name: rung_recipe(recipes[name], fraction) for name in names}
        batch = ctx.trainer.train(list(runs.items()), Limits(allowance, epoch_cap))
        records = batch.records
        paired = {n: paired_standard_error(records[n], records[BASELINE]) for n in names if n != BASELINE}
        rung = Rung.scored(HALVING, fraction, {n: r.epochs for n, r in runs.items()}, records, paired)
        rungs.append(rung)
        val = {name: rung.score(name) for name in names}
        ranked = sorted(alive, key=lambda n: val[n], reverse=True)
        ctx.log.batch(
            "search",
            f"rung {index + 1}: {len(names)} arms at {fraction:.3g} of their epochs; best {ranked[0]} "
            f"{val[ranked[0]]:.4f} (baseline {val[BASELINE]:.4f})",
            started,
            [batch],
        )
        if on_features(ctx.base) and saturated(val, n_val):
            # The arms tied at the top cannot be told apart on validation, at this rung or any longer one: a cut
            # here would keep them by list order. Cross-validation ranks them all at this rung's epochs instead.
            ctx.step("search", f"rung {index + 1}: validation saturated; the halving stops here", ctx.clock.used())
            break
        alive, reached = survivors(val, alive, target)
        if reached:
            break
        if index == 0:
            # Remedies add up, and augmentation pays off only with epochs: stack every remedy that did
            # not clearly hurt at this short budget (and ran to the end of its schedule).
            cut = {n for n in ranked if records[n].stopped_by_time}
            helping = to_stack(val, ranked, noise_level(val[BASELINE], n_val), cut)
            if helping:
                stack = ctx.remember("stack", stacked([s for n in helping for s in ctx.added(recipes[n])]))
                recipes[STACK] = apply_strategies(ctx.base, stack)
                alive.append(STACK)
        if len(alive) == 1 and fraction >= 1.0:
            break
    last = dict(rungs[-1].val_acc) if rungs else {}
    best = winner(last, alive)
    cross = None
    tied = saturated(last, n_val) if rungs and on_features(ctx.base) else []
    if tied:
        cross = cross_validated_choice(ctx, recipes, rungs[-1], tied, n_val, search_end)
        if cross is not None:
            best = cross.winner
    reached = target is not None and (last.get(best) or 0.0) >= target
    if not reached and not tied:  # a saturated validation split cannot tell an addition from the winner
        useful = [n for n in arms if n not in effects(rungs, n_val).hurt]
        best = greedy(ctx, recipes, best, useful, rungs, n_val, epoch_cap, search_end)
    return SearchResult(tuple(rungs), recipes, best, cross)


def cross_validated_choice(
    ctx: ImproveContext, recipes: dict[str, Recipe], rung: Rung, names: list[str], n_val: int, search_end: float
) -> CrossValidatedChoice | None:
    """With validation saturated at the last rung (`names`, the arms tied at the top): those arms ranked by
    cross-validated accuracy over the training and validation images (`crossval`), when K folds of each fit the
    search's time (one fold is timed first); None when they do not."""
    started = ctx.clock.used()
    errors = crossval.SATURATED_ERRORS
    saturation = f"validation saturated ({len(names)} arms within {errors} error of 100% on {n_val} images)"
    at_rung = {name: with_values(recipes[name], {"epochs": rung.epochs[name]}) for name in names}
    # a fold's cost is the head's training plus building the network and reading the cached features, which
    # the rung's records do not show: one fold of the first arm is timed (the trainer keeps its score), and the
    # others are predicted from it
    timing = ctx.clock.used()
    ctx.trainer.fold_score(at_rung[names[0]], 0)
    needed = (ctx.clock.used() - timing) * crossval.FOLDS * len(names)
    if needed > ctx.clock.left_until(search_end):
        ctx.step("search", f"{saturation}; cross-validation would need {needed:.0f} s: the halving's winner stays",
                 started)  # fmt: skip
        return None
    ranked = []
    for name, recipe in at_rung.items():
        ranked += crossval.cross_validate({name: recipe}, range(ctx.trainer.folds(recipe)), ctx.trainer.fold_score)
    ranked.sort(key=lambda result: -result.mean)
    chosen = ranked[0].name
    ctx.step(
        "search",
        f"{saturation}: they are ranked by {len(ranked[0].folds)}-fold cross-validated accuracy over the training "
        "and validation images; " + ", ".join(f"{r.name} {r.mean:.4f}" for r in ranked[:4]) + f"; chosen {chosen}",
        started,
    )
    return CrossValidatedChoice(len(ranked[0].folds), {r.name: r.mean for r in ranked},
                                {r.name: tuple(r.folds) for r in ranked}, chosen)  # fmt: skip


def addable(strategies: list[str], current: Recipe) -> bool:
    """Whether an arm adding `strategies` to the baseline can still be added to `current`: more epochs again and
    again, any other remedy once."""
    repeats = bool(strategies) and all(map(more_epochs, strategies))
    return repeats or not set(strategies) <= set(current.strategies)


def greedy(
    ctx: ImproveContext,
    recipes: dict[str, Recipe],
    winner: str,
    useful: list[str],
    rungs: list[Rung],
    n_val: int,
    epoch_cap: float,
    search_end: float,
) -> str:
    """With the search's time left: add one more remedy at a time to the winner, at full budget; each round
    adds its recipes to `recipes` and its rung to `rungs` (the search's own, still being built).

    Halving at short budgets favours what converges fast; remedies such as augmentation pay off only
    with enough epochs, and remedies add up, so the winner is tried with each remaining useful remedy
    and the best addition kept while it beats the winner clearly (`experiments.selection.keeps_addition`, the
    rule `ablate --combine greedy` uses too).
    """
    while True:
        current = recipes[winner]
        additions = [n for n in useful if addable(ctx.added(recipes[n]), current)]
        additions.sort(key=lambda n: max((r.val_acc.get(n) or 0.0 for r in rungs), default=0.0), reverse=True)
        per_run = ctx.full_seconds(current) * 1.5  # an addition costs more than the winner alone
        if math.isinf(per_run):  # no run of the winner to time (no rung fitted): nothing to add blind
            return winner
        # Keep what the final phase will need for a winner that costly, then spend the rest here.
        final_need = ctx.time_plan.final_seconds(per_run, ctx.full_seconds(ctx.base))
        allowance = ctx.time_plan.spendable(ctx.clock.left()) - final_need
        if on_features(ctx.base):  # probes leave the rest of the budget to the fine-tune
            allowance = min(allowance, ctx.clock.left_until(search_end))
        affordable = int(allowance * ctx.workers // per_run) - 1 if per_run > 0 else 0
        additions = additions[: max(affordable, 0)]
        if not additions:
            return winner
        started = ctx.clock.used()
        names = [winner] + [f"{winner}+{n}" if winner != BASELINE else n for n in additions]
        for name, addition in zip(names[1:], additions, strict=True):
            recipes[name] = apply_strategies(current, ctx.added(recipes[addition]))
        batch = ctx.trainer.train([(n, recipes[n]) for n in names], Limits(allowance, epoch_cap))
        rung = Rung.scored(GREEDY, 1.0, {n: recipes[n].epochs for n in names}, batch.records)
        rungs.append(rung)
        challenger = max(names[1:], key=rung.score)
        better = keeps_addition([batch.records[challenger]], [batch.records[winner]], candidates=len(names) - 1)
        ctx.log.batch(
            "search",
            f"greedy: {winner} {rung.score(winner):.4f}; best addition {challenger} {rung.score(challenger):.4f}"
            + (" (kept)" if better else " (not better: stop)"),
            started,
            [batch],
        )
        if not better:
            return winner
        winner = challenger
