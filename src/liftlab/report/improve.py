"""The improve report: one self-contained HTML page (plots inlined) built from improve.json and the best
model's evaluation record only. Every value from data (class names, file names, recipe values) goes
through Jinja2's autoescape."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from liftlab.io import write_text
from liftlab.report.diagnosis import learning_curve_plot
from liftlab.report.evaluation import confusion_plot, corruption_plot
from liftlab.report.html import ENV
from liftlab.report.plots import plt, save_figure


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def _points(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:+.2f} points"


def verdict(result: dict[str, Any]) -> list[str]:
    """The two sentences at the top: baseline -> best with the lift and its interval; what helped and hurt."""
    lift = result["lift"]
    low, high = lift["ci95"]
    best = result["best"]
    if lift["value"] is None:
        first = f"No lift verdict: {lift.get('no_verdict', 'the final runs did not finish')}."
    elif best["name"] == "baseline":
        first = (
            f"No remedy beat the baseline on validation accuracy, so the best model is the baseline at "
            f"{_pct(best['test_acc'])} test accuracy."
        )
    else:
        if low > 0:
            change, meaning = "rose", "a lift of"
        elif high < 0:
            change, meaning = "fell", "the validation winner did worse on the test split:"
        else:
            change, meaning = "went", "no reliable lift (the interval includes zero):"
        added = ", ".join(best["strategies"][len(result["baseline"]["strategies"]) :])
        seeds = len(best.get("runs") or [])
        described = f"mean of {seeds} final seeds" if seeds > 1 else "one final seed"
        first = (
            f"The recipe's test accuracy ({described}) {change} from {_pct(result['baseline']['test_acc'])} "
            "(baseline) to "
            f"{_pct(best['test_acc'])} with {added}: {meaning} {_points(lift['value'])} "
            f"(95% interval {_points(low)} to {_points(high)}; {lift.get('scope') or 'test split'})."
        )
        if lift.get("compute_ratio"):
            first += f" The best recipe trained for {lift['compute_ratio']:.1f}x the baseline's time."
    helped, hurt = result["effects"]["helped"], result["effects"]["hurt"]
    scope = result["effects"].get("scope")
    second = (
        f"Helped in the search{f' ({scope})' if scope else ''}: {', '.join(helped) or 'none'}; "
        f"hurt: {', '.join(hurt) or 'none'}."
    )
    exported = best.get("exported")
    headline = []
    if exported:
        low_e, high_e = exported.get("ci95") or (None, None)
        headline.append(
            f"The exported model (best/, the winner trained with seed {exported['seed']}) scores "
            f"{_pct(exported['test_acc'])} on the test split (95% interval {_pct(low_e)} to {_pct(high_e)}, "
            "test images); the per-class table, confusion matrix, business view and curves below describe it."
        )
    if result.get("target") is not None:
        reached = "reached" if result["target_reached"] else "not reached"
        second += f" Target {_pct(result['target'])} (by the exported model): {reached}."
    return [*headline, first, second]


def training_curves(result: dict[str, Any], path: Path) -> Path:
    """Loss, training accuracy and validation accuracy per epoch of the final baseline and best runs."""
    figure, axes = plt.subplots(1, 3, figsize=(12, 3.6), dpi=110)
    panels = (("train_loss", "training loss"), ("train_acc", "training accuracy"), ("val_acc", "validation accuracy"))
    for label, colour in (("baseline", "#888888"), ("best", "#1a7f37")):
        history = result[label]["runs"][0]["history"] or []
        epochs = [r["epoch"] for r in history]
        for ax, (key, title) in zip(axes, panels, strict=True):
            ax.plot(epochs, [r[key] for r in history], color=colour, label=label)
            ax.set_title(title)
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
    axes[0].plot([], [], color="#888888", linestyle="--", label="baseline validation loss")
    for label, colour in (("baseline", "#888888"), ("best", "#1a7f37")):
        history = result[label]["runs"][0]["history"] or []
        axes[0].plot([r["epoch"] for r in history], [r["val_loss"] for r in history], color=colour, linestyle="--")
    axes[0].legend(fontsize=7)
    return save_figure(figure, path)


def search_plot(result: dict[str, Any], path: Path) -> Path:
    """Validation accuracy of every arm at every rung of the successive halving."""
    figure, axes = plt.subplots(figsize=(7, 3.8), dpi=110)
    rungs = result["search"]["rungs"]
    for name in result["search"]["arms"]:
        points = [(r["fraction"], r["val_acc"][name]) for r in rungs if r["val_acc"].get(name) is not None]
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


TEMPLATE = ENV.from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>liftlab improve: {{ r.data }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 64em; color: #222; line-height: 1.4; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { padding: 0.3em 0.7em; border-bottom: 1px solid #ddd; text-align: right; vertical-align: top; }
th:first-child, td:first-child { text-align: left; }
#verdict { font-size: 1.15em; background: #f3f7f3; border-left: 4px solid #1a7f37; padding: 0.8em 1em; }
.severe { color: #c62828; } .warning { color: #b26a00; } .info { color: #555; }
img { max-width: 100%; } pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; }
</style></head><body>
<h1>liftlab improve: {{ r.data }}</h1>
<div id="verdict">{% for sentence in verdict %}<p>{{ sentence }}</p>{% endfor %}</div>
<p>Budget {{ "%.0f"|format(r.budget_s) }} s, used {{ "%.0f"|format(r.used_s) }} s;
{{ r.runs_trained }} run(s) trained; {{ r.runs_reused }} found already done in the run store (shared with
another step, or finished by an earlier, interrupted invocation).
{% if r.resumed %}This invocation {{ r.resumed.note }}{% endif %}
The recipe comparison (the lift and the final table) is the mean over {{ r.best.runs|length }} seed(s);
intervals resample
{% if r.best.runs|length > 1 %}the seed pairs, then the test images{% else %}the test images (one seed: the
seed-to-seed variation is not in them){% endif %}; McNemar's test counts each test image once.
The test split chose nothing: the search compared validation accuracy only.</p>

<h2>Data check</h2>
<table><tr><th>class</th>{% for split in splits %}<th>{{ split }}</th>{% endfor %}</tr>
{% for cls in classes %}<tr><td>{{ cls }}</td>{% for split in splits %}
<td>{{ r.data_check.counts[split].get(cls, 0) }}</td>{% endfor %}</tr>{% endfor %}</table>
<p>Imbalance (largest / smallest class): {{ "%.2f"|format(r.data_check.imbalance_ratio or 0) }};
unreadable files: {{ r.data_check.n_unreadable }}{% if r.data_check.empty_classes %};
empty classes: {{ r.data_check.empty_classes|join(", ") }}{% endif %}.</p>

{% if r.profile %}<h2>Baseline chosen from the data</h2>
<p>No recipe was given, so the data profile chose the baseline (a <code>--set</code> wins over it):</p>
<ul>{% for reason in r.profile.reasons %}<li>{{ reason }}</li>{% endfor %}</ul>{% endif %}

<h2>Findings</h2><ul>
{% for f in r.diagnosis.findings %}<li class="{{ f.severity }}"><b>{{ f.code }}</b> ({{ f.severity }}): {{ f.message }}
<details><summary>evidence</summary><pre>{{ evidence(f.evidence) }}</pre></details></li>{% endfor %}</ul>
{% if r.diagnosis.skipped_for_time %}<p>Skipped to fit the budget: {{ r.diagnosis.skipped_for_time|join(", ") }}.</p>
{% endif %}

<h2>Experiments</h2>
<p>Successive halving on validation accuracy: every arm at a short budget, the better half at twice that, and
so on; the baseline at every rung for comparison.{% if "stack" in r.search.arms %} <code>stack</code> combines
every arm that did not clearly hurt in the first rung.{% endif %} Greedy rounds (full budget) add one remedy at
a time to the winner.</p>
<table><tr><th>arm</th><th>strategies</th>{% for rung in r.search.rungs %}
<th>{{ "greedy" if rung.kind == "greedy" else "val acc at %.3g"|format(rung.fraction) }}</th>{% endfor %}</tr>
{% for name, strategies in r.search.arms.items() %}<tr><td>{{ name }}</td><td>{{ strategies|join(", ") }}</td>
{% for rung in r.search.rungs %}<td>{% if rung.val_acc.get(name) is not none %}{{ pct(rung.val_acc[name]) }}
{%- elif name in rung.failed %}failed{% endif %}</td>{% endfor %}</tr>{% endfor %}</table>
<table><tr><th>final (full budget)</th><th>test accuracy</th><th>95% interval</th><th>seeds scored</th></tr>
<tr><td>baseline</td><td>{{ pct(r.baseline.test_acc) }}</td>
<td>{{ pct(r.baseline.ci95[0]) }} to {{ pct(r.baseline.ci95[1]) }}</td>
<td>{{ r.lift.seeds_scored|default(r.baseline.runs|length) }}</td></tr>
<tr><td>best ({{ r.best.name }})</td><td>{{ pct(r.best.test_acc) }}</td>
<td>{{ pct(r.best.ci95[0]) }} to {{ pct(r.best.ci95[1]) }}</td>
<td>{{ r.lift.seeds_scored|default(r.best.runs|length) }}</td></tr>
<tr><td>lift</td><td>{{ points(r.lift.value) }}</td>
<td>{{ points(r.lift.ci95[0]) }} to {{ points(r.lift.ci95[1]) }}</td>
<td>{% if r.lift.mcnemar_p is not none %}McNemar p = {{ "%.3g"|format(r.lift.mcnemar_p) }}
{%- else %}no verdict{% endif %}</td></tr></table>
{% if r.lift.seeds_cut %}<p>{{ r.lift.seeds_cut }} seed pair(s) left out: the deadline cut a run of the pair before
the end of its schedule, and a cut run is not scored as its recipe.</p>{% endif %}

{% if r.target is not none %}<h2>Target</h2>
<p>Target {{ pct(r.target) }}: {{ "reached" if r.target_reached else "not reached" }}.
{% if r.images_for_target and r.images_for_target.images %}The learning curve predicts about
{{ "{:,}".format(r.images_for_target.images|int) }} training images for it.{% elif r.images_for_target %}
The learning curve does not reach it within its range.{% endif %}</p>{% endif %}

{% for title, data in images %}<h2>{{ title }}</h2><img alt="{{ title }}" src="data:image/png;base64,{{ data }}">
{% endfor %}

<h2>Per-class metrics of the best model (test split)</h2>
<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>
{% for name, m in e.per_class.items() %}<tr><td>{{ name }}</td><td>{{ pct(m.precision.value) }}</td>
<td>{{ pct(m.recall.value) }}</td><td>{{ pct(m.f1.value) }}</td><td>{{ m.support }}</td></tr>{% endfor %}</table>

{% if e.business %}<h2>Business view</h2>
<table><tr><th>decision</th><th>threshold</th><th>precision</th><th>recall</th>
<th>expected {{ e.business.cost_kind or "cost" }} per prediction</th><th>contacts</th></tr>
{% for d in e.business.decisions %}<tr><td>{{ d.name }}</td>
<td>{{ "%.3f"|format(d.threshold) if d.threshold is not none else "" }}</td>
<td>{{ pct(d.precision.value) if d.precision else "" }}</td><td>{{ pct(d.recall.value) if d.recall else "" }}</td>
<td>{% set money = d.expected_gain or d.expected_cost %}{{ "%.4g"|format(money.value) if money else "" }}</td>
<td>{{ d.contacts.value if d.contacts else "" }}</td></tr>{% endfor %}</table>{% endif %}

<h2>Recipe: baseline to best</h2>
<table><tr><th>field</th><th>baseline</th><th>best</th></tr>
{% for d in r.recipe_diff %}<tr><td>{{ d.field }}</td><td>{{ d.baseline }}</td><td>{{ d.best }}</td></tr>
{% else %}<tr><td colspan="3">no change</td></tr>{% endfor %}</table>
<p>The best model is in <code>{{ r.best.folder }}</code> (a <code>liftlab train</code> run folder).</p>

<h2>Steps</h2>
<table><tr><th>phase</th><th>what</th><th>seconds</th><th>trained</th><th>reused</th></tr>
{% for s in r.steps %}<tr><td>{{ s.phase }}</td><td>{{ s.detail }}</td><td>{{ "%.1f"|format(s.seconds) }}</td>
<td>{{ s.trained }}</td><td>{{ s.reused }}</td></tr>{% endfor %}</table>

<h2>Reproduce</h2>
<pre>{{ r.reproduce.command }}</pre>
<p>liftlab {{ r.reproduce.liftlab_version }}, torch {{ r.reproduce.torch_version }}, Python
{{ r.reproduce.python }}; final seeds {{ r.reproduce.seeds|join(", ") }}. Baseline recipe:</p>
<pre>{{ r.reproduce.baseline_recipe }}</pre>
</body></html>
"""
)


def improve_report(result: dict[str, Any], evaluation: dict[str, Any], out: Path) -> Path:
    """Write the plots and report.html (self-contained: every image inlined) into `out`."""
    plots = [
        (
            "Training curves: baseline and best (first final seed; the exported model)",
            training_curves(result, out / "curves.png"),
        ),
        ("Search: validation accuracy per arm and rung", search_plot(result, out / "search.png")),
    ]
    curve = (result.get("diagnosis") or {}).get("learning_curve")
    if curve:
        path = out / "learning_curve.png"
        learning_curve_plot(curve | {"images_for_target": curve.get("images_for_target") or _target_line(result)}, path)
        plots.append(("Learning curve (baseline recipe)", path))
    plots.append(
        ("Confusion matrix of the best model (rows: true class)", confusion_plot(evaluation, out / "confusion.png"))
    )
    corruptions = evaluation.get("robustness", {}).get("corruptions")
    if corruptions:
        plots.append(("Best model under corruptions", corruption_plot(corruptions, out / "corruptions.png")))
    images = [(title, base64.b64encode(path.read_bytes()).decode()) for title, path in plots]
    classes = evaluation["classes"]
    html = TEMPLATE.render(
        r=result,
        e=evaluation,
        verdict=verdict(result),
        images=images,
        classes=classes,
        splits=[s for s in ("train", "val", "test") if s in result["data_check"]["counts"]],
        pct=_pct,
        points=_points,
        evidence=lambda value: json.dumps(value, indent=1, default=str)[:3000],
    )
    path = out / "report.html"
    write_text(path, html)
    return path


def _target_line(result: dict[str, Any]) -> dict[str, Any] | None:
    return None if result.get("target") is None else {"target": result["target"]}
