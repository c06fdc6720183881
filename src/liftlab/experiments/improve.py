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
import math
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import liftlab
from liftlab.config import Recipe, with_values
from liftlab.data.check import check_data
from liftlab.diagnose.run import DiagnoseSettings, run_diagnosis
from liftlab.errors import BadInputError
from liftlab.evaluate.run import BusinessQuestion
from liftlab.experiments.budget import Clock
from liftlab.experiments.halving import choose_fractions, survivors, to_stack, winner
from liftlab.experiments.lift import BASELINE, compute_ratio, final_lift
from liftlab.experiments.profile import profiled_baseline
from liftlab.experiments.runner import Job
from liftlab.experiments.session import Session
from liftlab.experiments.store import RunStore, run_key
from liftlab.experiments.transfer import (
    FORWARD_SHARE,
    PROBE_SEARCH_ENDS,
    PROBE_SEARCH_MIN,
    epoch_seconds,
    epochs_that_fit,
    finetune_need,
    finetune_recipe,
    finetune_size,
    measured_step_seconds,
    new_feature_rows,
    plan_finetune,
)
from liftlab.experiments.validation import clearly_better, effects, paired_standard_error
from liftlab.io import write_json
from liftlab.records import RunRecord
from liftlab.stats import noise_level
from liftlab.strategies import apply_strategies
from liftlab.train.probe import on_features

DIAGNOSIS_SHARE = 0.3
"""The diagnosis skips its costlier checks rather than use more than this share of the budget."""
SEARCH_ENDS = 0.65
"""Share of the budget by which the search stops; the rest trains and tests the finalists."""
PARALLEL_SPEEDUP = 1.2
"""Two runs side by side against one after the other on 2 cores (benchmarks/ablation_workers.py)."""
STRONG_FROM_SCRATCH = "flip,crop,depth=+1,residual,schedule=onecycle,label-smoothing=0.1,epochs=+20"
"""The practitioner's strong from-scratch recipe as one arm: augmentation with the epochs it needs, and the
capacity to use it. Alone at a short budget flips and crops look useless or harmful (CIFAR-10, 9,000 images,
5 epochs: crop -5.3 points), while together with depth, residual connections and 4x the epochs they lift
the default ConvNet from 64% to 77% test accuracy there (`liftlab train` with these strategies, 40 epochs)."""
DEFAULT_CANDIDATES = (
    STRONG_FROM_SCRATCH, "flip", "crop", "epochs=+10", "label-smoothing=0.1", "schedule=onecycle", "weight-decay=5e-4"
)  # fmt: skip
"""Classic remedies tried after the advisor's own, when it recommends fewer than `max_arms`."""
PROBE_CANDIDATES = (
    "flip", "head=mlp", "pretrained=efficientnet_lite1,size=240", "pretrained=efficientnet_lite2,size=260",
    "label-smoothing=0.1", "tta",
)  # fmt: skip
"""For a linear-probe baseline (photographs): the probe's own remedies, each a head on cached features: mirror
views, a non-linear head, larger backbones at their native sizes, smoothing, test-time views."""
COST_CAP = 3.0
"""A search run may take at most this many times the baseline's seconds per epoch: a remedy that costs far
more (a large pretrained network on a CPU) is cut and compared at equal time, not allowed to eat the budget."""
RESUME_NOTE = (
    "continued an earlier, interrupted invocation in this folder: its finished runs were reused unchanged, "
    "and a run cut short by the interruption continued from its last epoch's checkpoint. The time budget restarts "
    "with each invocation and the search cuts runs by elapsed time, so which arms and rungs fit can differ "
    "from one uninterrupted invocation; a reused run's numbers are exactly those it was trained with."
)
WORKER_SLOWDOWN = 2.0
"""A run in a one-thread worker beside another takes up to twice as long as alone on both cores."""
STACK = "stack"


@dataclass(frozen=True)
class ImproveSettings:
    budget_s: float = 1200.0
    target: float | None = None
    seeds: int = 2
    max_arms: int = 6
    workers: int | None = None
    question: BusinessQuestion | None = None
    profile: bool = False  # choose the baseline from the data (experiments/profile.py); off with a --recipe
    overrides: tuple[str, ...] = ()  # the user's --set, applied on top of the profile
    skip_bad: bool = False
    quiet: bool = True
    command: str = ""

    def __post_init__(self) -> None:
        if self.budget_s < 30:
            raise BadInputError(f"--budget: expected at least 30s, found {self.budget_s:g}s")
        if self.seeds < 1:
            raise BadInputError(f"--seeds: expected at least 1, found {self.seeds}")
        if self.target is not None and not 0 < self.target <= 1:
            raise BadInputError(f"--target: expected an accuracy in (0, 1], found {self.target}")


@dataclass
class Step:
    phase: str
    detail: str
    seconds: float
    trained: int = 0
    reused: int = 0


def _full_seconds(record: RunRecord, epochs: int) -> float:
    """Seconds a run of `epochs` epochs takes, from a (possibly shorter) run's epoch times."""
    times = record.epoch_seconds or (record.seconds,)
    return float(np.mean(times)) * epochs


def _val(record: RunRecord | None) -> float:
    if record is None or record.failed or record.val_acc is None:
        return -math.inf  # a failed or non-finite run is never chosen
    return float(record.val_acc)


class Improvement:
    def __init__(
        self, spec: str, base: Recipe, settings: ImproveSettings, out: Path, on_step: Callable[[Step], None]
    ) -> None:
        self.spec = spec
        self.base = base
        self.settings = settings
        self.out = out
        self.on_step = on_step
        self.clock = Clock(settings.budget_s)
        self.session = Session(RunStore.in_folder(out), settings.workers)
        self.records = self.session.records
        self.steps: list[Step] = []
        self.batch_counts = (0, 0)  # runs trained and found done by this invocation's train() calls so far
        self.workers = self.session.workers
        self.baseline_seconds = 0.0  # the diagnosis baseline's training time, set by the search
        self.probe_search_end = PROBE_SEARCH_ENDS  # for a probe baseline: set from the fine-tune's needs
        self.forward_seconds = 0.0  # one image through the baseline's backbone at its size (probe baselines)
        plan_path = out / "plan.json"
        self.plan: dict[str, Any] = json.loads(plan_path.read_text()) if plan_path.is_file() else {}
        self.found_at_start = len(self.records) if self.plan else 0  # runs left by an earlier invocation here

    def adopt(self, base: Recipe) -> None:
        """Fix the baseline recipe (after the data profile); a folder holding another baseline's plan is refused."""
        self.base = base
        if self.plan and self.plan.get("base") != base.model_dump(mode="json"):
            raise BadInputError(
                f"--out {self.out}: holds an improve run of another baseline recipe; choose another --out to start "
                "afresh"
            )
        self.plan["base"] = base.model_dump(mode="json")

    def remember(self, key: str, value: Any) -> Any:
        """Write a plan decision once, so that a rerun makes the same one (and so finds the same runs)."""
        self.plan.setdefault(key, value)
        write_json(self.out / "plan.json", self.plan)
        return self.plan[key]

    def step(self, phase: str, detail: str, started: float, trained: int = 0, reused: int = 0) -> None:
        step = Step(phase, detail, round(self.clock.used() - started, 2), trained, reused)
        self.steps.append(step)
        self.on_step(step)

    def train(
        self,
        runs: list[tuple[str, Recipe]],
        max_seconds: float,
        per_epoch_cap: float | None = None,
        complete: bool = False,
    ) -> dict[str, RunRecord]:
        """Records of (label, recipe) runs: from the store when done before, else trained.

        Every run also writes its run folder (weights included) to runs/KEY, so the winner is exported
        by copying, not by training it again.

        A run stops after the epoch in which `max_seconds` passed, or `per_epoch_cap` times its epochs.
        `complete` marks the final runs: a stored run that such a limit cut short is trained again, to the
        end, and every record is scored on the test split (the search's runs are not: the test split
        chooses nothing).
        """
        keys = {label: run_key(self.spec, recipe, {"improve": 1}) for label, recipe in runs}
        # The deadline is absolute: a job that waits for a free worker does not get more time.
        deadline = time.time() + max(max_seconds, 1.0)
        jobs = [
            Job(key, self.spec, recipe.model_dump(mode="json"),
                None if per_epoch_cap is None else per_epoch_cap * recipe.epochs, str(self.run_folder(key)),
                deadline, str(self.out / "checkpoints" / key), score_test=complete)
            for (label, recipe), key in zip(runs, keys.values(), strict=True)
        ]  # fmt: skip

        def reusable(stored: RunRecord) -> bool:
            done = (self.run_folder(stored.key) / "metrics.json").is_file()
            return done and not (complete and bool(stored.stopped_by_time))

        batch = self.session.run(jobs, reusable)
        self.batch_counts = (self.batch_counts[0] + batch.trained, self.batch_counts[1] + batch.reused)
        records = batch.records
        if complete:
            records = {k: self.session.scored_on_test(r, self.run_folder(k), self.spec) for k, r in records.items()}
        return {label: records[key] for label, key in keys.items()}

    # -- phases ---------------------------------------------------------------------------------------

    def check(self) -> dict[str, Any]:
        started = self.clock.used()
        report = check_data(self.spec, self.base.data).to_dict()
        if report["n_unreadable"] and not self.settings.skip_bad:
            names = ", ".join(b["path"] for b in report["unreadable"][:5])
            raise BadInputError(
                f"DATA {self.spec}: {report['n_unreadable']} unreadable file(s) ({names}); "
                "run `liftlab data check` for the reasons, or pass --skip-bad"
            )
        if not sum(report["counts"].get("test", {}).values()):
            raise BadInputError(
                f"DATA {self.spec}: no test split; improve tests only on untouched data. "
                "Give a test/ folder, or keep data.test_fraction above 0"
            )
        self.step("data check", f"{sum(sum(c.values()) for c in report['counts'].values())} images", started)
        return report

    def diagnose(self, check: dict[str, Any]) -> dict[str, Any]:
        started = self.clock.used()
        folder = self.out / "diagnosis"
        path = folder / "diagnosis.json"
        if path.is_file():
            result: dict[str, Any] = json.loads(path.read_text())
            # the target is part of what it answered (images for the target), so another target diagnoses again
            same_target = result.get("target", self.settings.target) == self.settings.target
            if result.get("recipe") == self.base.model_dump(mode="json") and same_target:
                self.step("diagnosis", "reused " + ", ".join(f["code"] for f in result["findings"]), started)
                return result
        settings = DiagnoseSettings(
            self.settings.target, quick=True, skip_bad=self.settings.skip_bad, quiet=self.settings.quiet,
            max_seconds=self.settings.budget_s * DIAGNOSIS_SHARE, data_check=check,
        )  # fmt: skip
        result = run_diagnosis(self.spec, self.base, folder, settings)
        detail = ", ".join(f["code"] for f in result["findings"])
        if result.get("skipped_for_time"):
            detail += f" (skipped for time: {', '.join(result['skipped_for_time'])})"
        self.step("diagnosis", detail, started, trained=1)
        return result

    def candidates(self, diagnosis: dict[str, Any]) -> dict[str, Recipe]:
        """Arms: the advisor's recommendations first, then classic remedies, those with an augmentation the
        audit flagged last (inside a combined arm too)."""
        audit = diagnosis.get("augmentation_audit") or {}
        flagged = set(audit.get("flagged", []))
        names = [r["strategy"] for r in diagnosis["recommendations"]]
        probing = on_features(self.base)
        defaults = PROBE_CANDIDATES if probing else DEFAULT_CANDIDATES
        # a flagged augmentation is demoted, not banned: tried after every other remedy, validation decides
        names += [c for c in defaults if not flagged_inside(c, flagged)]
        names += [c for c in defaults if flagged_inside(c, flagged)]
        arms: dict[str, Recipe] = {}
        for name in names:
            if len(arms) >= self.settings.max_arms:
                break
            if name in arms:
                continue
            recipe = apply_strategies(self.base, name)
            # A probe's arms stay probes: an arm that needs the images at every step (a crop on a frozen
            # backbone) costs tens of times more and is left to fine-tuning, which is not searched yet.
            if probing and not on_features(recipe):
                continue
            if recipe.model_copy(update={"strategies": self.base.strategies}) != self.base:
                arms[name] = recipe
        return arms

    def rung_recipe(self, recipe: Recipe, fraction: float) -> Recipe:
        return with_values(recipe, {"epochs": max(1, round(recipe.epochs * fraction))})

    def choose_fractions(self, arms: dict[str, Recipe], baseline_seconds: float) -> list[float]:
        """Rung budgets: the largest first rung whose halving fits the search's share of the budget."""
        allowance = self.clock.left_until(self.search_ends()) * (PARALLEL_SPEEDUP if self.workers > 1 else 1.0)
        per_epoch = baseline_seconds / max(self.base.epochs, 1)
        sizes = [per_epoch * r.epochs * (r.data.size / self.base.data.size) ** 2 for r in arms.values()]
        return choose_fractions(len(arms) + 1, float(np.mean([*sizes, baseline_seconds])), allowance)

    def search(self, arms: dict[str, Recipe], baseline_seconds: float, n_val: int) -> dict[str, Any]:
        """Successive halving on validation accuracy; returns the rungs and the winner's name."""
        self.baseline_seconds = baseline_seconds
        fractions = self.remember("fractions", self.choose_fractions(arms, baseline_seconds))
        recipes = {BASELINE: self.base, **arms}
        alive = list(arms)
        rungs: list[dict[str, Any]] = []
        target = self.settings.target
        for index, fraction in enumerate(fractions):
            allowance = self.clock.left_until(self.search_ends())
            names = [BASELINE, *alive]
            if rungs and allowance > 0:
                # A rung that cannot finish would compare runs cut at different points of their schedules:
                # skip it and let the final phase train the winner at its full budget.
                previous = rungs[-1]
                per_epoch = {n: previous["seconds"][n] / max(previous["epochs"][n], 1) for n in previous["seconds"]}
                slowest = max(per_epoch.values())  # an arm new at this rung (the stack) costs at most this
                needed = [per_epoch.get(n, slowest) * self.rung_recipe(recipes[n], fraction).epochs for n in names]
                if self.wall_seconds(needed) > allowance:
                    self.step(
                        "search", f"rung {index + 1} at {fraction:.3g} skipped: it would not fit", self.clock.used()
                    )
                    break
            if allowance <= 0 or not alive:
                break
            started = self.clock.used()
            trained_before, reused_before = self.batch_counts
            records = self.train(
                [(n, self.rung_recipe(recipes[n], fraction)) for n in names], allowance, self.epoch_cap()
            )
            val = {name: _val(records[name]) for name in names}
            rungs.append({
                "fraction": fraction,
                "epochs": {name: self.rung_recipe(recipes[name], fraction).epochs for name in names},
                "val_acc": {name: (None if math.isinf(v) else v) for name, v in val.items()},
                "failed": {name: records[name].stopped_reason for name in names if math.isinf(val[name])},
                "seconds": {name: records[name].seconds for name in names},
                "paired_se": {n: paired_standard_error(records[n], records[BASELINE]) for n in names if n != BASELINE},
            })  # fmt: skip
            ranked = sorted(alive, key=lambda n: val[n], reverse=True)
            self.step(
                "search",
                f"rung {index + 1}: {len(names)} arms at {fraction:.3g} of their epochs; best {ranked[0]} "
                f"{val[ranked[0]]:.4f} (baseline {val[BASELINE]:.4f})",
                started,
                self.batch_counts[0] - trained_before,
                self.batch_counts[1] - reused_before,
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
                    stack = self.remember("stack", stacked([s for n in helping for s in self.added(recipes[n])]))
                    recipes[STACK] = apply_strategies(self.base, stack)
                    alive.append(STACK)
            if len(alive) == 1 and fraction >= 1.0:
                break
        last = rungs[-1]["val_acc"] if rungs else {}
        best = winner(last, alive)
        reached = target is not None and (last.get(best) or 0.0) >= target
        if not reached:
            useful = [n for n in arms if n not in effects({"rungs": rungs}, n_val)["hurt"]]
            best = self.greedy(recipes, best, useful, rungs, n_val)
        return {"rungs": rungs, "winner": best, "recipes": recipes}

    def search_ends(self) -> float:
        """Share of the budget by which the search stops: earlier for probes, whose fine-tune needs the rest."""
        return self.probe_search_end if on_features(self.base) else SEARCH_ENDS

    def plan_transfer(
        self, check: dict[str, Any], arms: dict[str, Recipe], baseline_seconds: float
    ) -> dict[str, Recipe]:
        """For a probe baseline, before the search: time a fine-tuning step of the baseline's backbone, end the
        probe search where the fine-tune still gets GOOD_EPOCHS (at its smallest training side), and keep the
        arms whose one-off feature extraction is predicted to fit in the search's time. Returns those arms."""
        started = self.clock.used()
        counts = {split: sum(c.values()) for split, c in check["counts"].items()}
        trial = finetune_recipe(self.base, 1)
        per_step = measured_step_seconds(trial, len(check["classes"]))
        per_epoch = epoch_seconds(counts.get("train", 0), counts.get("val", 0), trial.optim.batch_size, per_step)
        after_search = (
            finetune_need(per_epoch, self.base.data.size) + self.reserve() + self.settings.seeds * baseline_seconds
        )
        budget = self.settings.budget_s
        floor = self.clock.used() / budget + PROBE_SEARCH_MIN
        self.probe_search_end = self.remember(
            "probe_search_end", max(floor, min(PROBE_SEARCH_ENDS, (budget - after_search) / budget))
        )
        # seconds of one image through the frozen baseline backbone, from the timed step; a worker beside
        # another runs on one of the two cores
        per_row = per_step / trial.optim.batch_size * FORWARD_SHARE * (WORKER_SLOWDOWN if self.workers > 1 else 1.0)
        self.forward_seconds = per_step / trial.optim.batch_size * FORWARD_SHARE
        allowance = self.clock.left_until(self.probe_search_end)
        kept: list[str] = []
        dropped: list[str] = []
        for name, recipe in arms.items():
            rows, cost = new_feature_rows(self.base, recipe, counts)
            (kept if rows * cost * per_row <= allowance else dropped).append(name)
        names = self.remember("probe_arms", kept)
        detail = (
            f"fine-tuning epoch {per_epoch:.0f} s predicted; the probe search ends at "
            f"{self.probe_search_end * budget:.0f} s of {budget:.0f} s"
        )
        if dropped:
            detail += f"; left out for their feature extraction ({allowance:.0f} s to search): {', '.join(dropped)}"
        self.step("transfer plan", detail, started)
        return {name: arms[name] for name in names if name in arms}

    def best_record(self, name: str, recipe: Recipe, rungs: list[dict[str, Any]]) -> RunRecord | None:
        """The stored run of arm `name` (recipe `recipe` at full epochs) at the rung where it scored best on
        validation: the run a later challenger is compared with, image by image."""
        scored = [r for r in rungs if r["val_acc"].get(name) is not None]
        if not scored:
            return None
        rung = max(scored, key=lambda r: r["val_acc"][name])
        epochs = rung["epochs"].get(name, recipe.epochs)
        return self.records.get(run_key(self.spec, with_values(recipe, {"epochs": epochs}), {"improve": 1}))

    def run_folder(self, key: str) -> Path:
        return self.out / "runs" / key

    def added(self, recipe: Recipe) -> list[str]:
        """The strategies `recipe` applies on top of the baseline."""
        return recipe.strategies[len(self.base.strategies) :]

    def epoch_cap(self) -> float:
        """Most seconds per epoch a search run may take: COST_CAP times the baseline's, in a worker."""
        slowdown = WORKER_SLOWDOWN if self.workers > 1 else 1.0
        return COST_CAP * self.baseline_seconds / max(self.base.epochs, 1) * slowdown

    def wall_seconds(self, run_seconds: list[float]) -> float:
        """Wall time of runs timed in the worker pool when run side by side."""
        return sum(run_seconds) / min(self.workers, 2, max(len(run_seconds), 1))

    def full_seconds(self, recipe: Recipe) -> float:
        """Seconds one search run of `recipe` at its full epochs takes, from runs of it done so far."""
        done = [r for r in self.records.values() if list(r.strategies) == recipe.strategies and r.history]
        return _full_seconds(done[0], recipe.epochs) if done else math.inf

    def final_seconds(self, winner_seconds: float) -> float:
        """Wall time of the final phase for a winner whose run takes `winner_seconds`."""
        baseline = self.full_seconds(self.base)
        baseline = winner_seconds if math.isinf(baseline) else baseline
        return self.settings.seeds * (winner_seconds + baseline) / min(self.workers, 2)

    def reserve(self) -> float:
        """Seconds kept for the evaluation and the report."""
        return max(10.0, 0.05 * self.settings.budget_s)

    def greedy(
        self, recipes: dict[str, Recipe], winner: str, useful: list[str], rungs: list[dict[str, Any]], n_val: int
    ) -> str:
        """With the search's time left: add one more remedy at a time to the winner, at full budget.

        Halving at short budgets favours what converges fast; remedies such as augmentation pay off only
        with enough epochs, and remedies add up, so the winner is tried with each remaining useful remedy
        and the best addition kept while it beats the winner clearly (`validation.clearly_better`).
        """
        while True:
            current = recipes[winner]
            # More epochs can be added again; any other remedy once. Best-ranked in the halving first.
            additions = [
                n
                for n in useful
                if n.startswith("epochs=") or not set(self.added(recipes[n])) <= set(current.strategies)
            ]
            additions.sort(key=lambda n: max((r["val_acc"].get(n) or 0.0 for r in rungs), default=0.0), reverse=True)
            per_run = self.full_seconds(current) * 1.5  # an addition costs more than the winner alone
            # Keep what the final phase will need for a winner that costly, then spend the rest here.
            allowance = self.clock.left() - self.final_seconds(per_run) - self.reserve()
            if on_features(self.base):  # probes leave the rest of the budget to the fine-tune
                allowance = min(allowance, self.clock.left_until(self.search_ends()))
            affordable = int(allowance * min(self.workers, 2) // per_run) - 1 if per_run > 0 else 0
            additions = additions[: max(affordable, 0)]
            if not additions:
                return winner
            started = self.clock.used()
            trained_before, reused_before = self.batch_counts
            names = [winner] + [f"{winner}+{n}" if winner != BASELINE else n for n in additions]
            for name, addition in zip(names[1:], additions, strict=True):
                recipes[name] = apply_strategies(current, self.added(recipes[addition]))
            records = self.train([(n, recipes[n]) for n in names], allowance, self.epoch_cap())
            val = {n: _val(records[n]) for n in names}
            rungs.append({
                "fraction": 1.0, "kind": "greedy", "epochs": {n: recipes[n].epochs for n in names},
                "val_acc": {n: (None if math.isinf(v) else v) for n, v in val.items()},
                "failed": {n: records[n].stopped_reason for n in names if math.isinf(val[n])},
                "seconds": {n: records[n].seconds for n in names},
            })  # fmt: skip
            challenger = max(names[1:], key=lambda n: val[n])
            better = clearly_better(records[challenger], records[winner], n_val, len(names) - 1)
            self.step(
                "search",
                f"greedy: {winner} {val[winner]:.4f}; best addition {challenger} {val[challenger]:.4f}"
                + (" (kept)" if better else " (not better: stop)"),
                started,
                self.batch_counts[0] - trained_before,
                self.batch_counts[1] - reused_before,
            )
            if not better:
                return winner
            winner = challenger

    def finetune(self, search: dict[str, Any], check: dict[str, Any], n_val: int) -> str:
        """With the time the final runs and the evaluation leave, fine-tune the winning probe end to end for as
        many epochs as fit (`experiments/transfer.py`); it becomes the winner when it beats the probe on
        validation by more than the noise. Returns the winner's name."""
        winner = search["winner"]
        probe = search["recipes"][winner]
        started = self.clock.used()
        n_train = sum(check["counts"].get("train", {}).values())
        trial = finetune_recipe(probe, 1)
        per_step = measured_step_seconds(trial, len(check["classes"]))
        per_epoch = epoch_seconds(n_train, n_val, trial.optim.batch_size, per_step)
        # a fresh seed of a fine-tune does not fit after it, so the final phase scores this run against the
        # baseline at the search's seed (labelled as a model comparison): keep what that baseline run needs
        keep = self.reserve() + self.full_seconds(self.base)
        side, epochs = plan_finetune(self.clock.left() - keep, per_epoch, probe.data.size)
        native = ((check.get("image_size") or {}).get("short_side") or {}).get("median")
        size = finetune_size(side, probe.data.size, native)
        if epochs:
            # validation runs at the test size; a smaller side's steps are timed (the run then finds the
            # verdict cached), where pixels only predicted them
            val_step = per_step * (size / probe.data.size) ** 2
            step = per_step
            if side < probe.data.size:
                step = measured_step_seconds(finetune_recipe(probe, 1, side, size), len(check["classes"]))
            per_epoch = epoch_seconds(n_train, n_val, trial.optim.batch_size, step, val_step)
            epochs = epochs_that_fit(self.clock.left() - keep, per_epoch)
        side, size, epochs = self.remember("finetune_plan", [side, size, epochs])
        left = self.clock.left() - keep
        if not epochs:
            self.step("fine-tune", f"skipped: {per_epoch:.0f} s an epoch, {max(left, 0):.0f} s left", started)
            return str(winner)
        name = f"{winner}+fine-tune" if winner != BASELINE else "fine-tune"
        search["recipes"][name] = tuned = finetune_recipe(probe, epochs, side, size)
        trained_before, reused_before = self.batch_counts
        record = self.train([(name, tuned)], max(left, 1.0))[name]
        # the probe's best validation accuracy in the search (at its full epochs where it got there)
        probe_val = max((r["val_acc"].get(winner) or -math.inf for r in search["rungs"]), default=-math.inf)
        val = {winner: probe_val, name: _val(record)}
        search["rungs"].append({
            "fraction": 1.0, "kind": "fine-tune", "epochs": {winner: probe.epochs, name: epochs},
            "val_acc": {n: (None if math.isinf(v) else v) for n, v in val.items()},
            "failed": {name: record.stopped_reason} if math.isinf(val[name]) else {},
            "seconds": {name: record.seconds},
        })  # fmt: skip
        # a run the deadline cut never finished its schedule: it is not the recipe, and is not kept
        cut = bool(record.stopped_by_time)
        probe_record = self.best_record(winner, probe, search["rungs"][:-1])
        if probe_record is not None:
            better = not cut and clearly_better(record, probe_record, n_val)
        else:  # no stored run of the probe: its best validation accuracy, unpaired
            better = not cut and val[name] > probe_val + 2 * noise_level(probe_val, n_val)
        self.step(
            "fine-tune",
            f"{name}: {epochs} epochs, {side} px crops tested at {size} px ({per_epoch:.0f} s each predicted), "
            f"val {val[name]:.4f} against "
            f"{val[winner]:.4f}" + (" (kept)" if better else " (not better: the probe stays)"),
            started,
            self.batch_counts[0] - trained_before,
            self.batch_counts[1] - reused_before,
        )
        return name if better else str(winner)

    def final(self, winner: Recipe) -> tuple[dict[str, list[RunRecord]], bool]:
        """The winner and the baseline at their full budget over seeds the search did not use (its winner was
        chosen on that seed's luck), as many pairs as fit; when none fits, the search's own run of the winner
        at its seed, if it has one, and the flag saying so. best/ is the winner's first run."""
        started = self.clock.used()
        left = self.clock.left() - self.reserve()
        pair_seconds = sum(
            seconds if math.isfinite(seconds) else self.settings.budget_s * 0.1
            for seconds in (self.full_seconds(winner), self.full_seconds(self.base))
        )
        fitting = int(left * min(self.workers, 2) // max(pair_seconds, 1e-9))
        fresh = [self.base.seed + 1 + offset for offset in range(min(self.settings.seeds, fitting))]
        seeds = self.remember("final_seeds", fresh or [self.base.seed])
        if isinstance(seeds, int):  # a plan.json from before the final seeds were distinct: the first N seeds
            seeds = [self.base.seed + offset for offset in range(seeds)]
        from_search = seeds == [self.base.seed]
        runs: list[tuple[str, Recipe]] = []
        for seed in seeds:
            runs.append((f"best:{seed}", with_values(winner, {"seed": seed})))
            runs.append((f"{BASELINE}:{seed}", with_values(self.base, {"seed": seed})))
        trained_before, reused_before = self.batch_counts
        records = self.train(runs, max(left, 1.0), complete=True)
        detail = f"winner and baseline at full budget, seed(s) {', '.join(map(str, seeds))}"
        self.step(
            "final",
            detail + (" (the search's seed: no fresh pair fits)" if from_search else ""),
            started,
            self.batch_counts[0] - trained_before,
            self.batch_counts[1] - reused_before,
        )
        best = [records[label] for label, _ in runs if label.startswith("best:")]
        # The winner's first seed is the exported model: a copy of its run folder.
        shutil.rmtree(self.out / "best", ignore_errors=True)
        shutil.copytree(self.run_folder(best[0].key), self.out / "best")
        finals = {"best": best, BASELINE: [records[label] for label, _ in runs if label.startswith(f"{BASELINE}:")]}
        return finals, from_search


def flagged_inside(arm: str, flagged: set[str]) -> list[str]:
    """The strategies of `arm` (comma-separated, each maybe with a value) that the audit flagged.

    >>> flagged_inside("flip,crop,depth=+1", {"crop"}), flagged_inside("crop=4", {"flip"})
    (['crop'], [])
    """
    return [name for name in (part.split("=")[0].strip() for part in arm.split(",")) if name in flagged]


def stacked(strategies: list[str]) -> list[str]:
    """Strategies of several arms as one list: each once, except more epochs, which add up."""
    kept: list[str] = []
    for strategy in strategies:
        if strategy.startswith("epochs=") or strategy not in kept:
            kept.append(strategy)
    return kept


def recipe_diff(base: Recipe, best: Recipe) -> list[dict[str, Any]]:
    """Every field that differs between the two recipes, dotted, with both values."""

    def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        flat: dict[str, Any] = {}
        for key, value in data.items():
            if isinstance(value, dict):
                flat |= flatten(value, f"{prefix}{key}.")
            else:
                flat[f"{prefix}{key}"] = value
        return flat

    a, b = flatten(base.model_dump(mode="json")), flatten(best.model_dump(mode="json"))
    return [
        {"field": k, "baseline": a.get(k), "best": b.get(k)} for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)
    ]


def improve(
    spec: str,
    base: Recipe,
    out: Path,
    settings: ImproveSettings | None = None,
    on_step: Callable[[Step], None] = lambda step: None,
) -> dict[str, Any]:
    """Run the whole loop and write improve.json, report.html, best/ and evaluation/ into `out`.

    >>> settings = ImproveSettings(budget_s=180)
    >>> result = improve("builtin:digits", Recipe(), Path("runs/improve"), settings)  # doctest: +SKIP
    >>> result["lift"]["value"], result["lift"]["ci95"]  # doctest: +SKIP
    """
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
    diagnosis = work.diagnose(check)
    n_val = sum(check["counts"].get("val", {}).values())
    baseline_seconds = sum(r["seconds"] for r in diagnosis["baseline"]["history"])
    arms = work.candidates(diagnosis)
    if on_features(base):
        arms = work.plan_transfer(check, arms, baseline_seconds)
    search = work.search(arms, baseline_seconds, n_val)
    winner_name = search["winner"]
    if on_features(search["recipes"][winner_name]):
        winner_name = work.finetune(search, check, n_val)
    winner = search["recipes"][winner_name]
    work.step("tuning", "skipped: hyperparameter tuning of the winner comes with `liftlab tune`", work.clock.used())
    finals, from_search = work.final(winner)
    lift = final_lift(finals, from_search)
    lift["lift"]["compute_ratio"] = compute_ratio(finals)
    started = work.clock.used()
    best_metrics = json.loads((out / "best" / "metrics.json").read_text())
    # 31 passes over the test split (clean + 6 corruptions x 5 severities), timed at training speed to be safe.
    # (a probe's training throughput is its head's on cached features: the network's forward pass is what
    # the corruption passes cost, timed in the transfer plan and scaled by pixels)
    per_image = 1 / max(best_metrics["images_per_second"], 1.0)
    if work.forward_seconds:
        per_image = max(per_image, work.forward_seconds * (winner.data.size / base.data.size) ** 2)
    corruption_seconds = 31 * best_metrics["n_test"] * per_image
    evaluation = run_evaluation(
        out / "evaluation",
        model=out / "best",
        data=spec,
        question=settings.question,
        corruptions=work.clock.left() - work.reserve() / 2 > corruption_seconds,
        quiet=True,
    )
    work.step("evaluation", f"best model on the test split: {evaluation['metrics']['accuracy']['value']:.4f}", started)
    curve = diagnosis.get("learning_curve") or {}
    best_acc = lift["best"]["value"]
    # The lift describes the recipe (mean over the final seeds); what the user deploys is one model, best/ (the
    # first final seed): its own test accuracy is the headline's first figure and decides the target.
    accuracy = evaluation["metrics"]["accuracy"]
    exported = {"seed": finals["best"][0].seed, "test_acc": accuracy["value"], "ci95": accuracy.get("ci95"),
                "folder": str(out / "best")}  # fmt: skip
    result: dict[str, Any] = {
        "data": spec,
        "baseline": {
            "recipe": base.model_dump(mode="json"),
            "strategies": base.strategies,
            "test_acc": lift[BASELINE]["value"],
            "ci95": lift[BASELINE]["ci95"],
            "runs": [r.summary() for r in finals[BASELINE]],
        },
        "best": {
            "name": winner_name,
            "recipe": winner.model_dump(mode="json"),
            "strategies": winner.strategies,
            "test_acc": best_acc,
            "ci95": lift["best"]["ci95"],
            "runs": [r.summary() for r in finals["best"]],
            "folder": str(out / "best"),
            "exported": exported,
        },
        "lift": lift["lift"],
        "target": settings.target,
        "target_reached": None if settings.target is None else exported["test_acc"] >= settings.target,
        "images_for_target": curve.get("images_for_target"),
        "effects": effects(search, n_val, finetuned=winner_name.endswith("fine-tune")),
        "search": {
            "arms": {name: recipe.strategies for name, recipe in search["recipes"].items()},
            "rungs": search["rungs"],
        },
        "diagnosis": {
            k: diagnosis.get(k) for k in ("findings", "recommendations", "learning_curve", "skipped_for_time")
        },
        "data_check": {k: check[k] for k in ("counts", "imbalance_ratio", "n_unreadable", "empty_classes")},
        "profile": profile.record() if profile else None,
        "recipe_diff": recipe_diff(base, winner),
        "steps": [vars(s) for s in work.steps],
        "runs_trained": len(work.session.ledger.trained),
        "runs_reused": len(work.session.ledger.reused),
        "resumed": {"runs_found": work.found_at_start, "exact": False, "note": RESUME_NOTE}
        if work.found_at_start
        else None,
        "budget_s": settings.budget_s,
        "reproduce": {
            "command": settings.command,
            "liftlab_version": liftlab.__version__,
            "torch_version": torch.__version__,
            "python": platform.python_version(),
            "seeds": [r.seed for r in finals["best"]],
            "baseline_recipe": base.to_yaml(),
        },
    }
    result["used_s"] = round(work.clock.used(), 1)
    write_json(out / "improve.json", result)
    improve_report(result, evaluation, out)
    result["used_s"] = round(work.clock.used(), 1)
    write_json(out / "improve.json", result)
    return result
