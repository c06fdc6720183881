"""`liftlab ablate`, `diagnose`, `lab`, `improve`, `tune` and `worker`: the commands that train many runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from liftlab.cli.common import DataArg, StorageOption, TrackOption, app, base_recipe, console, reports_errors


@app.command()
@reports_errors
def ablate(
    data: DataArg,
    strategies: Annotated[str, typer.Option(help="Strategies to compare, e.g. crop,flip,whiten.")],
    combine: Annotated[str, typer.Option(help="all (also everything together), none, or greedy.")] = "all",
    seeds: Annotated[int, typer.Option(min=1, help="Seeds per arm.")] = 3,
    epochs: Annotated[int | None, typer.Option(min=1, help="Epochs per run (the same for every arm).")] = None,
    time_per_run: Annotated[float | None, typer.Option(help="Seconds per run at most (stops after an epoch).")] = None,
    out: Annotated[Path, typer.Option(help="Output folder; rerunning resumes.")] = Path("runs/ablate"),
    workers: Annotated[int | None, typer.Option(min=1, help="Local worker processes (default: one per core).")] = None,
    storage: Annotated[
        str | None, typer.Option(envvar="LIFTLAB_STORAGE", help="Optuna storage URL (default: SQLite in --out).")
    ] = None,
    recipe: Annotated[Path | None, typer.Option(help="Baseline recipe YAML.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a baseline recipe field.")] = None,
    track: TrackOption = None,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Baseline, each strategy alone and together, over several seeds, with intervals and verdicts."""
    from liftlab.experiments.ablate import AblationSettings, run_ablation
    from liftlab.strategies import split_list

    base = base_recipe(recipe, set_)
    settings = AblationSettings(
        split_list(strategies), combine, seeds, epochs, time_per_run, workers, storage, quiet, track=track
    )
    summary, execution = run_ablation(data, base, settings, out)
    table = Table(title=f"ablation on {data}: {len(summary.seeds)} seeds, {summary.budget.epochs} epochs")
    for column in ("arm", "test acc", "95% CI", "vs baseline", "p (Holm)", "verdict"):
        table.add_column(column)
    for arm in summary.arms:
        ci = arm.ci95
        delta = arm.delta_vs_baseline
        table.add_row(
            arm.name,
            "" if arm.mean_test_acc is None else f"{arm.mean_test_acc:.4f}",
            "" if ci is None else f"{ci[0]:.4f}-{ci[1]:.4f}",
            "" if delta is None else f"{100 * delta.mean:+.2f} pt",
            "" if arm.p_holm is None else f"{arm.p_holm:.3g}",
            arm.verdict,
        )
    console.print(table)
    resumed = f", {len(execution.resumed)} continued from a killed run's checkpoint" if execution.resumed else ""
    console.print(
        f"trained {len(execution.trained)} run(s), reused {len(execution.reused)}{resumed}; "
        f"report: {out / 'report.html'}"
    )


@app.command()
@reports_errors
def diagnose(
    data: DataArg,
    recipe: Annotated[
        Path | None,
        typer.Option(
            help="Recipe YAML of the model to diagnose, or `default` (liftlab's plain recipe). Without "
            "it: the data profile's baseline, the model `improve` starts from."
        ),
    ] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a recipe field.")] = None,
    target: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="Accuracy you need, e.g. 0.9.")] = None,
    quick: Annotated[bool, typer.Option(help="A cheaper learning curve (one seed, three sizes).")] = False,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("runs/diagnose"),
    skip_bad: Annotated[bool, typer.Option(help="Ignore unusable image files.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Train a baseline and say what is wrong, with evidence, and what to try first."""
    from liftlab.diagnose.diagnosis import DiagnoseSettings, run_diagnosis
    from liftlab.experiments.baseline_diagnosis import diagnose_profiled

    settings = DiagnoseSettings(target, quick, skip_bad, quiet)
    if recipe is None:
        result = diagnose_profiled(data, list(set_ or []), out, settings)
    else:
        settings.baseline_source = (f"your recipe ({recipe})",)
        result = run_diagnosis(data, base_recipe(recipe, set_), out, settings)
    console.print("[bold]baseline[/bold]: " + escape("; ".join(result.baseline_source)), soft_wrap=True)
    for finding in result.findings:
        colour = {"severe": "red", "warning": "yellow", "info": "cyan"}[finding.severity]
        console.print(f"[{colour}]{finding.code}[/{colour}] {escape(finding.message)}", soft_wrap=True)
    if result.recommendations:
        console.print("try, best first: " + ", ".join(r.strategy for r in result.recommendations))
    console.print(f"report: {out / 'report.html'}")


@app.command()
@reports_errors
def lab(
    quick: Annotated[bool, typer.Option(help="Only the quick scenarios (as the test suite runs them).")] = False,
    work: Annotated[Path, typer.Option(help="Folder for the data sets some scenarios build.")] = Path("runs/lab"),
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write the results as JSON.")] = None,
    min_score: Annotated[float, typer.Option(help="Exit 1 when the share diagnosed exactly is below this.")] = 0.0,
) -> None:
    """Known-answer scenarios that test the diagnosis: expected codes, found codes, pass or fail."""
    from liftlab.diagnose.lab import ScenarioResult, run_lab
    from liftlab.io import write_json

    def show(outcome: ScenarioResult) -> None:
        mark = "[green]pass[/green]" if outcome.passed else "[red]FAIL[/red]"
        console.print(
            f"{mark} {outcome.scenario.name}: expected {', '.join(sorted(outcome.scenario.expected))}; "
            f"found {', '.join(outcome.found) or '-'}",
            soft_wrap=True,
        )

    results = run_lab(work, quick, show)
    score = sum(r.passed for r in results) / max(len(results), 1)
    if json_path is not None:
        write_json(json_path, {"score": score, "scenarios": [r.to_dict() for r in results]})
    console.print(f"diagnosed exactly: {sum(r.passed for r in results)}/{len(results)} = {score:.0%}")
    if score < min_score:
        raise typer.Exit(1)


@app.command()
@reports_errors
def improve(
    data: DataArg,
    budget: Annotated[str, typer.Option(help="Wall-clock budget, e.g. 20m, 90s, 1h30m.")] = "20m",
    target: Annotated[float | None, typer.Option(help="Accuracy you need, e.g. 0.9; stops early when reached.")] = None,
    recipe: Annotated[Path | None, typer.Option(help="Baseline recipe YAML (default: liftlab's).")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a baseline recipe field.")] = None,
    seeds: Annotated[int, typer.Option(min=1, help="Seeds for the final runs of the winner and the baseline.")] = 2,
    max_arms: Annotated[int, typer.Option(min=1, help="Remedies to try at most.")] = 6,
    cost: Annotated[Path | None, typer.Option(help="Cost or gain matrix for the business view.")] = None,
    target_class: Annotated[str | None, typer.Option(help="Class the business acts on (business view).")] = None,
    goal: Annotated[float | None, typer.Option(help="Successes wanted (contacts = goal / precision).")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Local worker processes (default: one per core).")] = None,
    out: Annotated[Path, typer.Option(help="Output folder; rerunning resumes.")] = Path("runs/improve"),
    skip_bad: Annotated[bool, typer.Option(help="Ignore unusable image files.")] = False,
    export: Annotated[
        str | None, typer.Option(help="Also write best/ as OUT/best.onnx (onnx) or OUT/best.pt (torchscript).")
    ] = None,
    track: TrackOption = None,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Diagnose, try the prescribed remedies under a time budget, and export the best model with proof."""
    import sys

    from liftlab.evaluate.cost import load_cost
    from liftlab.evaluate.evaluation import BusinessQuestion
    from liftlab.experiments.improve import ImproveSettings
    from liftlab.experiments.improve import improve as run_improve
    from liftlab.experiments.improve.budget import parse_budget
    from liftlab.records import Step

    base = base_recipe(recipe, set_)
    question = BusinessQuestion(load_cost(cost) if cost else None, target_class, goal)
    settings = ImproveSettings(
        budget_s=parse_budget(budget),
        target=target,
        seeds=seeds,
        max_arms=max_arms,
        workers=workers,
        question=question if question.asked else None,
        profile=recipe is None,
        overrides=tuple(set_ or []),
        skip_bad=skip_bad,
        quiet=quiet,
        command=" ".join(["liftlab", *sys.argv[1:]]),
        export=export,
        track=track,
    )

    def show(step: Step) -> None:
        line = str(step)
        console.print(f"[bold]{escape(step.phase)}[/bold]{escape(line[len(step.phase) :])}", soft_wrap=True)

    result = run_improve(data, base, out, settings, show)
    if result.resumed:
        console.print(f"[bold]resumed[/bold]: {escape(result.resumed['note'])}", soft_wrap=True)

    for sentence in result.verdict:
        console.print(escape(sentence), soft_wrap=True, highlight=False)
    console.print(f"used {result.used_s:.0f} s of {result.budget_s:.0f} s; report: {out / 'report.html'}")


@app.command()
@reports_errors
def tune(
    data: DataArg,
    trials: Annotated[int, typer.Option(min=1, help="Finished trials the study should reach.")] = 20,
    timeout: Annotated[float | None, typer.Option(help="Stop taking trials after this many seconds.")] = None,
    study: Annotated[str, typer.Option(help="Study name (workers join it by name).")] = "liftlab-tune",
    storage: StorageOption = None,
    space: Annotated[str, typer.Option(help="Strategies to tune, e.g. lr,weight-decay,dropout.")] = ",".join(
        ("lr", "weight-decay", "dropout", "label-smoothing")
    ),
    repeats: Annotated[int, typer.Option(min=1, help="Seeds for each top configuration before one is crowned.")] = 3,
    pruner: Annotated[str, typer.Option(help="hyperband, halving or none.")] = "hyperband",
    sampler: Annotated[str, typer.Option(help="tpe (multivariate) or random.")] = "tpe",
    recipe: Annotated[Path | None, typer.Option(help="Recipe YAML (or built-in name) to start from.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a recipe field.")] = None,
    out: Annotated[Path, typer.Option(help="Output folder; rerunning resumes the study.")] = Path("runs/tune"),
    track: TrackOption = None,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Tune hyperparameters with Optuna (TPE, pruning by epochs); workers anywhere can join the study."""
    from liftlab.experiments.tune import TuneSettings, run_tune
    from liftlab.strategies import split_list

    base = base_recipe(recipe, set_)
    settings = TuneSettings(
        trials,
        timeout,
        study,
        storage,
        tuple(split_list(space)),
        repeats,
        pruner=pruner,
        sampler=sampler,
        quiet=quiet,
        track=track,
    )
    summary = run_tune(data, base, settings, out, on_message=lambda text: console.print(escape(text)))
    best = summary.best
    counts = ", ".join(f"{n} {state.lower()}" for state, n in summary.counts.items())
    console.print(f"{len(summary.trials)} trials ({counts}); epochs trained {summary.epochs_trained} of "
                  f"{summary.epochs_unpruned} unpruned")  # fmt: skip
    if best:
        console.print(
            f"best: {escape(', '.join(best.strategies))}: val acc {best.mean:.4f} "
            f"({best.ci95[0]:.4f}-{best.ci95[1]:.4f}, {len(best.scores)} seeds)"
        )
    console.print(f"wrote {escape(str(out / 'tune.json'))}, best_recipe.yaml and report.html")


@app.command()
@reports_errors
def worker(
    study: Annotated[str, typer.Option(help="Name of the study to join.")],
    storage: StorageOption = None,
    trials: Annotated[int | None, typer.Option(min=1, help="Run this many trials here (default: until done).")] = None,
    timeout: Annotated[float | None, typer.Option(help="Stop taking trials after this many seconds.")] = None,
    grace_seconds: Annotated[
        float, typer.Option(min=2, help="A trial silent this long (its worker died) is failed and retried.")
    ] = 20.0,
    quiet: Annotated[bool, typer.Option(help="Only a summary line.")] = False,
) -> None:
    """Join a `tune` study from any machine and take trials until none are left."""
    from liftlab.errors import BadInputError
    from liftlab.experiments.tune import load_study, work
    from liftlab.redaction import redact

    if not storage:
        raise BadInputError("--storage (or $LIFTLAB_STORAGE): expected the study's storage URL")
    joined = load_study(storage, study, grace_s=grace_seconds)
    console.print(f"joined study {escape(study)} in {escape(redact(storage))}")
    ran = work(joined, trials, timeout, quiet)
    console.print(f"ran {ran} trial(s)")
