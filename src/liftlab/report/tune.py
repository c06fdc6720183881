"""The tuning report from `tune.json` (no torch, no Optuna here): optimisation history, parameter
importances, one slice plot per tuned setting, the repeated top configurations and every trial."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from liftlab.io import write_text
from liftlab.report.html import ENV, _pct
from liftlab.report.plots import save_figure

TEMPLATE = ENV.from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>liftlab tune: {{ s.data }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 62em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { padding: 0.25em 0.7em; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
img { max-width: 100%; }
</style></head><body>
<h1>Tuning on {{ s.data }}</h1>
<p>Study <b>{{ s.study }}</b> in {{ s.storage }}: {{ s.trials|length }} trials
({% for state, n in s.counts.items() %}{{ n }} {{ state|lower }}{% if not loop.last %}, {% endif %}{% endfor %}),
pruner {{ s.pruner }}; {{ s.epochs_trained }} epochs trained where the same trials unpruned would train
{{ s.epochs_unpruned }}.</p>
{% if s.best.repeated %}<h2>Best configuration</h2>
<p>{{ s.best.strategies|join(", ") }}: validation accuracy {{ pct(s.best.repeated.mean) }}
(95% interval {{ pct(s.best.repeated.ci95[0]) }} to {{ pct(s.best.repeated.ci95[1]) }} over
{{ s.best.repeated.scores|length }} seeds the search did not use; validation split). The recipe is in
best_recipe.yaml. The search's own score is shown apart: it chose the configuration, so it carries that luck.</p>
<table><tr><th>trial</th><th>strategies</th><th>search score (chose it)</th><th>mean of fresh seeds</th>
<th>95% interval</th><th>seeds</th></tr>
{% for r in s.repeated %}<tr><td>{{ r.trial }}</td><td>{{ r.strategies|join(", ") }}</td>
<td>{{ pct(r.search_score) if r.search_score is not none else "" }}</td><td>{{ pct(r.mean) }}</td>
<td>{{ pct(r.ci95[0]) }} to {{ pct(r.ci95[1]) }}</td><td>{{ r.scores|length }}</td></tr>{% endfor %}
</table>{% endif %}
{% for title, data in images %}<h2>{{ title }}</h2><img alt="{{ title }}" src="data:image/png;base64,{{ data }}">
{% endfor %}
<h2>Trials</h2>
<table><tr><th>#</th><th>state</th><th>validation accuracy</th><th>epochs</th><th>strategies</th></tr>
{% for t in s.trials %}<tr><td>{{ t.number }}</td><td>{{ t.state|lower }}</td><td>{{ pct(t.value) }}</td>
<td>{{ t.epochs_trained }}</td><td>{{ t.strategies|join(", ") }}</td></tr>{% endfor %}
</table>
</body></html>
"""
)


def history_plot(trials: list[dict[str, Any]], path: Path) -> Path:
    """Each finished trial's value, and the best so far."""
    done = [t for t in trials if t["value"] is not None and t["state"] == "COMPLETE"]
    figure, axes = plt.subplots(figsize=(7, 3.8), dpi=110)
    if done:
        numbers = [t["number"] for t in done]
        values = [t["value"] for t in done]
        axes.scatter(numbers, values, s=18, label="trial")
        axes.step(numbers, np.maximum.accumulate(values), where="post", color="#c62828", label="best so far")
        axes.legend(fontsize=8)
    pruned = [t for t in trials if t["state"] == "PRUNED" and t["intermediate"]]
    if pruned:
        last = [list(t["intermediate"].values())[-1] for t in pruned]
        axes.scatter([t["number"] for t in pruned], last, s=12, marker="x", color="#888", label="pruned (last value)")
        axes.legend(fontsize=8)
    axes.set_xlabel("trial")
    axes.set_ylabel("validation accuracy")
    axes.grid(alpha=0.3)
    return save_figure(figure, path)


def importance_plot(importances: dict[str, float], path: Path) -> Path:
    figure, axes = plt.subplots(figsize=(7, 0.45 * len(importances) + 1.4), dpi=110)
    names = list(importances)
    axes.barh(np.arange(len(names)), [importances[n] for n in names], color="#4c72b0")
    axes.set_yticks(np.arange(len(names)), names)
    axes.invert_yaxis()
    axes.set_xlabel("importance (fANOVA, share of the variance of validation accuracy)")
    axes.grid(axis="x", alpha=0.3)
    return save_figure(figure, path)


def slice_plot(trials: list[dict[str, Any]], space: dict[str, dict[str, Any]], path: Path) -> Path:
    """Validation accuracy against each tuned setting's value, one panel per setting."""
    names = list(space)
    figure, panels = plt.subplots(
        1, max(len(names), 1), figsize=(3.2 * max(len(names), 1), 3.2), dpi=110, squeeze=False
    )
    done = [t for t in trials if t["state"] == "COMPLETE" and t["value"] is not None]
    for axes, name in zip(panels[0], names, strict=False):
        points = [(t["params"][name], t["value"]) for t in done if name in t["params"]]
        if space[name]["type"] == "categorical":
            choices = list(space[name]["choices"])
            xs = [choices.index(p) for p, _ in points]
            axes.set_xticks(range(len(choices)), choices, rotation=45, fontsize=7)
        else:
            xs = [p for p, _ in points]
            if space[name].get("log"):
                axes.set_xscale("log")
        axes.scatter(xs, [v for _, v in points], s=14, c=range(len(points)), cmap="viridis")
        axes.set_title(name, fontsize=9)
        axes.grid(alpha=0.3)
    panels[0][0].set_ylabel("validation accuracy")
    return save_figure(figure, path)


def write_tune_report(summary: dict[str, Any], out: Path) -> Path:
    """history.png, importances.png (when there are any), slices.png and report.html in `out`."""
    plots = {"Optimisation history": history_plot(summary["trials"], out / "history.png")}
    if summary["importances"]:
        plots["Parameter importances"] = importance_plot(summary["importances"], out / "importances.png")
    plots["Validation accuracy by setting"] = slice_plot(summary["trials"], summary["space"], out / "slices.png")
    images = [(title, base64.b64encode(path.read_bytes()).decode()) for title, path in plots.items()]
    path = out / "report.html"
    write_text(path, TEMPLATE.render(s=summary, images=images, pct=_pct))
    return path
