"""The final phase: the winner and the baseline at their full budget on seeds the search did not use; the run
`best/` holds (`exported_run`). The statistics of the verdict are in `lift.py`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from liftlab.config import Recipe, with_values
from liftlab.experiments.improve.context import ImproveContext, PlanLog
from liftlab.experiments.improve.halving import BASELINE
from liftlab.experiments.improve.phase_results import FinalRuns
from liftlab.experiments.improve.trainer import Limits, TrainedBatch
from liftlab.records import RunRecord
from liftlab.records.fields import JsonObject
from liftlab.records.improve import RecipeChange
from liftlab.train.probe import on_features

ADDED_SEEDS = "final_seeds_added_"
"""plan.json keys of the batches of fresh seeds the final phase added, numbered from 1: each written once."""


def _added_batches(plan: PlanLog) -> list[list[int]]:
    added: list[list[int]] = []
    while f"{ADDED_SEEDS}{len(added) + 1}" in plan:
        added.append(list(plan.get(f"{ADDED_SEEDS}{len(added) + 1}")))
    return added


def final(ctx: ImproveContext, winner: Recipe) -> FinalRuns:
    """The winner and the baseline at their full budget over seeds the search did not use (its winner was
    chosen on that seed's luck), as many pairs as fit; when none fits, the winner on the search's seed (the
    search's own run where it ran the full budget, else trained there), and the flag saying so.

    The first batch of pairs is planned from the search's timings (runs side by side with other arms, often
    at a fraction of their epochs); once it has run, the pair's wall time is known and the phase adds fresh
    seeds, up to --seeds, while one more pair fits. The result keeps that measured wall time of a pair."""
    started = ctx.clock.used()
    # a probe baseline's fine-tuned winner was trained alone (a batch of one runs in this process, on every
    # core); every other run was timed in the worker pool the final pairs run in
    alone = on_features(ctx.base) and not on_features(winner) and ctx.workers > 1
    winner_seconds, base_seconds = (
        ctx.time_plan.run_seconds(ctx.full_seconds(recipe)) for recipe in (winner, ctx.base)
    )
    # A fine-tune whose schedule ended by the time its plan gave it took its recorded seconds for the whole
    # schedule: extrapolating them to its nominal epochs overestimated a fresh pair by 5% (a 60-minute TrashNet
    # run planned two fresh seeds and then found no room for them). Its fresh seeds get the same time, in a
    # worker, and end their schedules by it the same way: the recipe they repeat is "this schedule in this time".
    in_worker = ctx.capacity.slowdown if alone else 1.0  # how much slower the winner runs in a worker
    annealed = annealed_search_run(ctx, winner)
    anneal_within = None
    if annealed is not None:
        winner_seconds = annealed.seconds
        anneal_within = annealed.seconds * in_worker
    pair = [winner_seconds * in_worker, base_seconds]
    pair_seconds = planned_pair_seconds(pair, ctx.workers)
    fitting = pairs_that_fit(ctx.time_plan.spendable(ctx.clock.left()), pair, ctx.workers, ctx.settings.seeds)
    fresh = [ctx.base.seed + 1 + offset for offset in range(fitting)]
    seeds = ctx.remember("final_seeds", fresh or [ctx.base.seed])
    if isinstance(seeds, int):  # a plan.json from before the final seeds were distinct: the first N seeds
        seeds = [ctx.base.seed + offset for offset in range(seeds)]
    from_search = seeds == [ctx.base.seed]
    added = _added_batches(ctx.plan)  # seeds an earlier invocation added once its first pairs were timed
    seeds = seeds + [seed for batch in added for seed in batch]
    records: dict[str, RunRecord] = {}
    batches: list[TrainedBatch] = []
    batch = list(seeds)
    while batch:
        batch_started = ctx.clock.used()
        # the winner's runs first: a worker's wait shortens a run whose schedule ends by an absolute time
        runs = sorted(_pairs(ctx.base, winner, batch), key=lambda run: not run[0].startswith("best:"))
        limits = Limits(max(ctx.time_plan.spendable(ctx.clock.left()), 1.0), anneal_within=anneal_within,
                        complete=True)  # fmt: skip
        trained = ctx.trainer.train(runs, limits)
        batches.append(trained)
        records |= trained.records
        # only a batch that trained both runs of each pair measures a pair: one that reused the search's
        # fine-tune and trained the baseline took 68 s on CIFAR-10, where a fresh pair needs over 500 s
        if trained.trained == 2 * len(batch):
            pair_seconds = (ctx.clock.used() - batch_started) / len(batch)
        fitting = int(ctx.time_plan.spendable(ctx.clock.left()) // max(pair_seconds, 1e-9))
        more = min(ctx.settings.seeds - len(seeds), fitting) if not from_search else 0
        batch = [seeds[-1] + 1 + offset for offset in range(max(more, 0))]
        if batch:
            seeds = seeds + batch
            added.append(ctx.remember(f"{ADDED_SEEDS}{len(added) + 1}", batch))  # a rerun finds these runs too
    runs = _pairs(ctx.base, winner, seeds)
    detail = f"winner and baseline at full budget, seed(s) {', '.join(map(str, seeds))}"
    if anneal_within is not None and not from_search:
        detail += f"; the winner's schedules end by {anneal_within:.0f} s in a worker, as the search's run's did"
    ctx.log.batch("final", detail + (" (the search's seed: no fresh pair fits)" if from_search else ""), started,
                  batches)  # fmt: skip
    best = tuple(records[label] for label, _ in runs if label.startswith("best:"))
    baseline = tuple(records[label] for label, _ in runs if label.startswith(f"{BASELINE}:"))
    return FinalRuns(best, baseline, from_search, pair_seconds)


def annealed_by_time(folder: Path) -> dict[str, int] | None:
    """Where the schedule of the run in `folder` ended by time (`fit`'s anneal_within), or None when it ran
    all its steps (or wrote no metrics)."""
    metrics = folder / "metrics.json"
    if not metrics.is_file():
        return None
    found = json.loads(metrics.read_text()).get("annealed_by_time")
    return found if isinstance(found, dict) else None


def annealed_search_run(ctx: ImproveContext, winner: Recipe) -> RunRecord | None:
    """The search's run of `winner` (at its seed) when its schedule ended by time, else None."""
    stored = ctx.trainer.records().values()
    runs = [r for r in stored if list(r.strategies) == winner.strategies and r.seed == winner.seed]
    return next((r for r in runs if annealed_by_time(ctx.trainer.folder(r.key)) is not None), None)


def exported_run(best: list[RunRecord]) -> RunRecord:
    """The winner's run that best/ holds: the first that finished its schedule, else the first (and the
    headline says the deadline cut it).

    >>> cut = RunRecord("a", 1, (), 0.5, 0.5, (), 1.0, stopped_by_time=2)
    >>> whole = RunRecord("b", 2, (), 0.9, 0.9, (), 1.0)
    >>> exported_run([cut, whole]).key, exported_run([cut]).key
    ('b', 'a')
    """
    return next((run for run in best if not run.stopped_by_time), best[0])


def planned_pair_seconds(run_seconds: list[float], workers: int) -> float:
    """Wall time of a pair of runs, each given at its time in a worker: one after the other with one worker,
    else side by side, where the longer one sets the time. (The sum over the workers, as this was planned
    before, put a 596 s fine-tune beside a 10 s probe at 303 s with 480 s left on CIFAR-10; in a worker the
    fine-tune took 1.7x as long and the deadline cut the pair.)

    >>> planned_pair_seconds([1013.0, 10.0], 1), planned_pair_seconds([1013.0, 10.0], 2)
    (1023.0, 1013.0)
    """
    if workers <= 1:
        return float(sum(run_seconds))
    return float(max(run_seconds))


def pairs_seconds(pairs: int, run_seconds: list[float], workers: int) -> float:
    """Wall time of `pairs` pairs of runs (each run given at its time in a worker) trained as one batch: one
    after the other with one worker; else the longer of the longest worker's chain (ceil(pairs / workers)
    of the longest run) and the whole work spread over the workers. Two fresh fine-tunes of 1000 s beside
    two 10-s probes on two workers take about 1010 s, not the 2000 s of two pairs one after the other, which
    kept a 60-minute TrashNet run from planning its fresh seeds.

    >>> pairs_seconds(2, [1000.0, 10.0], 2), pairs_seconds(2, [100.0, 100.0], 2), pairs_seconds(2, [1000.0, 10.0], 1)
    (1010.0, 200.0, 2020.0)
    """
    if pairs <= 0:
        return 0.0
    if workers <= 1:
        return float(pairs * sum(run_seconds))
    chain = math.ceil(pairs / workers) * max(run_seconds)
    return float(max(chain, pairs * sum(run_seconds) / workers))


def pairs_that_fit(seconds: float, run_seconds: list[float], workers: int, most: int) -> int:
    """How many pairs, up to `most`, `pairs_seconds` fits in `seconds`.

    >>> pairs_that_fit(1100, [1000.0, 10.0], 2, 2), pairs_that_fit(1100, [1000.0, 10.0], 1, 2)
    (2, 1)
    """
    return max((k for k in range(most + 1) if pairs_seconds(k, run_seconds, workers) <= seconds), default=0)


def _pairs(base: Recipe, winner: Recipe, seeds: list[int]) -> list[tuple[str, Recipe]]:
    """(label, recipe) of the winner and the baseline on each seed."""
    runs: list[tuple[str, Recipe]] = []
    for seed in seeds:
        runs.append((f"best:{seed}", with_values(winner, {"seed": seed})))
        runs.append((f"{BASELINE}:{seed}", with_values(base, {"seed": seed})))
    return runs


def recipe_diff(base: Recipe, best: Recipe) -> tuple[RecipeChange, ...]:
    """Every field that differs between the two recipes, dotted, with both values."""

    def flatten(data: JsonObject, prefix: str = "") -> JsonObject:
        flat: JsonObject = {}
        for key, value in data.items():
            if isinstance(value, dict):
                flat |= flatten(value, f"{prefix}{key}.")
            else:
                flat[f"{prefix}{key}"] = value
        return flat

    a, b = flatten(base.model_dump(mode="json")), flatten(best.model_dump(mode="json"))
    return tuple(RecipeChange(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))
