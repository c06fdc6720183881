"""The diagnosis report: curves, LR range test, gradient norms per layer, learning curve, findings."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import numpy as np

from liftlab.io import write_text
from liftlab.report.html import ENV
from liftlab.report.plots import plt, save_figure


def curves_plot(history: list[dict[str, Any]], path: Path) -> None:
    figure, (loss, acc) = plt.subplots(1, 2, figsize=(9, 3.6), dpi=110)
    epochs = [r["epoch"] for r in history]
    loss.plot(epochs, [r["train_loss"] for r in history], label="training")
    loss.plot(epochs, [r["val_loss"] for r in history], label="validation")
    acc.plot(epochs, [r["train_acc"] for r in history], label="training")
    acc.plot(epochs, [r["val_acc"] for r in history], label="validation")
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
    axes.axvline(test["recipe_lr"], color="grey", label=f"recipe {test['recipe_lr']:.2g}")
    axes.axvline(test["confirmed_lr"], color="orange", linestyle="--", label=f"confirmed {test['confirmed_lr']:.2g}")
    axes.set_xlabel("learning rate")
    axes.set_ylabel("training loss")
    axes.legend(fontsize=7)
    axes.grid(alpha=0.3)
    save_figure(figure, path)


def _gradients(history: list[dict[str, Any]], path: Path) -> None:
    norms = [r["grad_norms"] for r in history if r.get("grad_norms")]
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


def learning_curve_plot(curve: dict[str, Any], path: Path) -> None:
    figure, axes = plt.subplots(figsize=(7, 3.6), dpi=110)
    for size, accuracies in zip(curve["sizes"], curve["val_acc"], strict=True):
        axes.scatter([size] * len(accuracies), accuracies, color="#4c72b0", s=18)
    if curve["fit"]:
        a, b, c = curve["fit"]["a"], curve["fit"]["b"], curve["fit"]["c"]
        n = np.geomspace(min(curve["sizes"]), max(curve["sizes"]) * 8, 100)
        axes.plot(n, 1 - (a + b * n ** (-c)), color="#4c72b0", label="fit: error = a + b n^-c")
    target = curve.get("images_for_target")
    if target:
        axes.axhline(target["target"], color="#c44e52", linestyle="--", label=f"target {target['target']:.0%}")
    axes.set_xscale("log")
    axes.set_xlabel("training images")
    axes.set_ylabel("validation accuracy")
    axes.set_title(f"learning curve ({curve.get('scope') or 'baseline recipe, validation split'})", fontsize=9)
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    save_figure(figure, path)


TEMPLATE = ENV.from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>liftlab diagnosis: {{ d.data }}</title>
<style>body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 62em; color: #222; }
.severe { color: #c62828; } .warning { color: #b26a00; } .info { color: #555; }
img { max-width: 100%; } li { margin: 0.3em 0; }</style></head><body>
<h1>Diagnosis of {{ d.data }}</h1>
<h2>Findings</h2><ul>
{% for f in d.findings %}<li class="{{ f.severity }}"><b>{{ f.code }}</b> ({{ f.severity }}): {{ f.message }}</li>
{% endfor %}</ul>
<h2>What to try, best first</h2><ol>
{% for r in d.recommendations %}<li><code>{{ r.strategy }}</code>: {{ r.expected_effect }}
(because {{ r.finding }})</li>
{% else %}<li>nothing: the baseline looks healthy</li>{% endfor %}</ol>
{% if d.skipped_for_time %}<p>Skipped to fit the time budget: {{ d.skipped_for_time|join(", ") }}.</p>{% endif %}
{% for title, data in images %}<h2>{{ title }}</h2><img alt="{{ title }}" src="data:image/png;base64,{{ data }}">
{% endfor %}
</body></html>
"""
)


def diagnosis_report(result: dict[str, Any], folder: Path) -> Path:
    """Write curves.png, lr_range_test.png, gradients.png, learning_curve.png and report.html."""
    plots = {"Training curves": folder / "curves.png", "Gradient norms per layer": folder / "gradients.png"}
    curves_plot(result["baseline"]["history"], plots["Training curves"])
    _gradients(result["baseline"]["history"], plots["Gradient norms per layer"])
    if result.get("lr_range_test"):
        plots["Learning-rate range test"] = folder / "lr_range_test.png"
        _lr(result["lr_range_test"], plots["Learning-rate range test"])
    if result.get("learning_curve"):
        plots["Learning curve"] = folder / "learning_curve.png"
        learning_curve_plot(result["learning_curve"], plots["Learning curve"])
    images = [(title, base64.b64encode(path.read_bytes()).decode()) for title, path in plots.items()]
    path = folder / "report.html"
    write_text(path, TEMPLATE.render(d=result, images=images))
    return path
