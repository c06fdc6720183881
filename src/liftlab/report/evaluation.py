"""The evaluation report: confusion matrix, precision-recall curves, reliability diagram, corruption curves,
the business view and model comparison, drawn from evaluation.json (no torch here)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import numpy as np

from liftlab.io import write_text
from liftlab.report.html import ENV, _pct
from liftlab.report.plots import plt, save_figure


def confusion_plot(record: dict[str, Any], path: Path) -> Path:
    """Row-normalised confusion matrix heatmap, with counts in the cells when there are few classes."""
    classes = record["classes"]
    normalised = np.array(record["confusion_matrix"]["normalised"])
    counts = np.array(record["confusion_matrix"]["counts"])
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


def precision_recall_plot(record: dict[str, Any], path: Path) -> Path:
    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=110)
    for name, curve in record["precision_recall"].items():
        axes.plot(curve["recall"], curve["precision"], label=f"{str(name)[:20]} (AP {curve['average_precision']:.2f})")
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    if len(record["precision_recall"]) <= 12:
        axes.legend(fontsize=7, loc="lower left")
    return save_figure(figure, path)


def reliability_plot(record: dict[str, Any], path: Path) -> Path:
    """Accuracy against confidence per bin; a calibrated model sits on the diagonal."""
    bins = record["reliability"]
    figure, axes = plt.subplots(figsize=(5.5, 4.5), dpi=110)
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfectly calibrated")
    centres = [(b["low"] + b["high"]) / 2 for b in bins]
    axes.bar(centres, [b["accuracy"] for b in bins], width=0.09, alpha=0.7, label="accuracy in bin")
    axes.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], marker="o", color="C1")
    axes.set_xlabel("confidence")
    axes.set_ylabel("accuracy")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.legend(fontsize=8, loc="upper left")
    return save_figure(figure, path)


def corruption_plot(corruptions: dict[str, Any], path: Path) -> Path:
    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=110)
    severities = corruptions["severities"]
    for name, values in corruptions["accuracy"].items():
        axes.plot([0, *severities], [corruptions["clean"], *values], marker="o", label=name)
    axes.set_xlabel("severity (0 = clean)")
    axes.set_ylabel("accuracy")
    axes.legend(fontsize=8)
    return save_figure(figure, path)


def evaluation_plots(record: dict[str, Any], folder: Path) -> list[tuple[str, Path]]:
    """Write the plots this record supports into `folder`; returns (title, path) pairs."""
    plots = [("Confusion matrix (rows: true class)", confusion_plot(record, folder / "confusion_matrix.png"))]
    if record.get("precision_recall"):
        plots.append(("Precision-recall curves", precision_recall_plot(record, folder / "precision_recall.png")))
    if record.get("reliability"):
        plots.append(("Reliability diagram", reliability_plot(record, folder / "reliability.png")))
    corruptions = record.get("robustness", {}).get("corruptions")
    if corruptions:
        plots.append(("Accuracy under corruptions", corruption_plot(corruptions, folder / "corruptions.png")))
    return plots


def _estimate(record: dict[str, Any] | None, percent: bool = True) -> str:
    if not record:
        return ""
    form = _pct if percent else (lambda v: f"{v:.4g}")
    low, high = record["ci95"]
    return f"{form(record['value'])} ({form(low)} to {form(high)})"


TEMPLATE = ENV.from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>liftlab evaluation</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 62em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { padding: 0.3em 0.8em; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
img { max-width: 100%; }
</style></head><body>
<h1>Evaluation</h1>
{% if c %}
<h2>Model B against model A ({{ c.n_items }} items)</h2>
<p>A: {{ c.a }}<br>B: {{ c.b }}</p>
<p>McNemar's test: B alone right on {{ c.mcnemar.b_only_right }} items, A alone on {{ c.mcnemar.a_only_right }};
p = {{ "%.3g"|format(c.mcnemar.p_value) }}.</p>
<table><tr><th>metric</th><th>A</th><th>B</th><th>B - A (95% paired interval)</th></tr>
{% for name, d in c.differences.items() %}<tr><td>{{ name }}</td><td>{{ est(d.a, False) }}</td>
<td>{{ est(d.b, False) }}</td><td>{{ est(d.b_minus_a, False) }}</td></tr>{% endfor %}
</table>
{% if c.contacts %}<p>Contacts needed for {{ c.contacts.a.goal|int }} successes: A {{ c.contacts.a.value }}
({{ c.contacts.a.ci95[0] }} to {{ c.contacts.a.ci95[1] }}), B {{ c.contacts.b.value }}
({{ c.contacts.b.ci95[0] }} to {{ c.contacts.b.ci95[1] }}).</p>{% endif %}
{% endif %}
{% for label, r in models %}
<h2>{{ label }}: {{ r.source }}</h2>
<p>{{ r.n_items }} items, {{ r.classes|length }} classes; 95% intervals from {{ r.resamples }} bootstrap resamples
(seed {{ r.seed }}).</p>
<table><tr><th>metric</th><th>value (95% interval)</th></tr>
{% for name, m in r.metrics.items() %}<tr><td>{{ name }}</td>
<td>{{ est(m, name not in ("log_loss",)) }}</td></tr>{% endfor %}
</table>
<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>
{% for name, m in r.per_class.items() %}<tr><td>{{ name }}</td><td>{{ est(m.precision) }}</td>
<td>{{ est(m.recall) }}</td><td>{{ est(m.f1) }}</td><td>{{ m.support }}</td></tr>{% endfor %}
</table>
{% if r.business %}<h3>Business view{% if r.business.target %}: acting on {{ r.business.target }}{% endif %}</h3>
<table><tr><th>decision</th><th>threshold</th><th>accuracy</th><th>precision</th><th>recall</th>
<th>expected {{ r.business.cost_kind or "cost" }} per prediction</th><th>contacts</th></tr>
{% for d in r.business.decisions %}<tr><td>{{ d.name }}</td>
<td>{% if d.threshold is not none %}{{ "%.3f"|format(d.threshold) }}
{%- elif d.reachable is false %}not reachable{% endif %}
{%- if d.chosen_on %} <small>(chosen on {{ d.chosen_on }})</small>{% endif %}</td>
<td>{{ est(d.accuracy) }}</td><td>{{ est(d.precision) }}</td><td>{{ est(d.recall) }}</td>
<td>{{ est(d.expected_gain or d.expected_cost, False) }}</td>
<td>{% if d.contacts %}{{ d.contacts.value }} ({{ d.contacts.ci95[0] }} to {{ d.contacts.ci95[1] }}){% endif %}</td>
</tr>{% endfor %}</table>{% endif %}
{% if r.robustness and r.robustness.shifted %}<h3>Other data</h3>
<table><tr><th>data</th><th>items</th><th>accuracy</th><th>missing classes</th><th>extra classes</th></tr>
{% for s in r.robustness.shifted %}<tr><td>{{ s.data }}</td><td>{{ s.n_items }}</td><td>{{ est(s.accuracy) }}</td>
<td>{{ s.missing_classes|join(", ") }}</td><td>{{ s.extra_classes|join(", ") }}</td></tr>{% endfor %}</table>
{% endif %}
{% for title, data in r.images %}<h3>{{ title }}</h3><img alt="{{ title }}" src="data:image/png;base64,{{ data }}">
{% endfor %}
{% endfor %}
</body></html>
"""
)


def evaluation_report(
    models: list[tuple[str, dict[str, Any]]], folder: Path, comparison: dict[str, Any] | None = None
) -> Path:
    """Write the plots of each evaluated model and one self-contained report.html into `folder`."""
    rendered = []
    for index, (label, record) in enumerate(models):
        target = folder / f"model-{index + 1}" if len(models) > 1 else folder
        target.mkdir(parents=True, exist_ok=True)
        images = [(title, base64.b64encode(p.read_bytes()).decode()) for title, p in evaluation_plots(record, target)]
        rendered.append((label, record | {"images": images}))
    path = folder / "report.html"
    write_text(path, TEMPLATE.render(models=rendered, c=comparison, est=_estimate))
    return path
