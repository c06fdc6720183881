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
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

import liftlab
from liftlab.config import Recipe
from liftlab.experiments.arms import STRONG_FROM_SCRATCH, candidates, flagged_inside
from liftlab.experiments.baseline_diagnosis import PROFILE_SOURCE
from liftlab.experiments.budget import early_end_reason, overrun_reason
from liftlab.experiments.ensemble import (
    choose_ensemble,
    choose_probe_member,
    ensemble_detail,
    export_ensemble,
    export_probe_member,
    members_of,
    probe_candidate,
    probe_member_detail,
)
from liftlab.experiments.final import exported_run, final, recipe_diff
from liftlab.experiments.finetune_phase import finetune, plan_transfer
from liftlab.experiments.lift import BASELINE, compute_ratio, final_lift, leaked_mask
from liftlab.experiments.profile import profiled_baseline
from liftlab.experiments.search import search
from liftlab.experiments.search_effects import effects
from liftlab.experiments.work import Improvement, ImproveSettings
from liftlab.io import write_json
from liftlab.records import Exported, ImproveResult, RecipeResult, RunSummary, Step
from liftlab.report.verdict import verdict_sentences
from liftlab.stats import accuracy_without
from liftlab.train.inference import tta_view_count
from liftlab.train.probe import on_features

__all__ = ["STRONG_FROM_SCRATCH", "ImproveSettings", "Improvement", "Step", "flagged_inside", "improve"]

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
    from liftlab.evaluate.command import run_evaluation
    from liftlab.report.improve import improve_report

    settings = settings or ImproveSettings()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    work = Improvement(spec, base, settings, out, on_step)
    check = work.check()
    profile = None
    if settings.profile:
        started = work.clock.used()
        base, profile = profiled_baseline(check, list(settings.overrides))
        work.step("profile", "; ".join(profile.reasons), started)
    work.adopt(base)
    source = (PROFILE_SOURCE, *profile.reasons) if profile else ("your recipe, with --set on top",)
    diagnosis = work.diagnose(check, source)
    n_val = sum(check["counts"].get("val", {}).values())
    baseline_seconds = diagnosis.baseline_seconds
    arms = candidates(work, diagnosis)
    if on_features(base):
        arms = plan_transfer(work, check, arms, baseline_seconds)
    searched = search(work, arms, baseline_seconds, n_val)
    winner_name, finetune_helped = searched["winner"], False
    if on_features(searched["recipes"][winner_name]):
        winner_name, finetune_helped = finetune(work, searched, check, n_val)
    winner = searched["recipes"][winner_name]
    work.step("tuning", "skipped: hyperparameter tuning of the winner comes with `liftlab tune`", work.clock.used())
    finals, from_search, pair_seconds = final(work, winner)
    exported_record = exported_run(finals["best"])
    test_names = json.loads((work.run_folder(exported_record.key) / "splits.json").read_text()).get("test", [])
    # test images with an exact copy (the data check) or a near-copy (the diagnosis's data review) in train or val
    near_copies = [name for name in (diagnosis.data_review or {}).get("leaked_test", [])
                   if name not in set(check["leaked_test"])]  # fmt: skip
    leaked = leaked_mask(test_names, [*check["leaked_test"], *near_copies])
    compared = len(searched["recipes"])
    lift = final_lift(finals, from_search, compared, leaked, baseline_won=winner_name == BASELINE)
    lift["lift"]["compute_ratio"] = compute_ratio(finals, like_for_like=on_features(winner) == on_features(base))
    if "leak_free" in lift:
        lift["lift"]["leak_free"] = lift.pop("leak_free")
    best_metrics = json.loads((out / "best" / "metrics.json").read_text())
    # a forward pass of one image, timed at training speed to be safe (a probe's training throughput is its
    # head's on cached features: the network's forward pass is timed in the transfer plan, scaled by pixels)
    per_image = 1 / max(best_metrics["images_per_second"], 1.0)
    if work.forward_seconds:
        per_image = max(per_image, work.forward_seconds * (winner.data.size / base.data.size) ** 2)
    members = [] if from_search else members_of(finals["best"])
    choice = None
    if members:
        started = work.clock.used()
        scoring = len(members) * n_val * per_image * tta_view_count(winner.tta)
        if work.time_plan.fits(work.clock.left(), scoring):
            folders = [work.run_folder(run.key) for run in members]
            choice = choose_ensemble(spec, folders, [run.seed for run in members], settings.skip_bad)
            if choice.exported:
                export_ensemble(out / "best", folders[1:], list(choice.seeds), choice)
            work.step("ensemble", ensemble_detail(choice), started)
        else:
            work.step("ensemble", f"skipped: scoring {len(members)} networks on validation needs {scoring:.0f} s",
                      started)  # fmt: skip
    networks = len(choice.seeds) if choice and choice.exported else 1
    probe_choice = None
    candidate = probe_candidate(searched["rungs"], searched["recipes"], winner.model.pretrained)
    probe_record = (
        work.rung_record(candidate[0], searched["recipes"][candidate[0]], candidate[1]) if candidate else None
    )
    if candidate and probe_record is not None:
        started = work.clock.used()
        # best/'s members and the probe predict the validation split once each; counted twice, a margin for
        # the decode at best/'s size and the resize to the probe's
        scoring = 2 * (networks + 1) * n_val * per_image * tta_view_count(winner.tta)
        if work.time_plan.fits(work.clock.left(), scoring):
            probe_folder = work.run_folder(probe_record.key)
            probe_choice = choose_probe_member(spec, out / "best", probe_folder, candidate[0], settings.skip_bad)
            if probe_choice is None:
                work.step("ensemble", f"probe {candidate[0]} not tried: its images differ from best/'s", started)
            else:
                if probe_choice.added:
                    export_probe_member(out / "best", probe_folder, probe_choice)
                    networks += 1
                work.step("ensemble", probe_member_detail(probe_choice), started)
        else:
            work.step("ensemble", f"probe {candidate[0]} not tried: scoring it on validation needs {scoring:.0f} s",
                      started)  # fmt: skip
    started = work.clock.used()
    corruption_seconds = work.time_plan.corruption_seconds(best_metrics["n_test"], per_image, networks)
    evaluation = run_evaluation(
        out / "evaluation",
        model=out / "best",
        data=spec,
        question=settings.question,
        corruptions=work.time_plan.fits(work.clock.left(), corruption_seconds, share_of_reserve=0.5),
        quiet=True,
        # the unfamiliar-image threshold reads the review backbone's features, cached when the diagnosis
        # reviewed the data; without that review they would be a pass over the data the budget did not plan
        familiarity=diagnosis.data_review is not None,
    )
    work.step("evaluation", f"best model on the test split: {evaluation['metrics']['accuracy']['value']:.4f}", started)
    curve = diagnosis.learning_curve or {}
    best_acc = lift["best"]["value"]
    # The lift describes the recipe (mean over the final seeds) or two models (its scope says which); what the
    # user deploys is one model, best/: its own test accuracy is the headline's first figure (leak-free first),
    # and its validation accuracy decides the target (the test split decides nothing).
    accuracy = evaluation["metrics"]["accuracy"]
    ci = accuracy.get("ci95") or (None, None)
    exported_correct = np.asarray(exported_record.test_predictions) == np.asarray(exported_record.test_labels)
    leak_free = accuracy_without(exported_correct, leaked)
    val_acc = best_metrics.get("val_acc")
    if networks > 1:  # best/ is an ensemble: the evaluation scored it, on every test image
        leak_free = evaluation.get("leak_free")
        val_acc = probe_choice.val_acc if probe_choice and probe_choice.added else choice.val_acc if choice else val_acc
    exported = Exported(
        exported_record.seed, accuracy["value"], (ci[0], ci[1]), str(out / "best"), val_acc=val_acc,
        cut_after=exported_record.stopped_by_time or None, leak_free=leak_free, ensemble=choice,
        probe_member=probe_choice,
    )  # fmt: skip
    target_reached = None
    if settings.target is not None:
        target_reached = exported.val_acc is not None and exported.val_acc >= settings.target
    reason = early_end_reason(
        settings.budget_s,
        work.clock.used(),
        pair_seconds,
        bool(target_reached),
        lift["lift"]["seeds_scored"],
        settings.seeds,
        unfit=next((f"fine-tune {s.detail}" for s in work.steps if s.phase == "fine-tune" and "skipped" in s.detail),
                   None),
    )  # fmt: skip
    if reason:
        work.step("ended early", reason, work.clock.used())
    diagnosed = diagnosis.to_json()  # improve.json keeps four of its parts, as diagnosis.json writes them
    result = ImproveResult(
        data=spec,
        baseline=RecipeResult(
            recipe=base.model_dump(mode="json"),
            strategies=tuple(base.strategies),
            test_acc=lift[BASELINE]["value"],
            ci95=tuple(lift[BASELINE]["ci95"]),
            runs=tuple(RunSummary.of(r) for r in finals[BASELINE]),
        ),
        best=RecipeResult(
            recipe=winner.model_dump(mode="json"),
            strategies=tuple(winner.strategies),
            test_acc=best_acc,
            ci95=tuple(lift["best"]["ci95"]),
            runs=tuple(RunSummary.of(r) for r in finals["best"]),
            name=winner_name,
            folder=str(out / "best"),
            exported=exported,
            role="best",
        ),
        lift=lift["lift"],
        target=settings.target,
        target_reached=target_reached,
        images_for_target=curve.get("images_for_target"),
        effects=effects(searched, n_val, finetune_helped=finetune_helped),
        search={
            "arms": {name: recipe.strategies for name, recipe in searched["recipes"].items()},
            "rungs": searched["rungs"],
            "cross_validation": searched["cross_validation"],
        },
        diagnosis={k: diagnosed[k] for k in ("findings", "recommendations", "learning_curve", "skipped_for_time")},
        data_check={
            k: check[k]
            for k in ("counts", "imbalance_ratio", "n_unreadable", "empty_classes", "leaked_test", "hidden_folders")
        }
        | {"near_copy_test": near_copies},
        profile=profile.record() if profile else None,
        recipe_diff=recipe_diff(base, winner),
        steps=tuple(work.steps),
        runs_trained=len(work.session.ledger.trained),
        runs_reused=len(work.session.ledger.reused),
        resumed={"runs_found": work.found_at_start, "exact": False, "note": RESUME_NOTE}
        if work.found_at_start
        else None,
        budget_s=settings.budget_s,
        used_s=round(work.clock.used(), 1),
        reproduce={
            "command": settings.command,
            "liftlab_version": liftlab.__version__,
            "torch_version": torch.__version__,
            "python": platform.python_version(),
            "seeds": [r.seed for r in finals["best"]],
            "baseline_recipe": base.to_yaml(),
        },
    )
    result = result.with_verdict(verdict_sentences(result))
    write_json(out / "improve.json", result.to_json())
    improve_report(result, evaluation, out)
    result = result.with_used(work.clock.used())  # the report's seconds count too
    over = overrun_reason(settings.budget_s, result.used_s, work.step_ends)
    if over:  # the promise: the budget plus 2% (10 s on a small one), or a step that says why not
        work.step("over budget", over, work.clock.used())
        result = replace(result, steps=tuple(work.steps))
    write_json(out / "improve.json", result.to_json())
    return result
