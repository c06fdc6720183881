"""`liftlab ablate`: the controlled experiment. Same data, same budget, same seeds for every arm.

Runs are looked up in the store by content before anything trains, so rerunning a command resumes
it and a changed plan reuses the runs it shares with the old one. Only validation accuracy chooses
(the greedy steps); test accuracy is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

import liftlab
from liftlab.config import Recipe, with_values
from liftlab.errors import BadInputError
from liftlab.experiments.ablation_arms import initial_arms
from liftlab.experiments.runner import Job
from liftlab.experiments.selection import keeps_addition
from liftlab.experiments.session import Ledger, Session
from liftlab.experiments.store import RunStore, run_key
from liftlab.experiments.tracking import Tracker, start_tracking
from liftlab.io import write_json
from liftlab.progress import make_progress
from liftlab.records import AblationArm, AblationResult, FailedRun, RunRecord, RunSummary
from liftlab.records.ablation import AblationBudget, McNemarCounts, PairedDelta
from liftlab.stats import ALPHA, holm, image_variance_of, mcnemar, mean_ci, paired_comparison, verdict
from liftlab.strategies.arm import BASELINE_ARM, Arm, arm_name


@dataclass
class AblationSettings:
    strategies: list[str]
    combine: str = "all"
    seeds: int = 3
    epochs: int | None = None
    time_per_run: float | None = None
    workers: int | None = None
    storage: str | None = None
    quiet: bool = True
    track: str | None = None  # MLflow tracking URI (`experiments/tracking.py`)


class Ablation:
    def __init__(
        self, spec: str, base: Recipe, settings: AblationSettings, out: Path, tracker: Tracker | None = None
    ) -> None:
        if settings.seeds < 1:
            raise BadInputError(f"--seeds {settings.seeds}: expected at least 1")
        self.spec = spec
        self.settings = settings
        self.out = out
        self.base = with_values(base, {"epochs": settings.epochs}) if settings.epochs else base
        store = RunStore(settings.storage) if settings.storage else RunStore.in_folder(out)
        self.session = Session(store, settings.workers, tracker)
        self.budget = {"max_seconds": settings.time_per_run}
        self.seeds = list(range(self.base.seed, self.base.seed + settings.seeds))
        self.greedy_arms: set[str] = set()  # combinations the greedy step chose: tested on fresh seeds

    @property
    def ledger(self) -> Ledger:
        return self.session.ledger

    def recipe(self, arm: Arm, seed: int) -> Recipe:
        return with_values(arm.recipe(self.base), {"seed": seed})

    def ensure(self, arms: list[Arm], seeds: list[int] | None = None) -> None:
        """Train every (arm, seed) run not already in the store (`seeds`: the ablation's own by default)."""
        jobs: list[Job] = []
        arm_of: dict[str, str] = {}
        for arm in arms:
            for seed in seeds or self.seeds:
                recipe = self.recipe(arm, seed)
                key = run_key(self.spec, recipe, self.budget)
                checkpoint = str(self.out / "checkpoints" / key)
                jobs.append(Job(key, self.spec, recipe.model_dump(mode="json"), self.settings.time_per_run,
                                checkpoint=checkpoint))  # fmt: skip
                if key not in self.session.records:
                    arm_of.setdefault(key, arm.name)
        # nothing to train (all stored) draws no bars
        with make_progress(self.settings.quiet or not arm_of) as progress:
            # one row per arm (its seeds) under one row for the whole plan, each with its ETA
            total = progress.add_task("all runs", total=len(arm_of), info=f"{self.session.workers} worker(s)")
            rows = {name: progress.add_task(f"  {name}", total=list(arm_of.values()).count(name), info="seeds")
                    for name in dict.fromkeys(arm_of.values())}  # fmt: skip

            def finished(record: RunRecord) -> None:
                progress.advance(rows[arm_of[record.key]])
                progress.advance(total)

            self.session.run(jobs, on_done=finished)

    def runs(self, arm: Arm, seeds: list[int] | None = None) -> list[RunRecord]:
        chosen = seeds or self.seeds
        return [self.session.records[run_key(self.spec, self.recipe(arm, seed), self.budget)] for seed in chosen]

    def fresh_seeds(self) -> list[int]:
        """Seeds after the ablation's own: a combination the greedy step chose on its seeds' validation luck
        is tested, with the baseline, on seeds that did not choose it."""
        return [seed + len(self.seeds) for seed in self.seeds]

    def greedy(self, singles: list[Arm]) -> list[Arm]:
        """Forward selection on validation accuracy: add the best remaining strategy while it beats the current
        selection clearly (`experiments.selection.keeps_addition`, the rule `improve`'s greedy step uses too)."""
        added: list[Arm] = []
        selected: tuple[str, ...] = ()
        current = BASELINE_ARM
        remaining = [arm.strategies[0] for arm in singles]

        def validation(arm: Arm) -> list[float]:
            return [float(r.val_acc or 0.0) for r in self.runs(arm)]

        while remaining:
            candidates = [Arm(arm_name((*selected, name)), (*selected, name)) for name in remaining]
            self.ensure(candidates)
            best = max(candidates, key=lambda arm: float(np.mean(validation(arm))))
            if not keeps_addition(self.runs(best), self.runs(current), candidates=len(candidates)):
                break
            if len(best.strategies) > 1:  # single-strategy arms are in the plan already
                added.append(best)
            selected, current = best.strategies, best
            remaining.remove(best.strategies[-1])
        return added

    def run(self) -> AblationResult:
        arms = initial_arms(self.settings.strategies, self.settings.combine)
        self.ensure(arms)
        if self.settings.combine == "greedy":
            chosen = self.greedy(arms[1:])
            if chosen:
                self.ensure([BASELINE_ARM, *chosen], self.fresh_seeds())
            arms += chosen
            self.greedy_arms = {arm.name for arm in chosen}
        summary = self.summarise(arms)
        write_json(self.out / "ablation.json", summary.to_json())
        return summary

    def summarise(self, arms: list[Arm]) -> AblationResult:
        baseline_runs = self.runs(BASELINE_ARM)
        entries = [self._arm_entry(arm, baseline_runs) for arm in arms]
        adjusted = iter(holm([1.0 if e.p_value is None else e.p_value for e in entries if not e.is_baseline]))
        judged = []
        for entry in entries:
            if not entry.is_baseline:
                p_holm = next(adjusted)
                if not entry.runs:
                    decision = "failed"
                elif entry.failed_runs:
                    # judged on the seeds that survived, an arm that diverges on some looks better than it is
                    decision = f"unstable (failed on {len(entry.failed_runs)} of {len(self.seeds)} seeds)"
                else:
                    decision = verdict(entry.delta_vs_baseline.mean if entry.delta_vs_baseline else 0.0, p_holm)
                entry = replace(entry, p_holm=p_holm, verdict=decision)
            judged.append(entry)
        return AblationResult(
            data=self.spec,
            strategies=tuple(self.settings.strategies),
            combine=self.settings.combine,
            seeds=tuple(self.seeds),
            budget=AblationBudget(self.base.epochs, self.settings.time_per_run),
            recipe=self.base.model_dump(mode="json"),
            arms=tuple(judged),
            alpha=ALPHA,
            liftlab_version=liftlab.__version__,
        )

    def _arm_entry(self, arm: Arm, baseline_runs: list[RunRecord]) -> AblationArm:
        """An arm's runs and its paired comparison with the baseline (its verdict comes after Holm's step)."""
        fresh = arm.name in self.greedy_arms
        all_runs = self.runs(arm, self.fresh_seeds() if fresh else None)
        if fresh:
            baseline_runs = self.runs(BASELINE_ARM, self.fresh_seeds())
        ok = [r for r in all_runs if r.test_acc is not None and not r.failed]
        accuracies = [float(r.test_acc or 0.0) for r in ok]
        mean, ci = mean_ci(accuracies) if accuracies else (None, None)
        entry = AblationArm(
            name=arm.name,
            strategies=tuple(arm.strategies),
            runs=tuple(RunSummary.of(r, timed=False) for r in ok),
            failed_runs=tuple(FailedRun(r.seed, r.stopped_reason) for r in all_runs if r not in ok),
            tested_on_fresh_seeds=fresh,
            mean_test_acc=mean,
            ci95=(float(ci[0]), float(ci[1])) if ci else None,
            verdict="baseline" if arm == BASELINE_ARM else "not judged yet",
        )
        if arm == BASELINE_ARM:
            return entry
        by_seed = {r.seed: r for r in baseline_runs if r.test_acc is not None and not r.failed}
        pairs = [(r, by_seed[r.seed]) for r in ok if r.seed in by_seed]
        arm_correct = [np.asarray(a.test_predictions) == np.asarray(a.test_labels) for a, _ in pairs]
        base_correct = [np.asarray(b.test_predictions) == np.asarray(b.test_labels) for _, b in pairs]
        comparison = paired_comparison(
            [float(a.test_acc or 0.0) for a, _ in pairs],
            [float(b.test_acc or 0.0) for _, b in pairs],
            image_variance_of(arm_correct, base_correct),
            len(arm_correct[0]) if arm_correct else 0,
        )
        test = mcnemar(arm_correct, base_correct)
        return replace(
            entry,
            delta_vs_baseline=PairedDelta(comparison.delta, comparison.ci95),
            p_value=comparison.p_value,
            mcnemar=McNemarCounts(test.arm_only_right, test.baseline_only_right, test.p_value),
            seeds_to_detect_1_point=comparison.seeds_to_detect(0.01),
        )


def run_ablation(spec: str, base: Recipe, settings: AblationSettings, out: Path) -> tuple[AblationResult, Ledger]:
    """Plan, train what is missing, compare, and write ablation.json, the plots and report.html."""
    from liftlab.report.html import ablation_report
    from liftlab.report.plots import ablation_plots

    asked = {"data": spec, "strategies": list(settings.strategies), "combine": settings.combine,
             "seeds": settings.seeds, "out": str(out)}  # fmt: skip
    tracker = start_tracking(settings.track, "ablate", f"ablate {spec}", asked)
    ablation = Ablation(spec, base, settings, out, tracker)
    summary = ablation.run()
    plots = ablation_plots(summary, out)
    ablation_report(summary, plots, out / "report.html")
    if tracker is not None:
        figures: dict[str, float | None] = {}
        for arm in summary.arms:
            figures[f"{arm.name}.mean_test_acc"] = arm.mean_test_acc
            if arm.delta_vs_baseline:
                figures[f"{arm.name}.delta_vs_baseline"] = arm.delta_vs_baseline.mean
        verdicts = {f"liftlab.verdict.{arm.name}": arm.verdict for arm in summary.arms}
        tracker.finish_parent(figures, verdicts, [out / "report.html", out / "ablation.json"])
    return summary, ablation.ledger
