"""`liftlab improve`: the whole loop under a time budget.

Data check -> diagnosis (which trains the baseline) -> candidate arms from the advisor's recommendations ->
successive halving across the arms on validation accuracy -> the winner and the baseline trained at their
full budget over several seeds -> both scored on the untouched test split, the lift with its interval ->
`best/` (a `train` run folder), `improve.json` and `report.html`.

Only validation accuracy chooses; the test split is read once per final run and never compared before
the winner is fixed. Every run goes through the run store by content, and the plan (fractions, seeds) is
written down when it is first decided, so rerunning the same command resumes without retraining.
"""

from __future__ import annotations

import json
import platform
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

import liftlab
from liftlab.config import Recipe
from liftlab.experiments.improve.arms import candidates
from liftlab.experiments.improve.budget import Clock, early_end_reason, overrun_reason
from liftlab.experiments.improve.context import ImproveContext, ImproveSettings, StepLog, open_context
from liftlab.experiments.improve.ensemble import (
    choose_ensemble,
    choose_probe_member,
    ensemble_detail,
    export_ensemble,
    export_probe_member,
    members_of,
    probe_candidate,
    probe_member_detail,
)
from liftlab.experiments.improve.final import exported_run, final, recipe_diff
from liftlab.experiments.improve.finetune_phase import finetune, plan_transfer
from liftlab.experiments.improve.lift import BASELINE, compute_ratio, final_lift, leaked_mask
from liftlab.experiments.improve.phase_results import SearchResult
from liftlab.experiments.improve.profile import PROFILE_SOURCE, profiled_baseline
from liftlab.experiments.improve.search import search
from liftlab.experiments.improve.search_effects import effects
from liftlab.experiments.improve.start import checked_data, diagnosed
from liftlab.experiments.tracking import start_tracking
from liftlab.io import write_json
from liftlab.records import (
    EnsembleChoice,
    Exported,
    ImproveResult,
    ProbeMemberChoice,
    RecipeResult,
    RunRecord,
    RunSummary,
    Step,
)
from liftlab.records.runs import RunMetrics
from liftlab.report.verdict import verdict_sentences
from liftlab.stats import accuracy_without
from liftlab.train.export import FORMATS, export_run
from liftlab.train.inference import tta_view_count
from liftlab.train.probe import on_features

RESUME_NOTE = (
    "continued an earlier, interrupted invocation in this folder: its finished runs were reused unchanged, "
    "and a run cut short by the interruption continued from its last epoch's checkpoint. The time budget restarts "
    "with each invocation and the search cuts runs by elapsed time, so which arms and rungs fit can differ "
    "from one uninterrupted invocation; a reused run's numbers are exactly those it was trained with."
)


def improve(
    spec: str,
    base: Recipe,
    out: Path,
    settings: ImproveSettings | None = None,
    on_step: Callable[[Step], None] = lambda step: None,
) -> ImproveResult:
    """Run the whole loop and write improve.json, report.html, best/ and evaluation/ into `out`."""
    from liftlab.evaluate.command import evaluate_run_folder
    from liftlab.evaluate.evaluation import ModelChecks
    from liftlab.report.improve import improve_report

    settings = settings or ImproveSettings()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    asked = {"data": spec, "budget_s": settings.budget_s, "seeds": settings.seeds, "out": str(out)}
    tracker = start_tracking(settings.track, "improve", f"improve {spec}", asked)
    clock = Clock(settings.budget_s)
    log = StepLog(clock, on_step)
    check = checked_data(spec, base, settings, log)
    profile = None
    if settings.profile:
        started = clock.used()
        base, profile = profiled_baseline(check, list(settings.overrides))
        log.add("profile", "; ".join(profile.reasons), started)
    ctx, session = open_context(spec, base, settings, out, clock, log, tracker)
    found_at_start = session.found_at_start if ctx.plan.found else 0  # runs an earlier invocation here left
    source = (PROFILE_SOURCE, *profile.reasons) if profile else ("your recipe, with --set on top",)
    diagnosis = diagnosed(ctx, check, source)
    n_val = check.split_size("val")
    baseline_seconds = diagnosis.baseline_seconds
    arms = candidates(ctx, diagnosis)
    probe_search_end = None
    forward_seconds = 0.0  # one image through the baseline's backbone at its size (probe baselines)
    if on_features(base):
        transfer = plan_transfer(ctx, check, arms, baseline_seconds)
        arms, probe_search_end, forward_seconds = dict(transfer.arms), transfer.search_end, transfer.forward_seconds
    search_end = ctx.time_plan.search_ends(on_features(base), probe_search_end)
    searched = search(ctx, arms, baseline_seconds, n_val, search_end)
    finetune_helped = False
    if on_features(searched.recipes[searched.winner]):
        finetuned = finetune(ctx, searched, check, n_val)
        searched, finetune_helped = searched.with_finetune(finetuned), finetuned.helped
    winner_name = searched.winner
    winner = searched.recipes[winner_name]
    ctx.step("tuning", "skipped: hyperparameter tuning of the winner comes with `liftlab tune`", clock.used())
    finals = final(ctx, winner)
    exported_record = exported_run(list(finals.best))
    shutil.rmtree(out / "best", ignore_errors=True)
    shutil.copytree(ctx.trainer.folder(exported_record.key), out / "best")
    test_names = json.loads((ctx.trainer.folder(exported_record.key) / "splits.json").read_text()).get("test", [])
    # test images with an exact copy (the data check) or a near-copy (the diagnosis's data review) in train or val
    near_copies = [name for name in (diagnosis.data_review or {}).get("leaked_test", [])
                   if name not in set(check.leaked_test)]  # fmt: skip
    leaked = leaked_mask(test_names, [*check.leaked_test, *near_copies])
    by_role = {"best": list(finals.best), BASELINE: list(finals.baseline)}
    compared = len(searched.recipes)
    verdict = final_lift(by_role, finals.from_search, compared, leaked, baseline_won=winner_name == BASELINE)
    ratio = compute_ratio(by_role, like_for_like=on_features(winner) == on_features(base))
    lift = replace(verdict.lift, compute_ratio=ratio)
    best_metrics = RunMetrics.from_json(json.loads((out / "best" / "metrics.json").read_text()), "best/metrics.json")
    # a forward pass of one image, timed at training speed to be safe (a probe's training throughput is its
    # head's on cached features: the network's forward pass is timed in the transfer plan, scaled by pixels)
    per_image = 1 / max(best_metrics.images_per_second, 1.0)
    if forward_seconds:
        per_image = max(per_image, forward_seconds * (winner.data.size / base.data.size) ** 2)
    choice, probe_choice = best_members(ctx, searched, [] if finals.from_search else members_of(list(finals.best)),
                                        n_val, per_image)  # fmt: skip
    networks = len(choice.seeds) if choice and choice.exported else 1
    networks += 1 if probe_choice and probe_choice.added else 0
    started = clock.used()
    corruption_seconds = ctx.time_plan.corruption_seconds(best_metrics.n_test, per_image, networks)
    evaluation = evaluate_run_folder(
        out / "evaluation",
        out / "best",
        spec,
        settings.question,
        checks=ModelChecks(
            corruptions=ctx.time_plan.fits(clock.left(), corruption_seconds, share_of_reserve=0.5),
            # the unfamiliar-image threshold reads the review backbone's features, cached when the diagnosis
            # reviewed the data; without that review they would be a pass over the data the budget did not plan
            familiarity=diagnosis.data_review is not None,
        ),
    )
    ctx.step("evaluation", f"best model on the test split: {evaluation.accuracy.value:.4f}", started)
    # The lift describes the recipe (mean over the final seeds) or two models (its scope says which); what the
    # user deploys is one model, best/: its own test accuracy is the headline's first figure (leak-free first),
    # and its validation accuracy decides the target (the test split decides nothing).
    accuracy = evaluation.accuracy
    exported_correct = np.asarray(exported_record.test_predictions) == np.asarray(exported_record.test_labels)
    leak_free = accuracy_without(exported_correct, leaked)
    val_acc = best_metrics.val_acc
    if networks > 1:  # best/ is an ensemble: the evaluation scored it, on every test image
        leak_free = evaluation.leak_free
        val_acc = probe_choice.val_acc if probe_choice and probe_choice.added else choice.val_acc if choice else val_acc
    exported = Exported(
        exported_record.seed, accuracy.value, accuracy.ci95, str(out / "best"), val_acc=val_acc,
        cut_after=exported_record.stopped_by_time or None, leak_free=leak_free, ensemble=choice,
        probe_member=probe_choice,
    )  # fmt: skip
    target_reached = None
    if settings.target is not None:
        target_reached = exported.val_acc is not None and exported.val_acc >= settings.target
    reason = early_end_reason(
        settings.budget_s,
        clock.used(),
        finals.pair_seconds,
        bool(target_reached),
        lift.seeds_scored,
        settings.seeds,
        unfit=next((f"fine-tune {s.detail}" for s in log.steps if s.phase == "fine-tune" and "skipped" in s.detail),
                   None),
    )  # fmt: skip
    if reason:
        ctx.step("ended early", reason, clock.used())
    diagnosis_json = diagnosis.to_json()  # improve.json keeps four of its parts, as diagnosis.json writes them
    result = ImproveResult(
        data=spec,
        baseline=RecipeResult(
            recipe=base.model_dump(mode="json"),
            strategies=tuple(base.strategies),
            test_acc=verdict.baseline.value,
            ci95=verdict.baseline.ci95,
            runs=tuple(RunSummary.of(r) for r in finals.baseline),
        ),
        best=RecipeResult(
            recipe=winner.model_dump(mode="json"),
            strategies=tuple(winner.strategies),
            test_acc=verdict.best.value,
            ci95=verdict.best.ci95,
            runs=tuple(RunSummary.of(r) for r in finals.best),
            name=winner_name,
            folder=str(out / "best"),
            exported=exported,
            role="best",
        ),
        lift=lift,
        target=settings.target,
        target_reached=target_reached,
        images_for_target=diagnosis.learning_curve.images_for_target if diagnosis.learning_curve else None,
        effects=effects(searched.rungs, n_val, finetune_helped=finetune_helped),
        search=searched.record(),
        diagnosis={k: diagnosis_json[k] for k in ("findings", "recommendations", "learning_curve", "skipped_for_time")},
        data_check={
            k: check.to_dict()[k]
            for k in ("counts", "imbalance_ratio", "n_unreadable", "empty_classes", "leaked_test", "hidden_folders")
        }
        | {"near_copy_test": near_copies},
        profile=profile.record() if profile else None,
        recipe_diff=recipe_diff(base, winner),
        steps=tuple(log.steps),
        runs_trained=len(session.ledger.trained),
        runs_reused=len(session.ledger.reused),
        resumed={"runs_found": found_at_start, "exact": False, "note": RESUME_NOTE} if found_at_start else None,
        budget_s=settings.budget_s,
        used_s=round(clock.used(), 1),
        reproduce={
            "command": settings.command,
            "liftlab_version": liftlab.__version__,
            "torch_version": torch.__version__,
            "python": platform.python_version(),
            "seeds": finals.seeds,
            "baseline_recipe": base.to_yaml(),
        },
    )
    result = result.with_verdict(verdict_sentences(result))
    if settings.export:  # before the report, so that its steps and seconds include the export
        exported_file(ctx, settings.export)
        result = replace(result, steps=tuple(log.steps)).with_used(clock.used())
    write_json(out / "improve.json", result.to_json())
    improve_report(result, evaluation, out)
    result = result.with_used(clock.used())  # the report's seconds count too
    over = overrun_reason(settings.budget_s, result.used_s, log.ends)
    if over:  # the promise: the budget plus 2% (10 s on a small one), or a step that says why not
        ctx.step("over budget", over, clock.used())
        result = replace(result, steps=tuple(log.steps))
    write_json(out / "improve.json", result.to_json())
    if tracker is not None:
        files = [out / "report.html", out / "improve.json"]
        if settings.export:
            model_file = out / f"best{FORMATS[settings.export]}"
            files += [model_file, model_file.with_name(model_file.name + ".json")]
        tracker.finish_parent(verdict_figures(result), verdict_texts(result), files)
    return result


def verdict_figures(result: ImproveResult) -> dict[str, float | None]:
    """What the parent run of an improve invocation records as metrics: the lift with its interval, each
    side's test accuracy, the exported model's and the seconds used."""
    lift = result.lift
    exported = result.best.exported
    figures = {"lift": lift.value, "lift_ci95_low": lift.ci95[0], "lift_ci95_high": lift.ci95[1],
               "best_test_acc": result.best.test_acc, "baseline_test_acc": result.baseline.test_acc,
               "exported_test_acc": exported.test_acc if exported else None, "used_s": result.used_s}  # fmt: skip
    clean = lift.leak_free  # the figures the verdict quotes first, where test images have a copy in training
    if clean is not None:
        figures |= {"leak_free_lift": clean.lift.value, "leak_free_lift_ci95_low": clean.lift.ci95[0],
                    "leak_free_lift_ci95_high": clean.lift.ci95[1], "leak_free_images": clean.images}  # fmt: skip
    return figures


def verdict_texts(result: ImproveResult) -> dict[str, str]:
    """The parent run's tags: the verdict's sentences and what the lift describes."""
    return {"liftlab.verdict": " ".join(result.verdict), "liftlab.lift_kind": result.lift.kind,
            "liftlab.lift_scope": result.lift.scope or "", "liftlab.best": result.best.name}  # fmt: skip


def exported_file(ctx: ImproveContext, fmt: str) -> Path:
    """best/ as one file (`--export`), checked against liftlab's predictor on its validation images."""
    started = ctx.clock.used()
    target = ctx.out / f"best{FORMATS[fmt]}"
    record = export_run(ctx.out / "best", fmt, target, quiet=ctx.settings.quiet)
    parity = record.parity
    ctx.step("export", f"{target.name} ({record.kind}); its probabilities differ from best/'s by at most "
             f"{parity.max_abs_difference:.1e} on {parity.images} validation images", started)  # fmt: skip
    return target


def best_members(
    ctx: ImproveContext, searched: SearchResult, members: list[RunRecord], n_val: int, per_image: float
) -> tuple[EnsembleChoice | None, ProbeMemberChoice | None]:
    """After the final runs: best/ as an ensemble of the winner's fresh seeds (`members`) where that scores
    better on validation, then the search's best probe of another backbone as one more member where it adds;
    each only when scoring its networks on validation fits the time left."""
    winner = searched.recipes[searched.winner]
    out, spec, skip_bad = ctx.out, ctx.spec, ctx.settings.skip_bad
    choice = None
    if members:
        started = ctx.clock.used()
        scoring = len(members) * n_val * per_image * tta_view_count(winner.tta)
        if ctx.time_plan.fits(ctx.clock.left(), scoring):
            folders = [ctx.trainer.folder(run.key) for run in members]
            choice = choose_ensemble(spec, folders, [run.seed for run in members], skip_bad)
            if choice.exported:
                export_ensemble(out / "best", folders[1:], list(choice.seeds), choice)
            ctx.step("ensemble", ensemble_detail(choice), started)
        else:
            ctx.step("ensemble", f"skipped: scoring {len(members)} networks on validation needs {scoring:.0f} s",
                     started)  # fmt: skip
    networks = len(choice.seeds) if choice and choice.exported else 1
    candidate = probe_candidate(searched.rungs, searched.recipes, winner.model.pretrained)
    if candidate is None:
        return choice, None
    name, rung = candidate
    probe_record = ctx.rung_record(name, searched.recipes[name], rung)
    if probe_record is None:
        return choice, None
    started = ctx.clock.used()
    # best/'s members and the probe predict the validation split once each; counted twice, a margin for
    # the decode at best/'s size and the resize to the probe's
    scoring = 2 * (networks + 1) * n_val * per_image * tta_view_count(winner.tta)
    if not ctx.time_plan.fits(ctx.clock.left(), scoring):
        ctx.step("ensemble", f"probe {name} not tried: scoring it on validation needs {scoring:.0f} s", started)
        return choice, None
    probe_folder = ctx.trainer.folder(probe_record.key)
    probe_choice = choose_probe_member(spec, out / "best", probe_folder, name, skip_bad)
    if probe_choice is None:
        ctx.step("ensemble", f"probe {name} not tried: its images differ from best/'s", started)
        return choice, None
    if probe_choice.added:
        export_probe_member(out / "best", probe_folder, probe_choice)
    ctx.step("ensemble", probe_member_detail(probe_choice), started)
    return choice, probe_choice
