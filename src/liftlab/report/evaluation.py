"""The evaluation report: confusion matrix, precision-recall curves, reliability diagram, corruption curves,
the business view and model comparison, drawn from evaluation.json (no torch here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from liftlab.records.evaluation import (
    Comparison,
    CorruptionCurves,
    Estimate,
    Evaluation,
    MetricSummary,
    PrecisionRecallCurve,
    ReliabilityBin,
)
from liftlab.report.html import inline_images, pct, render_page
from liftlab.report.plots import plt, save_figure


def confusion_plot(summary: MetricSummary, path: Path) -> Path:
    """Row-normalised confusion matrix heatmap, with counts in the cells when there are few classes."""
    classes = summary.classes
    normalised = np.array(summary.confusion_normalised)
    counts = np.array(summary.confusion_counts)
    side = min(12.0, 2.5 + 0.45 * len(classes))
    figure, axes = plt.subplots(figsize=(side, side * 0.85), dpi=110)
    image = axes.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=axes, label="share of the true class")
    axes.set_xticks(range(len(classes)), [str(c)[:14] for c in classes], rotation=60, ha="right")
    axes.set_yticks(range(len(classes)), [str(c)[:14] for c in classes])
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    if len(classes) <= 15:
        for i in range(len(classes)):
            for j in range(len(classes)):
                colour = "white" if normalised[i, j] > 0.5 else "black"
                axes.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=8, color=colour)
    return save_figure(figure, path)


def precision_recall_plot(curves: dict[str, PrecisionRecallCurve], path: Path) -> Path:
    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=110)
    for name, curve in curves.items():
        axes.plot(curve.recall, curve.precision, label=f"{str(name)[:20]} (AP {curve.average_precision:.2f})")
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    if len(curves) <= 12:
        axes.legend(fontsize=7, loc="lower left")
    return save_figure(figure, path)


def reliability_plot(bins: tuple[ReliabilityBin, ...], path: Path) -> Path:
    """Accuracy against confidence per bin; a calibrated model sits on the diagonal."""
    figure, axes = plt.subplots(figsize=(5.5, 4.5), dpi=110)
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfectly calibrated")
    centres = [(b.low + b.high) / 2 for b in bins]
    axes.bar(centres, [b.accuracy for b in bins], width=0.09, alpha=0.7, label="accuracy in bin")
    axes.plot([b.confidence for b in bins], [b.accuracy for b in bins], marker="o", color="C1")
    axes.set_xlabel("confidence")
    axes.set_ylabel("accuracy")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.legend(fontsize=8, loc="upper left")
    return save_figure(figure, path)


def corruption_plot(corruptions: CorruptionCurves, path: Path) -> Path:
    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=110)
    for name, values in corruptions.accuracy.items():
        axes.plot([0, *corruptions.severities], [corruptions.clean, *values], marker="o", label=name)
    axes.set_xlabel("severity (0 = clean)")
    axes.set_ylabel("accuracy")
    axes.legend(fontsize=8)
    return save_figure(figure, path)


def evaluation_plots(record: Evaluation, folder: Path) -> list[tuple[str, Path]]:
    """Write the plots this record supports into `folder`; returns (title, path) pairs."""
    plots = [("Confusion matrix (rows: true class)", confusion_plot(record.summary, folder / "confusion_matrix.png"))]
    if record.precision_recall:
        curves = precision_recall_plot(record.precision_recall, folder / "precision_recall.png")
        plots.append(("Precision-recall curves", curves))
    if record.summary.reliability:
        plots.append(("Reliability diagram", reliability_plot(record.summary.reliability, folder / "reliability.png")))
    corruptions = record.corruptions
    if corruptions:
        plots.append(("Accuracy under corruptions", corruption_plot(corruptions, folder / "corruptions.png")))
    return plots


def _estimate(estimate: Estimate | None, percent: bool = True) -> str:
    if not estimate:
        return ""
    form = pct if percent else (lambda v: f"{v:.4g}")
    return f"{form(estimate.value)} ({form(estimate.low)} to {form(estimate.high)})"


def evaluation_report(models: list[tuple[str, Evaluation]], folder: Path, comparison: Comparison | None = None) -> Path:
    """Write the plots of each evaluated model and one self-contained report.html into `folder`."""
    rendered = []
    for index, (label, record) in enumerate(models):
        target = folder / f"model-{index + 1}" if len(models) > 1 else folder
        target.mkdir(parents=True, exist_ok=True)
        rendered.append((label, record, inline_images(evaluation_plots(record, target))))
    return render_page("evaluation.html", folder / "report.html", models=rendered, c=comparison, est=_estimate)
