"""The improve report: one self-contained HTML page (plots inlined) built from improve.json and the best
model's evaluation record only. Every value from data (class names, file names, recipe values) goes
through Jinja2's autoescape."""

from __future__ import annotations

from pathlib import Path

from liftlab.records import TRAIN_ACC, TRAIN_LOSS, VAL_ACC, ImproveResult
from liftlab.records.diagnosis import LearningCurveRecord
from liftlab.records.evaluation import Evaluation
from liftlab.report.diagnosis import learning_curve_plot
from liftlab.report.evaluation import confusion_plot, corruption_plot
from liftlab.report.html import inline_images, render_page
from liftlab.report.plots import plt, save_figure
from liftlab.report.verdict import evidence_rows, interval, pct, points


def training_curves(result: ImproveResult, path: Path) -> Path:
    """Loss, training accuracy and validation accuracy per epoch of the final baseline and best runs."""
    figure, axes = plt.subplots(1, 3, figsize=(12, 3.6), dpi=110)
    panels = (TRAIN_LOSS, TRAIN_ACC, VAL_ACC)
    nan = float("nan")  # an epoch that was not validated leaves a gap
    shown = (("baseline", result.baseline, "#888888"), ("best", result.best, "#1a7f37"))
    for label, recipe, colour in shown:
        history = recipe.runs[0].history if recipe.runs else ()
        epochs = [e.epoch for e in history]
        for ax, curve in zip(axes, panels, strict=True):
            values = [curve.of(e) for e in history]
            ax.plot(epochs, [nan if v is None else v for v in values], color=colour, label=label)
            ax.set_title(curve.title)
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
    axes[0].plot([], [], color="#888888", linestyle="--", label="baseline validation loss")
    for _, recipe, colour in shown:
        history = recipe.runs[0].history if recipe.runs else ()
        losses = [nan if e.val_loss is None else e.val_loss for e in history]
        axes[0].plot([e.epoch for e in history], losses, color=colour, linestyle="--")
    axes[0].legend(fontsize=7)
    return save_figure(figure, path)


def search_plot(result: ImproveResult, path: Path) -> Path:
    """Validation accuracy of every arm at every rung of the successive halving."""
    figure, axes = plt.subplots(figsize=(7, 3.8), dpi=110)
    rungs = result.search.rungs
    for name in result.search.arms:
        points = [(rung.fraction, rung.score(name)) for rung in rungs if rung.val_acc.get(name) is not None]
        if points:
            fractions, accuracies = zip(*points, strict=True)
            if name == "baseline":
                axes.plot(fractions, accuracies, marker="o", label=name, color="black", linestyle="--")
            else:
                axes.plot(fractions, accuracies, marker="o", label=name[:30])
    axes.set_xscale("log", base=2)
    axes.set_xlabel("share of each arm's epochs")
    axes.set_ylabel("validation accuracy")
    axes.legend(fontsize=7)
    axes.grid(alpha=0.3)
    return save_figure(figure, path)


def improve_report(result: ImproveResult, evaluation: Evaluation, out: Path) -> Path:
    """Write the plots and report.html (self-contained: every image inlined) into `out`."""
    plots = [
        (
            "Training curves: baseline and best (first final seed; the exported model)",
            training_curves(result, out / "curves.png"),
        ),
        ("Search: validation accuracy per arm and rung", search_plot(result, out / "search.png")),
    ]
    curve = result.diagnosis.get("learning_curve")
    if curve:
        path = out / "learning_curve.png"
        learning_curve_plot(LearningCurveRecord.from_json(curve, "improve.json: diagnosis.learning_curve"), path,
                            result.target)  # fmt: skip
        plots.append(("Learning curve (baseline recipe)", path))
    confusion = confusion_plot(evaluation.summary, out / "confusion.png")
    plots.append(("Confusion matrix of the best model (rows: true class)", confusion))
    corruptions = evaluation.corruptions
    if corruptions:
        plots.append(("Best model under corruptions", corruption_plot(corruptions, out / "corruptions.png")))
    return render_page(
        "improve.html",
        out / "report.html",
        r=result,
        e=evaluation,
        verdict=result.verdict,
        images=inline_images(plots),
        classes=evaluation.summary.classes,
        splits=[s for s in ("train", "val", "test") if s in result.data_check["counts"]],
        pct=pct,
        points=points,
        interval=interval,
        never_run=result.search.never_run(),
        evidence=evidence_rows,
    )
