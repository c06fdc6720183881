"""The diagnosis report: curves, LR range test, gradient norms per layer, learning curve, findings."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from liftlab.records import Diagnosis, Epoch
from liftlab.records.diagnosis import LearningCurveRecord
from liftlab.report.html import inline_images, render_page
from liftlab.report.plots import plt, save_figure


def curves_plot(history: Sequence[Epoch], path: Path) -> None:
    figure, (loss, acc) = plt.subplots(1, 2, figsize=(9, 3.6), dpi=110)
    epochs = [e.epoch for e in history]
    nan = float("nan")  # an epoch that was not validated leaves a gap
    loss.plot(epochs, [e.train_loss for e in history], label="training")
    loss.plot(epochs, [nan if e.val_loss is None else e.val_loss for e in history], label="validation")
    acc.plot(epochs, [nan if e.train_acc is None else e.train_acc for e in history], label="training")
    acc.plot(epochs, [nan if e.val_acc is None else e.val_acc for e in history], label="validation")
    for axes, title in ((loss, "loss"), (acc, "accuracy")):
        axes.set_xlabel("epoch")
        axes.set_title(title)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    save_figure(figure, path)


def _lr(test: dict[str, Any], path: Path) -> None:
    figure, axes = plt.subplots(figsize=(7, 3.6), dpi=110)
    axes.plot(test["curve"]["lrs"], test["curve"]["losses"], color="black", label="smoothed loss")
    axes.set_xscale("log")
    for (name, value), colour in zip(test["rules"].items(), ("#4c72b0", "#55a868", "#c44e52"), strict=False):
        axes.axvline(value, color=colour, linestyle=":", label=f"{name} {value:.2g}")
    axes.axvline(test["recipe_lr"], color="grey", label=f"recipe {test['recipe_lr']:.3g}")
    axes.axvline(test["confirmed_lr"], color="orange", linestyle="--", label=f"confirmed {test['confirmed_lr']:.3g}")
    axes.set_xlabel("learning rate")
    axes.set_ylabel("training loss")
    axes.legend(fontsize=7)
    axes.grid(alpha=0.3)
    save_figure(figure, path)


def _gradients(history: Sequence[Epoch], path: Path) -> None:
    norms = [e.grad_norms for e in history if e.grad_norms]
    figure, axes = plt.subplots(figsize=(7, 3.6), dpi=110)
    if norms:
        layers = np.arange(1, len(norms[0]) + 1)
        axes.plot(layers, np.maximum(norms[0], 1e-30), marker="o", label="first epoch")
        axes.plot(layers, np.maximum(norms[-1], 1e-30), marker="s", label="last epoch")
        axes.set_yscale("log")
        axes.legend(fontsize=8)
    axes.set_xlabel("layer (input to output)")
    axes.set_ylabel("mean gradient norm")
    axes.grid(alpha=0.3)
    save_figure(figure, path)


def learning_curve_plot(curve: LearningCurveRecord, path: Path, target: float | None = None) -> None:
    """The measured points, the fitted power law and the target line (the curve's own target, else `target`)."""
    figure, axes = plt.subplots(figsize=(7, 3.6), dpi=110)
    for size, accuracies in zip(curve.sizes, curve.val_acc, strict=True):
        axes.scatter([size] * len(accuracies), accuracies, color="#4c72b0", s=18)
    if curve.fit:
        a, b, c = curve.fit
        n = np.geomspace(min(curve.sizes), max(curve.sizes) * 8, 100)
        axes.plot(n, 1 - (a + b * n ** (-c)), color="#4c72b0", label="fit: error = a + b n^-c")
    target = curve.images_for_target.target if curve.images_for_target else target
    if target is not None:
        axes.axhline(target, color="#c44e52", linestyle="--", label=f"target {target:.0%}")
    axes.set_xscale("log")
    axes.set_xlabel("training images")
    axes.set_ylabel("validation accuracy")
    axes.set_title(f"learning curve ({curve.scope or 'baseline recipe, validation split'})", fontsize=9)
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    save_figure(figure, path)


def diagnosis_report(result: Diagnosis, folder: Path) -> Path:
    """Write curves.png, lr_range_test.png, gradients.png, learning_curve.png and report.html."""
    plots = {"Training curves": folder / "curves.png", "Gradient norms per layer": folder / "gradients.png"}
    curves_plot(result.baseline_history, plots["Training curves"])
    _gradients(result.baseline_history, plots["Gradient norms per layer"])
    if result.lr_range_test:
        plots["Learning-rate range test"] = folder / "lr_range_test.png"
        _lr(result.lr_range_test, plots["Learning-rate range test"])
    if result.learning_curve:
        plots["Learning curve"] = folder / "learning_curve.png"
        learning_curve_plot(result.learning_curve, plots["Learning curve"])
    review_page = "review/review.html" if (folder / "review" / "review.html").is_file() else None
    return render_page("diagnosis.html", folder / "report.html", d=result, images=inline_images(plots.items()),
                       review_page=review_page)  # fmt: skip
