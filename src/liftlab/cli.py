"""The `liftlab` command: parse, call the library, print. No logic lives here."""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

import liftlab
from liftlab.errors import LiftlabError

app = typer.Typer(
    help="Find out why an image classifier is stuck, and prove which remedies lift it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Inspect data sets.", no_args_is_help=True)
app.add_typer(data_app, name="data")

console = Console()
errors = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

DataArg = Annotated[
    str,
    typer.Argument(help="A folder (ImageFolder layout), a CSV of path,label, builtin:NAME or torchvision:NAME."),
]


def reports_errors(command: F) -> F:
    """Turn liftlab's own errors into a message on stderr and the documented exit code."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except LiftlabError as error:
            errors.print(f"[red]error:[/red] {escape(str(error))}", highlight=False, soft_wrap=True)
            raise typer.Exit(error.exit_code) from None
        except (typer.Exit, typer.Abort, click.ClickException):  # how commands end on purpose
            raise
        except Exception:  # a crash: show the traceback, with any storage password taken out
            from liftlab.redaction import scrub

            text = traceback.format_exc()
            for url in (kwargs.get("storage"), os.environ.get("LIFTLAB_STORAGE")):
                text = scrub(text, url)
            errors.print(text, highlight=False, soft_wrap=True, markup=False)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


@app.command()
def version() -> None:
    """Print liftlab's version."""
    console.print(liftlab.__version__)


def _without_option(argv: list[str], name: str) -> list[str]:
    """argv without `name VALUE` or `name=VALUE`."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == name:
            skip = True
        elif not arg.startswith(f"{name}="):
            kept.append(arg)
    return kept


@app.command()
@reports_errors
def train(
    data: DataArg,
    recipe: Annotated[Path | None, typer.Option(help="Recipe YAML; missing fields take defaults.")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a recipe field: --set optim.lr=0.1 (repeatable)."),
    ] = None,
    strategies: Annotated[
        str | None, typer.Option(help="Remedies to apply in order, e.g. flip,crop,size=64 (see `liftlab strategies`).")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs (same as --set epochs=N).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed (same as --set seed=S).")] = None,
    out: Annotated[Path, typer.Option(help="Run folder to write.")] = Path("runs/train"),
    resume: Annotated[bool, typer.Option(help="Continue the run in --out from its last checkpoint.")] = False,
    skip_bad: Annotated[
        bool, typer.Option(help="Train on the usable images; list the skipped ones in metrics.json.")
    ] = False,
    nproc: Annotated[
        int, typer.Option(min=1, help="Processes for one run under torch.distributed (gloo on CPU, NCCL on GPUs).")
    ] = 1,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Train one recipe and write a run folder (recipe, history, metrics, weights, classes)."""
    import sys

    from liftlab.config import Recipe, apply_overrides, load_recipe
    from liftlab.strategies import apply_strategies
    from liftlab.train import distributed
    from liftlab.train.run import train_run

    if nproc > 1 and "LOCAL_RANK" not in os.environ:  # relaunch this command under torchrun
        raise typer.Exit(distributed.launch(nproc, _without_option(sys.argv[1:], "--nproc")))

    base = load_recipe(recipe) if recipe else Recipe()
    if strategies:
        base = apply_strategies(base, strategies)
    overrides = list(set_ or [])
    if epochs is not None:
        overrides.append(f"epochs={epochs}")
    if seed is not None:
        overrides.append(f"seed={seed}")
    resolved = apply_overrides(base, overrides)
    metrics = train_run(data, resolved, out, skip_bad=skip_bad, resume=resume, quiet=quiet)
    if not metrics:  # a process other than rank 0 of a distributed run: rank 0 reports
        return
    if metrics["stopped_reason"]:
        errors.print(f"[yellow]stopped:[/yellow] {metrics['stopped_reason']}")
    for resumed in metrics.get("resumed", []):
        exactness = ("it ends as an uninterrupted run would" if resumed["exact"] else
                     "GPU kernels may add in another order, so it can differ slightly from an uninterrupted run "
                     "(set deterministic=true for an exact resume)")  # fmt: skip
        console.print(f"resumed after epoch {resumed['from_epoch']}: {exactness}")
    test = "n/a" if metrics["test_acc"] is None else f"{metrics['test_acc']:.4f}"
    val = "n/a" if metrics["val_acc"] is None else f"{metrics['val_acc']:.4f}"
    console.print(
        f"val_acc {val}  test_acc {test}  {metrics['images_per_second']:.0f} img/s  "
        f"{metrics['dtype']} on {metrics['device']}  -> {out}"
    )
    if metrics["skipped"]:
        console.print(f"skipped {len(metrics['skipped'])} unusable file(s); listed in {out / 'metrics.json'}")


@data_app.command("check")
@reports_errors
def data_check(
    data: DataArg,
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write the report as JSON here.")] = None,
    skip_bad: Annotated[bool, typer.Option(help="Exit 0 even when unreadable files are found.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Counts per class and split, image sizes, unreadable files, duplicates, empty classes."""
    from liftlab.data.check import check_data
    from liftlab.io import write_json

    report = check_data(data, quiet=quiet)
    table = Table(title=f"{data}: images per class")
    splits = [s for s in ("train", "val", "test") if s in report.counts]
    table.add_column("class")
    for split in splits:
        table.add_column(split, justify="right")
    for name in report.classes:
        table.add_row(name, *(str(report.counts[s][name]) for s in splits))
    console.print(table)
    if report.splits_made_by_liftlab:
        console.print("splits: made by liftlab (stratified, fixed seed, exact duplicates kept in one split)")
    elif report.split_folders:
        where = [
            f"{split} <- " + (f"folder {escape(folder)}/" if folder else "carved from train by liftlab")
            for split, folder in report.split_folders.items()
        ]
        console.print("splits: " + "; ".join(where), highlight=False, soft_wrap=True)
    ratio = "n/a" if report.imbalance_ratio is None else f"{report.imbalance_ratio:.2f}"
    console.print(f"imbalance ratio (largest / smallest class): {ratio}")
    for what, spread in report.image_size.items():
        if spread:
            console.print(f"{what}: min {spread['min']:.3g}  median {spread['median']:.3g}  max {spread['max']:.3g}")
    console.print(f"non-image files ignored: {len(report.non_image_files)}")
    if report.empty_classes:
        console.print(f"[yellow]empty classes:[/yellow] {', '.join(report.empty_classes)}")
    console.print(
        f"duplicate groups within a split: {len(report.duplicates_within)}; "
        f"across splits: {len(report.duplicates_across)}"
    )
    for group in report.duplicates_across[:10]:
        console.print(f"  [yellow]across splits:[/yellow] {escape(', '.join(group))}", highlight=False, soft_wrap=True)
    console.print(f"unreadable files: {len(report.unreadable)}")
    for bad in report.unreadable:
        console.print(f"  [red]{escape(bad.path)}[/red]: {escape(bad.reason)}", highlight=False, soft_wrap=True)
    if json_path is not None:
        write_json(json_path, report.to_dict())
    if report.unreadable and not skip_bad:
        raise typer.Exit(2)


@app.command("strategies")
@reports_errors
def strategies_command(
    category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the catalogue as JSON.")] = False,
) -> None:
    """The catalogue of remedies: name, category, when each helps and when it hurts."""
    from liftlab.strategies import list_strategies

    catalogue = list_strategies(category)
    if json_output:
        typer.echo(json.dumps([s.to_dict() for s in catalogue], indent=2))
        return
    table = Table(title="liftlab strategies", show_lines=True)
    for column in ("name", "category", "setting (default)", "helps when", "hurts when"):
        table.add_column(column, overflow="fold")
    for strategy in catalogue:
        setting = "" if strategy.setting is None else f"{strategy.setting.describe()} ({strategy.default})"
        table.add_row(strategy.name, strategy.category, setting, strategy.helps_when, strategy.hurts_when)
    console.print(table)


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
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Baseline, each strategy alone and together, over several seeds, with intervals and verdicts."""
    from liftlab.config import Recipe, apply_overrides, load_recipe
    from liftlab.experiments.ablate import AblationSettings, run_ablation
    from liftlab.strategies import split_list

    base = apply_overrides(load_recipe(recipe) if recipe else Recipe(), list(set_ or []))
    settings = AblationSettings(split_list(strategies), combine, seeds, epochs, time_per_run, workers, storage, quiet)
    summary, execution = run_ablation(data, base, settings, out)
    table = Table(title=f"ablation on {data}: {len(summary['seeds'])} seeds, {summary['budget']['epochs']} epochs")
    for column in ("arm", "test acc", "95% CI", "vs baseline", "p (Holm)", "verdict"):
        table.add_column(column)
    for arm in summary["arms"]:
        ci = arm["ci95"]
        delta = arm["delta_vs_baseline"]
        table.add_row(
            arm["name"],
            "" if arm["mean_test_acc"] is None else f"{arm['mean_test_acc']:.4f}",
            "" if ci is None else f"{ci[0]:.4f}-{ci[1]:.4f}",
            "" if delta is None else f"{100 * delta['mean']:+.2f} pt",
            "" if "p_holm" not in arm else f"{arm['p_holm']:.3g}",
            arm["verdict"],
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
        Path | None, typer.Option(help="Recipe YAML of the model to diagnose (default: liftlab's).")
    ] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a recipe field.")] = None,
    target: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="Accuracy you need, e.g. 0.9.")] = None,
    quick: Annotated[bool, typer.Option(help="A cheaper learning curve (one seed, three sizes).")] = False,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("runs/diagnose"),
    skip_bad: Annotated[bool, typer.Option(help="Ignore unusable image files.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Train a baseline and say what is wrong, with evidence, and what to try first."""
    from liftlab.config import Recipe, apply_overrides, load_recipe
    from liftlab.diagnose.run import DiagnoseSettings, run_diagnosis

    base = apply_overrides(load_recipe(recipe) if recipe else Recipe(), list(set_ or []))
    result = run_diagnosis(data, base, out, DiagnoseSettings(target, quick, skip_bad, quiet))
    for finding in result["findings"]:
        colour = {"severe": "red", "warning": "yellow", "info": "cyan"}[finding["severity"]]
        console.print(f"[{colour}]{finding['code']}[/{colour}] {escape(finding['message'])}", soft_wrap=True)
    if result["recommendations"]:
        console.print("try, best first: " + ", ".join(r["strategy"] for r in result["recommendations"]))
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


def _print_evaluation(record: dict[str, Any]) -> None:
    """Headline metrics with intervals, and the business decisions when asked."""
    metrics = record["metrics"]
    shown = [m for m in ("accuracy", "balanced_accuracy", "macro_f1", "top_5_accuracy", "log_loss") if m in metrics]
    for name in shown:
        low, high = metrics[name]["ci95"]
        console.print(f"{name:18} {metrics[name]['value']:.4f}  (95% CI {low:.4f} to {high:.4f})")
    for decision in record.get("business", {}).get("decisions", []):
        if decision.get("reachable") is False:
            console.print(f"[yellow]{decision['name']}[/yellow]: no threshold satisfies it")
            continue
        parts = [f"{decision['name']}:"]
        if decision.get("threshold") is not None:
            parts.append(
                f"threshold {decision['threshold']:.3f} (chosen on {decision.get('chosen_on', 'these items')})"
            )
        for key in ("precision", "recall", "precision_in_use"):
            if key in decision:
                label = f"precision at a {decision['target_share']:g} share" if key == "precision_in_use" else key
                parts.append(f"{label} {decision[key]['value']:.3f}")
        money = decision.get("expected_gain") or decision.get("expected_cost")
        if money:
            parts.append(f"{'gain' if 'expected_gain' in decision else 'cost'} per prediction {money['value']:.4g}")
        if "contacts" in decision:
            contacts = decision["contacts"]
            parts.append(
                f"contacts for {contacts['goal']:g}: {contacts['value']} ({contacts['ci95'][0]}-{contacts['ci95'][1]})"
            )
        console.print(escape("  ".join(parts)), highlight=False, soft_wrap=True)


@app.command()
@reports_errors
def evaluate(
    predictions: Annotated[
        Path | None, typer.Option(help="Predictions CSV: y_true, and y_pred or one probability column per class.")
    ] = None,
    compare: Annotated[
        tuple[Path, Path] | None, typer.Option(help="Two predictions CSVs of the same items: A B.")
    ] = None,
    model: Annotated[Path | None, typer.Option(help="A liftlab run folder (with --data).")] = None,
    data: Annotated[str | None, typer.Option(help="DATA to score --model on (its test split).")] = None,
    cost: Annotated[Path | None, typer.Option(help="Cost or gain matrix, YAML or CSV.")] = None,
    target_class: Annotated[str | None, typer.Option(help="The class the business acts on, e.g. buyer.")] = None,
    goal: Annotated[
        float | None, typer.Option(help="Successes wanted, e.g. 50 sales: contacts = goal / precision.")
    ] = None,
    min_precision: Annotated[
        float | None, typer.Option(help="Threshold for --target-class with precision >= P.")
    ] = None,
    min_recall: Annotated[float | None, typer.Option(help="Threshold for --target-class with recall >= R.")] = None,
    max_profit: Annotated[
        bool, typer.Option(help="Threshold for --target-class with the lowest expected cost.")
    ] = False,
    target_share: Annotated[
        float | None,
        typer.Option(
            help="Share of --target-class among the items met in use (e.g. 0.05), when it differs from the test "
            "data's: precision and contacts are also given at that mix."
        ),
    ] = None,
    thresholds_on: Annotated[
        Path | None,
        typer.Option(
            help="Predictions CSV of other items (a validation set) to choose the thresholds on; without it a "
            "--predictions file's thresholds are chosen and reported on the same items (optimistic)."
        ),
    ] = None,
    shift_data: Annotated[
        list[str] | None, typer.Option(help="Other data with the same class names to score --model on (repeatable).")
    ] = None,
    corruptions: Annotated[bool, typer.Option(help="Accuracy of --model under common corruptions.")] = True,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples for the 95% intervals.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap (and of random corruptions).")] = 0,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("runs/evaluate"),
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Metrics in the business's terms with intervals; costs, thresholds, comparison and robustness."""
    from liftlab.evaluate.command import run_evaluation
    from liftlab.evaluate.cost import load_cost
    from liftlab.evaluate.run import BusinessQuestion, Settings
    from liftlab.evaluate.thresholds import Rule

    rules = [Rule("min_precision", min_precision)] if min_precision is not None else []
    rules += [Rule("min_recall", min_recall)] if min_recall is not None else []
    rules += [Rule("max_profit")] if max_profit else []
    question = BusinessQuestion(load_cost(cost) if cost else None, target_class, goal, tuple(rules), target_share)
    record = run_evaluation(
        out,
        predictions=predictions,
        compare=compare,
        model=model,
        data=data,
        question=question,
        settings=Settings(resamples, seed),
        shifted=tuple(shift_data or ()),
        corruptions=corruptions,
        quiet=quiet,
        thresholds_on=thresholds_on,
    )
    if "comparison" in record:
        comparison = record["comparison"]
        for label in ("a", "b"):
            console.print(f"[bold]{label.upper()}[/bold] {escape(comparison[label])}", highlight=False)
            _print_evaluation(record["models"][label])
        delta = comparison["differences"]["accuracy"]["b_minus_a"]
        console.print(
            f"accuracy B - A: {delta['value']:+.4f} (95% CI {delta['ci95'][0]:+.4f} to {delta['ci95'][1]:+.4f}); "
            f"McNemar p = {comparison['mcnemar']['p_value']:.3g}"
        )
        if "expected_cost" in comparison["differences"]:
            cost_delta = comparison["differences"]["expected_cost"]["b_minus_a"]
            console.print(f"expected cost per prediction B - A: {cost_delta['value']:+.4g}")
    else:
        _print_evaluation(record)
        warning = record.get("model", {}).get("resolution_warning")
        if warning:
            errors.print(f"[yellow]warning:[/yellow] {escape(warning)}", soft_wrap=True)
        corruption = record.get("robustness", {}).get("corruptions")
        if corruption:
            console.print(
                f"accuracy clean {corruption['clean']:.4f}, mean under corruptions {corruption['mean_corrupted']:.4f}"
            )
    console.print(f"report: {out / 'report.html'}; record: {out / 'evaluation.json'}")


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
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Diagnose, try the prescribed remedies under a time budget, and export the best model with proof."""
    import sys

    from liftlab.config import Recipe, apply_overrides, load_recipe
    from liftlab.evaluate.cost import load_cost
    from liftlab.evaluate.run import BusinessQuestion
    from liftlab.experiments.budget import parse_budget
    from liftlab.experiments.improve import ImproveSettings, Step
    from liftlab.experiments.improve import improve as run_improve

    base = apply_overrides(load_recipe(recipe) if recipe else Recipe(), list(set_ or []))
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
    )

    def show(step: Step) -> None:
        runs = f" [{step.trained} trained, {step.reused} reused]" if step.trained or step.reused else ""
        console.print(f"[bold]{step.phase}[/bold] ({step.seconds:.0f} s){runs}: {escape(step.detail)}", soft_wrap=True)

    result = run_improve(data, base, out, settings, show)
    from liftlab.report.improve import verdict

    if result["resumed"]:
        console.print(f"[bold]resumed[/bold]: {escape(result['resumed']['note'])}", soft_wrap=True)

    for sentence in verdict(result):
        console.print(escape(sentence), soft_wrap=True, highlight=False)
    console.print(f"used {result['used_s']:.0f} s of {result['budget_s']:.0f} s; report: {out / 'report.html'}")


@app.command()
@reports_errors
def predict(
    run_dir: Annotated[Path, typer.Argument(help="A run folder written by train (or improve's best/).")],
    images: Annotated[list[Path], typer.Argument(help="Image files or folders (searched recursively).")],
    csv: Annotated[Path | None, typer.Option("--csv", help="Write id,y_true,y_pred,p_<class> rows here.")] = None,
) -> None:
    """Class and probabilities per image, with the run's own preprocessing."""
    from liftlab.evaluate.predict import predict_images, resolution_warning
    from liftlab.evaluate.predictions import write_predictions

    predictions, unreadable = predict_images(run_dir, images)
    for bad in unreadable:
        errors.print(f"[yellow]skipped[/yellow] {escape(bad.path)}: {escape(bad.reason)}", soft_wrap=True)
    # the files actually predicted (predict_images has listed the folders once already)
    warning = resolution_warning(run_dir, [Path(item) for item in predictions.ids or []])
    if warning:
        errors.print(f"[yellow]warning:[/yellow] {escape(warning)}", soft_wrap=True)
    if csv is not None:
        write_predictions(csv, predictions)
        labelled = int((predictions.y_true >= 0).sum())
        console.print(f"wrote {len(predictions)} prediction(s) to {csv} ({labelled} with a known class)")
        return
    assert predictions.proba is not None  # predict_images always gives probabilities
    for i, item in enumerate(predictions.ids or []):
        cls = predictions.classes[predictions.y_pred[i]]
        typer.echo(f"{item}\t{cls}\t{predictions.proba[i].max():.4f}")  # plain tab-separated lines for scripts


augment_app = typer.Typer(help="See augmentations before trusting them.", no_args_is_help=True)
app.add_typer(augment_app, name="augment")


@augment_app.command("preview")
@reports_errors
def augment_preview(
    data: DataArg,
    strategies: Annotated[str, typer.Option(help="Strategies to preview, e.g. rotate,crop.")],
    out: Annotated[Path, typer.Option(help="PNG file to write.")] = Path("augment-preview.png"),
    images: Annotated[int, typer.Option(min=1, max=64, help="Training images to show (columns).")] = 8,
    rows: Annotated[int, typer.Option(min=1, max=16, help="Augmented versions of each (rows).")] = 3,
    recipe: Annotated[Path | None, typer.Option(help="Recipe YAML to start from.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the random augmentations.")] = 0,
) -> None:
    """Write a grid: the first row original training images, the rows below augmented versions."""
    from liftlab.augment.preview import preview_grid
    from liftlab.config import Recipe, load_recipe
    from liftlab.strategies import apply_strategies

    resolved = apply_strategies(load_recipe(recipe) if recipe else Recipe(), strategies)
    preview_grid(data, resolved, out, images=images, rows=rows, seed=seed)
    console.print(f"wrote {out}: row 1 original, rows 2-{rows + 1} with {', '.join(resolved.strategies)}")


StorageOption = Annotated[
    str | None,
    typer.Option(envvar="LIFTLAB_STORAGE", help="Optuna storage URL, e.g. postgresql://user:pw@host/db."),
]


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
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Tune hyperparameters with Optuna (TPE, pruning by epochs); workers anywhere can join the study."""
    from liftlab.config import Recipe, apply_overrides, load_recipe
    from liftlab.experiments.tune import TuneSettings, run_tune
    from liftlab.strategies import split_list

    base = apply_overrides(load_recipe(recipe) if recipe else Recipe(), list(set_ or []))
    settings = TuneSettings(
        trials, timeout, study, storage, tuple(split_list(space)), repeats, pruner=pruner, sampler=sampler, quiet=quiet
    )
    summary = run_tune(data, base, settings, out, on_message=lambda text: console.print(escape(text)))
    best = summary["best"]["repeated"]
    counts = ", ".join(f"{n} {state.lower()}" for state, n in summary["counts"].items())
    console.print(f"{len(summary['trials'])} trials ({counts}); epochs trained {summary['epochs_trained']} of "
                  f"{summary['epochs_unpruned']} unpruned")  # fmt: skip
    if best:
        console.print(
            f"best: {escape(', '.join(best['strategies']))}: val acc {best['mean']:.4f} "
            f"({best['ci95'][0]:.4f}-{best['ci95'][1]:.4f}, {len(best['scores'])} seeds)"
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
