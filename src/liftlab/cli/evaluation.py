"""`liftlab evaluate` and `predict`: metrics that fit the business, and predictions for new images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from liftlab.cli.common import app, console, errors, print_leak_free, reports_errors
from liftlab.records.evaluation import ComparedEvaluation, Evaluation


def _print_evaluation(record: Evaluation) -> None:
    """Headline metrics with intervals, and the business decisions when asked."""
    metrics = record.summary.metrics
    shown = [m for m in ("accuracy", "balanced_accuracy", "macro_f1", "top_5_accuracy", "log_loss") if m in metrics]
    for name in shown:
        estimate = metrics[name]
        console.print(f"{name:18} {estimate.value:.4f}  (95% CI {estimate.low:.4f} to {estimate.high:.4f})")
    print_leak_free(record.leak_free, "accuracy")
    unfamiliar = record.unfamiliar
    if unfamiliar is not None and unfamiliar.available:
        console.print(
            f"unfamiliar images: {unfamiliar.flagged} of {unfamiliar.images} {unfamiliar.split} image(s) "
            f"farther from the training images than the threshold set on validation "
            f"({unfamiliar.validation_flagged or 0.0:.1%} of validation images flagged)",
            highlight=False,
        )
    elif unfamiliar is not None:
        errors.print(f"[yellow]no unfamiliar-image check:[/yellow] {escape(unfamiliar.reason or '')}", soft_wrap=True)
    for decision in record.business.decisions if record.business else ():
        if decision.reachable is False:
            console.print(f"[yellow]{decision.name}[/yellow]: no threshold satisfies it")
            continue
        parts = [f"{decision.name}:"]
        if decision.threshold is not None:
            parts.append(f"threshold {decision.threshold:.3f} (chosen on {decision.chosen_on or 'these items'})")
        in_use = f"precision at a {decision.target_share:g} share" if decision.target_share is not None else ""
        shares = (("precision", decision.precision), ("recall", decision.recall), (in_use, decision.precision_in_use))
        parts += [f"{label} {estimate.value:.3f}" for label, estimate in shares if estimate is not None]
        money = ("gain", decision.expected_gain) if decision.expected_gain else ("cost", decision.expected_cost)
        if money[1] is not None:
            parts.append(f"{money[0]} per prediction {money[1].value:.4g}")
        if decision.contacts is not None:
            contacts = decision.contacts
            low, high = contacts.ci95
            parts.append(f"contacts for {contacts.goal:g}: {contacts.value} ({low}-{high})")
        console.print(escape("  ".join(parts)), highlight=False, soft_wrap=True)


FAMILIARITY_HELP = "Flag images far from the training images (the accuracy measured does not apply to them)."


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
    familiarity: Annotated[bool, typer.Option(help="With --model: " + FAMILIARITY_HELP)] = True,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Metrics in the business's terms with intervals; costs, thresholds, comparison and robustness."""
    from liftlab.evaluate.command import run_evaluation
    from liftlab.evaluate.cost import load_cost
    from liftlab.evaluate.evaluation import BusinessQuestion, Settings
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
        familiarity=familiarity,
        quiet=quiet,
        thresholds_on=thresholds_on,
    )
    if isinstance(record, ComparedEvaluation):
        comparison = record.comparison
        for label, source in (("a", comparison.a), ("b", comparison.b)):
            console.print(f"[bold]{label.upper()}[/bold] {escape(source)}", highlight=False)
            _print_evaluation(record.models[label])
        delta = comparison.differences["accuracy"].b_minus_a
        console.print(
            f"accuracy B - A: {delta.value:+.4f} (95% CI {delta.low:+.4f} to {delta.high:+.4f}); "
            f"McNemar p = {comparison.mcnemar.p_value:.3g}"
        )
        if "expected_cost" in comparison.differences:
            cost_delta = comparison.differences["expected_cost"].b_minus_a
            console.print(f"expected cost per prediction B - A: {cost_delta.value:+.4g}")
    else:
        _print_evaluation(record)
        warning = record.model.resolution_warning if record.model else None
        if warning:
            errors.print(f"[yellow]warning:[/yellow] {escape(warning)}", soft_wrap=True)
        corruption = record.corruptions
        if corruption:
            console.print(
                f"accuracy clean {corruption.clean:.4f}, mean under corruptions {corruption.mean_corrupted or 0.0:.4f}"
            )
    console.print(f"report: {out / 'report.html'}; record: {out / 'evaluation.json'}")


@app.command()
@reports_errors
def predict(
    run_dir: Annotated[
        Path, typer.Argument(help="A run folder written by train (or improve's best/), or a file `export` wrote.")
    ],
    images: Annotated[list[Path], typer.Argument(help="Image files or folders (searched recursively).")],
    csv: Annotated[Path | None, typer.Option("--csv", help="Write id,y_true,y_pred,p_<class> rows here.")] = None,
    familiarity: Annotated[bool, typer.Option(help=FAMILIARITY_HELP)] = True,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Class and probabilities per image, with the run's own preprocessing; images unlike the training images
    are flagged (outlier score above the threshold that flags at most 1% of validation images)."""
    from liftlab.errors import BadInputError
    from liftlab.evaluate.predict import predict_images, resolution_warning, source_folder
    from liftlab.evaluate.predictions_csv import write_predictions
    from liftlab.train.familiarity import familiarity_of
    from liftlab.train.saved import ensemble_members

    folder = source_folder(run_dir)
    known = None
    if familiarity:
        try:
            if folder is None:
                raise BadInputError(f"{run_dir} was exported from a run folder that is not here")
            known = familiarity_of(folder, quiet)
        except BadInputError as error:
            errors.print(f"[yellow]no unfamiliar-image check:[/yellow] {escape(str(error))}", soft_wrap=True)
    predictions, unreadable = predict_images(run_dir, images, known, quiet)
    members = ensemble_members(run_dir) if run_dir.is_dir() else None
    if members:
        errors.print(f"an ensemble of {len(members)} networks: their probabilities averaged", soft_wrap=True)
    for bad in unreadable:
        errors.print(f"[yellow]skipped[/yellow] {escape(bad.path)}: {escape(bad.reason)}", soft_wrap=True)
    # the files actually predicted (predict_images has listed the folders once already)
    warning = resolution_warning(folder, [Path(item) for item in predictions.ids or []]) if folder else None
    if warning:
        errors.print(f"[yellow]warning:[/yellow] {escape(warning)}", soft_wrap=True)
    if predictions.unfamiliar is not None and predictions.unfamiliar.any():
        errors.print(
            f"[yellow]unfamiliar:[/yellow] {int(predictions.unfamiliar.sum())} of {len(predictions)} image(s) are "
            "farther from the training images than 99% of the validation images: the accuracy measured for this "
            "model does not apply to them",
            soft_wrap=True,
        )
    if csv is not None:
        write_predictions(csv, predictions)
        labelled = int((predictions.y_true >= 0).sum())
        console.print(f"wrote {len(predictions)} prediction(s) to {csv} ({labelled} with a known class)")
        return
    assert predictions.proba is not None  # predict_images always gives probabilities
    for i, item in enumerate(predictions.ids or []):
        cls = predictions.classes[predictions.y_pred[i]]
        flag = "" if predictions.unfamiliar is None else ("\tunfamiliar" if predictions.unfamiliar[i] else "\tfamiliar")
        typer.echo(f"{item}\t{cls}\t{predictions.proba[i].max():.4f}{flag}")  # plain tab-separated lines for scripts


@app.command()
@reports_errors
def export(
    run_dir: Annotated[
        Path, typer.Argument(help="A run folder written by train, or improve's best/ (an ensemble too).")
    ],
    format_: Annotated[str, typer.Option("--format", help="onnx (ONNX Runtime) or torchscript.")] = "onnx",
    out: Annotated[Path | None, typer.Option(help="The file to write (default: RUN_DIR.onnx or RUN_DIR.pt).")] = None,
    check_images: Annotated[int, typer.Option(min=1, help="Validation images the export is checked on.")] = 32,
    check_on: Annotated[
        Path | None, typer.Option(help="Check on the images in this folder instead of the run's validation split.")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Write the run as one file that runs without liftlab (preprocessing, test-time views and an ensemble's
    average inside), checked against liftlab's own probabilities before it is written."""
    from liftlab.train.export import FORMATS, export_run

    suffix = FORMATS.get(format_, "")
    target = out if out is not None else run_dir.with_name(run_dir.name + suffix)
    record = export_run(run_dir, format_, target, check_images, check_on, quiet)
    parity = record.parity
    console.print(
        f"wrote {escape(str(target))} ({record.kind}, {len(record.classes)} classes): takes uint8 "
        f"{record.input.layout} batches of {record.input.channels}x{record.input.size}x{record.input.size} "
        f"({record.input.color}, resize {record.input.resize}); on {parity.images} validation images its "
        f"probabilities differ from liftlab's by at most {parity.max_abs_difference:.1e} (allowed "
        f"{parity.tolerance:.0e}). Its description: {escape(str(target))}.json",
        highlight=False,
    )
