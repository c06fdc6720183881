"""The tuning report from `tune.json` (no torch, no Optuna here): optimisation history, parameter
importances, one slice plot per tuned setting, the repeated top configurations and every trial."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from liftlab.records.tune import SearchSpace, TrialSummary, TuneResult
from liftlab.report.html import inline_images, pct, render_page
from liftlab.report.plots import save_figure


def history_plot(trials: Sequence[TrialSummary], path: Path) -> Path:
    """Each finished trial's value, and the best so far."""
    done = [t for t in trials if t.value is not None and t.state == "COMPLETE"]
    figure, axes = plt.subplots(figsize=(7, 3.8), dpi=110)
    if done:
        numbers = [t.number for t in done]
        values = [float(t.value or 0.0) for t in done]
        axes.scatter(numbers, values, s=18, label="trial")
        axes.step(numbers, np.maximum.accumulate(values), where="post", color="#c62828", label="best so far")
        axes.legend(fontsize=8)
    pruned = [t for t in trials if t.state == "PRUNED" and t.intermediate]
    if pruned:
        last = [list(t.intermediate.values())[-1] for t in pruned]
        axes.scatter([t.number for t in pruned], last, s=12, marker="x", color="#888", label="pruned (last value)")
        axes.legend(fontsize=8)
    axes.set_xlabel("trial")
    axes.set_ylabel("validation accuracy")
    axes.grid(alpha=0.3)
    return save_figure(figure, path)


def importance_plot(importances: Mapping[str, float], path: Path) -> Path:
    figure, axes = plt.subplots(figsize=(7, 0.45 * len(importances) + 1.4), dpi=110)
    names = list(importances)
    axes.barh(np.arange(len(names)), [importances[n] for n in names], color="#4c72b0")
    axes.set_yticks(np.arange(len(names)), names)
    axes.invert_yaxis()
    axes.set_xlabel("importance (fANOVA, share of the variance of validation accuracy)")
    axes.grid(axis="x", alpha=0.3)
    return save_figure(figure, path)


def slice_plot(trials: Sequence[TrialSummary], space: Mapping[str, SearchSpace], path: Path) -> Path:
    """Validation accuracy against each tuned setting's value, one panel per setting."""
    names = list(space)
    figure, panels = plt.subplots(
        1, max(len(names), 1), figsize=(3.2 * max(len(names), 1), 3.2), dpi=110, squeeze=False
    )
    done = [t for t in trials if t.state == "COMPLETE" and t.value is not None]
    for axes, name in zip(panels[0], names, strict=False):
        points = [(t.params[name], t.value) for t in done if name in t.params]
        xs: list[float | int | str]
        if space[name].kind == "categorical":
            choices = list(space[name].choices)
            xs = [choices.index(p) for p, _ in points]
            axes.set_xticks(range(len(choices)), choices, rotation=45, fontsize=7)
        else:
            xs = [p for p, _ in points]
            if space[name].log:
                axes.set_xscale("log")
        axes.scatter(xs, [v for _, v in points], s=14, c=range(len(points)), cmap="viridis")
        axes.set_title(name, fontsize=9)
        axes.grid(alpha=0.3)
    panels[0][0].set_ylabel("validation accuracy")
    return save_figure(figure, path)


def write_tune_report(summary: TuneResult, out: Path) -> Path:
    """history.png, importances.png (when there are any), slices.png and report.html in `out`."""
    plots = {"Optimisation history": history_plot(summary.trials, out / "history.png")}
    if summary.importances:
        plots["Parameter importances"] = importance_plot(summary.importances, out / "importances.png")
    plots["Validation accuracy by setting"] = slice_plot(summary.trials, summary.space, out / "slices.png")
    return render_page("tune.html", out / "report.html", s=summary, images=inline_images(plots.items()), pct=pct)
