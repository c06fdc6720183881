"""Transfer learning inside `improve`: before the search, the transfer plan (time a fine-tuning step, end the
probe search where the fine-tune still gets its epochs, leave out probes whose feature extraction would not
fit); after it, the fine-tune of the winning probe, kept when it beats the probe clearly on validation.
The arithmetic is pure, in `finetune_plan.py`.
"""

from __future__ import annotations

import math

from liftlab.config import Recipe
from liftlab.data.check import CheckReport
from liftlab.experiments.improve.context import ImproveContext
from liftlab.experiments.improve.final import annealed_by_time, pairs_seconds
from liftlab.experiments.improve.finetune_plan import (
    epoch_seconds,
    epochs_that_fit,
    finetune_minimum,
    finetune_need,
    finetune_recipe,
    finetune_size,
    keeps_finetune,
    plan_seeded_finetune,
    scoring_seconds,
    train_sides,
    upscaled,
)
from liftlab.experiments.improve.halving import BASELINE
from liftlab.experiments.improve.phase_results import (
    FineTuneResult,
    SearchResult,
    TransferPlan,
    best_rung,
    last_val_loss,
)
from liftlab.experiments.improve.probe_features import arms_whose_features_fit
from liftlab.experiments.improve.search_effects import clearly_better
from liftlab.experiments.improve.step_timing import StepTiming, shape_timing_seconds
from liftlab.experiments.improve.time_plan import START_SECONDS
from liftlab.experiments.improve.trainer import Limits
from liftlab.records.search import FINE_TUNE, Rung, val_of


def plan_transfer(
    ctx: ImproveContext, check: CheckReport, arms: dict[str, Recipe], baseline_seconds: float
) -> TransferPlan:
    """For a probe baseline, before the search: time a fine-tuning step of the baseline's backbone, end the
    probe search where the fine-tune still gets the plan it prefers and its test pass (`finetune_need`), and
    keep the arms whose one-off feature extraction is predicted to fit in the search's time."""
    started = ctx.clock.used()
    native = check.native_short_side
    per_epoch, per_image, _ = full_size_epoch(ctx, ctx.base, len(check.classes), check.split_size("train"),
                                              check.split_size("val"), native)  # fmt: skip
    size = ctx.base.data.size
    scoring = scoring_seconds(check.split_size("test"), per_image, size)
    need = finetune_need(per_epoch, size, native, scoring)
    minimum = finetune_minimum(per_epoch, size, native, scoring)
    after_search = ctx.time_plan.reserve() + ctx.settings.seeds * baseline_seconds
    budget = ctx.settings.budget_s
    end, finetune_fits = ctx.time_plan.probe_search_share(ctx.clock.used(), need, minimum, after_search)
    end = ctx.remember("probe_search_end", end)
    # seconds of one image through the frozen baseline backbone, timed; a worker beside others runs
    # `slowdown` times slower (experiments/capacity.py)
    per_row = per_image * ctx.capacity.slowdown
    allowance = ctx.clock.left_until(end)
    thumbnails = [
        name
        for name, recipe in arms.items()
        if upscaled(ctx.base.data.size, native) and another_backbone_or_size(ctx.base, recipe)
    ]
    candidates = {name: recipe for name, recipe in arms.items() if name not in thumbnails}
    kept, dropped = arms_whose_features_fit(ctx.base, candidates, check.split_sizes, per_row, allowance)
    names = ctx.remember("probe_arms", kept)
    detail = (
        f"fine-tuning epoch {per_epoch:.0f} s predicted; the probe search ends at "
        f"{end * budget:.0f} s of {budget:.0f} s"
    )
    if not finetune_fits:
        detail += (
            f" (the cheapest fine-tune, {minimum:.0f} s with its test pass, does not fit in the "
            f"{budget - ctx.clock.used() - after_search:.0f} s the final runs and the evaluation leave: the probes "
            "get the time)"
        )
    if thumbnails:
        detail += (
            f"; left out for upscaled images (the fine-tune trains at their own scale, where another "
            f"backbone's lead as a probe at its native size does not carry over): {', '.join(thumbnails)}"
        )
    if dropped:
        detail += (
            f"; left out for their feature extraction (together they would pass the {allowance:.0f} s to search): "
            f"{', '.join(dropped)}"
        )
    ctx.step("transfer plan", detail, started)
    return TransferPlan({name: arms[name] for name in names if name in arms}, end, per_image)


def keep_after_finetune(ctx: ImproveContext, test_pass_seconds: float) -> float:
    """Seconds the fine-tune leaves for what follows it: the baseline's final run, one pass of the fine-tuned
    network over the test split in the final phase, and the evaluation's reserve (the evaluation reads the
    probabilities that pass kept beside the weights, `train/scored.py`, instead of a second pass)."""
    return ctx.full_seconds(ctx.base) + test_pass_seconds + ctx.time_plan.reserve()


def another_backbone_or_size(base: Recipe, arm: Recipe) -> bool:
    """Whether probe `arm` looks through another backbone or at another size than the `base` probe.

    Upscaled images (CIFAR-10's 32 px at 128) leave such arms out: with `improve --budget 20m` on CIFAR-10
    (9,000 images), EfficientNet-Lite1 at 240 px won the probe search (val 82.4% against 76.3%), at the cost
    of 298 s of feature extraction, but its fine-tune at 96 px reached 85.3% val in 774 s where Lite0's at 128
    px reached 88.0% in 887 s: a probe's lead at a backbone's native size does not carry over to fine-tuning
    at the images' own scale, where the profile's backbone and size are what the fine-tune uses.
    """
    return (arm.model.pretrained, arm.data.size) != (base.model.pretrained, base.data.size)


def full_size_epoch(
    ctx: ImproveContext, probe: Recipe, classes: int, n_train: int, n_val: int, native: float | None
) -> tuple[float, float, StepTiming]:
    """(predicted seconds of a fine-tuning epoch of `probe` at its full size, seconds per image of evaluating it
    there, the step's timing at the smallest training side). The step is timed at the smallest side, what a
    short budget trains at (a 10-minute TrashNet run then times one shape, not two: 17 s saved), and scaled
    up by pixels; `finetune` times it again at the side it picks when that is another. The timings come from
    `ctx.timings`: the search's winner, mostly the base probe with another head or augmentation, reuses the
    plan's."""
    side = train_sides(probe.data.size, native)[-1]
    trial = finetune_recipe(probe, 1, side, probe.data.size, upscaled(probe.data.size, native))
    timing = ctx.timings.step(trial, classes)
    per_image = ctx.timings.evaluation(trial, classes, probe.data.size, timing.dtype)
    step = timing.seconds * (probe.data.size / side) ** 2
    return epoch_seconds(n_train, n_val, trial.optim.batch_size, step, per_image), per_image, timing


def finetune(ctx: ImproveContext, search: SearchResult, check: CheckReport, n_val: int) -> FineTuneResult:
    """With the time the final runs and the evaluation leave, fine-tune the winning probe end to end for as
    many epochs as fit (`experiments/improve/finetune_plan.py`); it becomes the winner when it finishes and scores above
    the probe on validation. The result says which wins and whether the fine-tune clearly helped (kept, and
    better than the probe by 2 paired standard errors)."""
    winner = search.winner
    probe = search.recipes[winner]
    started = ctx.clock.used()
    n_train, n_test = check.split_size("train"), check.split_size("test")
    classes = len(check.classes)
    native = check.native_short_side
    per_epoch, eval_image, smallest_step = full_size_epoch(ctx, probe, classes, n_train, n_val, native)
    partial = upscaled(probe.data.size, native)

    scoring = scoring_seconds(n_test, eval_image, probe.data.size)

    def kept_after(test_size: int) -> float:
        # a fresh seed of a fine-tune does not fit after it, so the final phase scores this run against the
        # baseline at the search's seed (labelled as a model comparison): keep what that baseline run needs,
        # and the time to score the fine-tuned network on the test split there at its test size
        return keep_after_finetune(ctx, scoring(test_size))

    # The step was timed at the smallest side and scaled by pixels, which overestimates larger sides (CIFAR-10,
    # Lite0 partial: 0.59 s predicted at 192 px from 96, 0.49 s measured): the side picked is timed (the run
    # then finds the verdict cached) and the plan made again with that rate, until it picks a timed side.
    # Timing a side costs steps of it, counted in the plan: a 4-minute run on 240 photos timed Lite2 at 256
    # px for about 50 s, and that time then sent the plan back to the 192 px it had timed first.
    smallest = train_sides(probe.data.size, native)[-1]

    def trial(side: int) -> Recipe:
        return finetune_recipe(probe, 1, side, finetune_size(side, probe.data.size, native), partial)

    def to_time(side: int) -> float:
        if ctx.timings.has_step(trial(side), classes):
            return 0.0
        return shape_timing_seconds(probe, smallest_step.seconds * (side / smallest) ** 2)

    # Spare time buys fresh seeds: when the plan the fine-tune prefers (GOOD_EPOCHS at the largest side) fits
    # once for this run and once for each of --seeds fresh seeds the final phase trains (each beside the
    # baseline's probe, in a worker, `slowdown` times slower), plan that, and the final phase scores the
    # recipe over fresh seeds; else the one run gets every epoch that fits.
    fresh = ctx.settings.seeds
    slowdown = ctx.capacity.slowdown if ctx.workers > 1 else 1.0
    # the fresh seeds' fine-tunes run side by side in the final phase's batch (`final.pairs_seconds`): their
    # wall time in units of this run's
    fresh_runs = pairs_seconds(fresh, [slowdown, 0.0], ctx.workers)

    def kept_after_seeds(test_size: int) -> float:
        each = ctx.full_seconds(ctx.base) + scoring(test_size) + START_SECONDS
        return fresh * each + scoring(test_size) + ctx.time_plan.reserve()

    def plan(seconds_per_epoch: float) -> tuple[int, int, bool]:
        return plan_seeded_finetune(ctx.clock.left(), seconds_per_epoch, probe.data.size, native,
                                    kept_after, kept_after_seeds, to_time, fresh_runs)  # fmt: skip

    side, epochs, seeded = plan(per_epoch)
    while epochs and not ctx.timings.has_step(trial(side), classes):
        recipe = trial(side)
        full_size_step = ctx.timings.step(recipe, classes).seconds * (probe.data.size / side) ** 2
        per_epoch = epoch_seconds(n_train, n_val, recipe.optim.batch_size, full_size_step, eval_image)
        side, epochs, seeded = plan(per_epoch)
    size = finetune_size(side, probe.data.size, native)
    keep = kept_after_seeds(size) if seeded else kept_after(size)
    if epochs:
        # validation runs at the test size, timed there
        chosen = trial(side)
        timing = ctx.timings.step(chosen, classes)
        val_image = ctx.timings.evaluation(chosen, classes, size, timing.dtype)
        per_epoch = epoch_seconds(n_train, n_val, chosen.optim.batch_size, timing.seconds, val_image)
        # scored at the test size the plan chose
        keep = kept_after_seeds(size) if seeded else keep_after_finetune(ctx, n_test * val_image)
        epochs = epochs_that_fit(ctx.clock.left() - keep, per_epoch * ((1 + fresh_runs) if seeded else 1))
    side, size, epochs = ctx.remember("finetune_plan", [side, size, epochs])
    # a seeded plan shares the time left with the fresh seeds' runs: this run gets its part of it
    left = (ctx.clock.left() - keep) / ((1 + fresh_runs) if seeded else 1.0)
    name = f"{winner}+fine-tune" if winner != BASELINE else "fine-tune"
    if not epochs:
        ctx.step("fine-tune", f"skipped: {per_epoch:.0f} s an epoch, {max(left, 0):.0f} s left", started)
        return FineTuneResult(name, None, None, winner, False)
    tuned = finetune_recipe(probe, epochs, side, size, partial)
    # The schedule ends by the time the plan gave it, less the start-up and the last validation: a machine
    # slower than its prediction trains fewer steps, annealed, where it used to be cut and dropped.
    anneal_within = max(left - START_SECONDS - n_val * val_image, 1.0)
    batch = ctx.trainer.train([(name, tuned)], Limits(max(left, 1.0), anneal_within=anneal_within))
    record = batch.records[name]
    # the probe at its best validation accuracy in the search (at its full epochs where it got there)
    probe_rung = best_rung(search.rungs, winner)
    probe_val = probe_rung.score(winner) if probe_rung else -math.inf
    val = val_of(record)
    rung = Rung(
        FINE_TUNE, 1.0, {winner: probe.epochs, name: epochs},
        {winner: None if math.isinf(probe_val) else probe_val, name: None if math.isinf(val) else val},
        {name: record.stopped_reason} if math.isinf(val) else {}, {name: record.seconds},
    )  # fmt: skip
    # a run the deadline cut never finished its schedule: it is not the recipe, and is not kept
    cut = bool(record.stopped_by_time)
    probe_record = ctx.rung_record(winner, probe, probe_rung) if probe_rung else None
    losses = (last_val_loss(record), last_val_loss(probe_record) if probe_record is not None else None)
    kept = keeps_finetune(val, probe_val, cut, losses)
    helped = kept and probe_record is not None and clearly_better(record, probe_record, n_val)
    planned = START_SECONDS + epochs * per_epoch
    annealed = annealed_by_time(ctx.trainer.folder(record.key))
    by_time = f"; schedule ended by time at step {annealed['step']} of epoch {annealed['epoch']}" if annealed else ""
    verdict = " (kept" + (", clearly better)" if helped else ")") if kept else ""
    if not kept:
        verdict = " (cut by the deadline: the probe stays)" if cut else " (not better: the probe stays)"
    views = " on the image and its mirror" if tuned.tta == "flip" else ""
    ctx.log.batch(
        "fine-tune",
        f"{name}: {epochs} epochs, {side} px crops tested at {size} px{views} ({planned:.0f} s predicted, "
        f"{record.seconds:.0f} s trained{by_time}), val {val:.4f} against {probe_val:.4f}{verdict}"
        + (f"; time kept for {fresh} fresh seed(s) of it in the final phase" if seeded else ""),
        started,
        [batch],
    )
    return FineTuneResult(name, tuned, rung, name if kept else winner, helped)
