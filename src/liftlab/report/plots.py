"""Plots a person wants to look at, drawn from records (no torch here): curves per arm over epochs
with a band over seeds, and test accuracy per arm with its interval."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import matplotlib.pyplot as plt
import numpy as np

from liftlab.records import TRAIN_ACC, TRAIN_LOSS, VAL_ACC, AblationArm, AblationResult, EpochCurve


def save_figure(figure: Any, path: Path) -> Path:
    """Lay out, write and free a figure (pyplot keeps every open figure alive otherwise)."""
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


CURVES = {"loss": TRAIN_LOSS, TRAIN_ACC.name: TRAIN_ACC, VAL_ACC.name: VAL_ACC}
"""The ablation report's curve plots, by file stem."""


def curve_plot(arms: Sequence[AblationArm], curve: EpochCurve, path: Path) -> Path:
    """One line per arm (mean over seeds) with a band from the lowest to the highest seed."""
    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=110)
    for arm in arms:
        histories = [run.history for run in arm.runs if run.history]
        if not histories:
            continue
        length = min(len(h) for h in histories)
        values = np.array([[curve.of(epoch) for epoch in h[:length]] for h in histories], dtype=float)
        epochs = np.arange(1, length + 1)
        line = axes.plot(epochs, values.mean(0), label=arm.name, linewidth=1.8)[0]
        if len(values) > 1:
            axes.fill_between(epochs, values.min(0), values.max(0), color=line.get_color(), alpha=0.15)
    axes.set_xlabel("epoch")
    axes.set_ylabel(curve.title)
    axes.set_title(f"{curve.title} (mean over seeds, band: lowest to highest seed)", fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return save_figure(figure, path)


def accuracy_bars(arms: Sequence[AblationArm], path: Path) -> Path:
    """Mean test accuracy per arm with its 95% interval over seeds."""
    shown = [a for a in arms if a.mean_test_acc is not None and a.ci95 is not None]
    figure, axes = plt.subplots(figsize=(7, 0.5 * len(shown) + 1.5), dpi=110)
    means = [a.mean_test_acc or 0.0 for a in shown]
    lows = [mean - a.ci95[0] for mean, a in zip(means, shown, strict=True) if a.ci95]
    highs = [a.ci95[1] - mean for mean, a in zip(means, shown, strict=True) if a.ci95]
    positions = np.arange(len(shown))
    axes.barh(positions, means, xerr=[lows, highs], capsize=4, color="#4c72b0", alpha=0.8)
    axes.set_yticks(positions, [a.name for a in shown], fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel("test accuracy (mean, 95% interval over seeds)")
    axes.grid(axis="x", alpha=0.3)
    return save_figure(figure, path)


def ablation_plots(summary: AblationResult, folder: Path) -> dict[str, Path]:
    """Write loss.png, train_acc.png, val_acc.png and test_acc.png into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: curve_plot(summary.arms, curve, folder / f"{name}.png") for name, curve in CURVES.items()}
    paths["test_acc"] = accuracy_bars(summary.arms, folder / "test_acc.png")
    return paths
