"""Plain, self-contained HTML reports (pictures inlined) rendered with Jinja2 from records."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape

from liftlab.io import write_text

ENV = Environment(autoescape=select_autoescape(default=True, default_for_string=True))

ABLATION_TEMPLATE = ENV.from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>liftlab ablation: {{ s.data }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 62em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { padding: 0.3em 0.8em; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.helps { color: #1a7f37; font-weight: bold; } .hurts { color: #c62828; font-weight: bold; }
img { max-width: 100%; }
</style></head><body>
<h1>Ablation on {{ s.data }}</h1>
<p>{{ s.seeds|length }} seeds ({{ s.seeds|join(", ") }}), the same splits and budget for every arm
({{ s.budget.epochs }} epochs{% if s.budget.time_per_run %}, at most {{ s.budget.time_per_run }} s per run{% endif %}).
Verdicts use the paired difference to the baseline over seeds with Holm's correction across arms
(alpha {{ s.alpha }}); McNemar's test pools the per-image test predictions over seeds.</p>
<table>
<tr><th>arm</th><th>test accuracy</th><th>95% interval</th><th>change vs baseline</th><th>95% interval</th>
<th>p (Holm)</th><th>McNemar p</th><th>verdict</th><th>seeds for 1 point (at least)</th></tr>
{% for a in s.arms %}<tr>
<td>{{ a.name }}</td>
<td>{{ pct(a.mean_test_acc) }}</td>
<td>{% if a.ci95 %}{{ pct(a.ci95[0]) }} to {{ pct(a.ci95[1]) }}{% endif %}</td>
<td>{% if a.delta_vs_baseline %}{{ signed(a.delta_vs_baseline.mean) }}{% endif %}</td>
<td>{% if a.delta_vs_baseline %}{{ signed(a.delta_vs_baseline.ci95[0]) }} to
{{ signed(a.delta_vs_baseline.ci95[1]) }}{% endif %}</td>
<td>{% if a.p_holm is defined %}{{ "%.3g"|format(a.p_holm) }}{% endif %}</td>
<td>{% if a.mcnemar %}{{ "%.3g"|format(a.mcnemar.p_value) }}{% endif %}</td>
<td class="{{ a.verdict.split()[0] }}">{{ a.verdict }}</td>
<td>{{ a.seeds_to_detect_1_point if a.seeds_to_detect_1_point is not none else "" }}</td>
</tr>{% endfor %}
</table>
{% for a in s.arms if a.failed_runs %}<p>{{ a.name }}: {{ a.failed_runs|length }} failed run(s):
{% for f in a.failed_runs %}seed {{ f.seed }} ({{ f.reason }}){% if not loop.last %}, {% endif %}{% endfor %}</p>
{% endfor %}
{% for title, data in images %}<h2>{{ title }}</h2><img alt="{{ title }}" src="data:image/png;base64,{{ data }}">
{% endfor %}
</body></html>
"""
)


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}%"


def _signed(value: float) -> str:
    return f"{100 * value:+.2f} pt"


def ablation_report(summary: dict[str, Any], plots: dict[str, Path], path: Path) -> Path:
    titles = {"test_acc": "Test accuracy per arm", "loss": "Training loss", "train_acc": "Training accuracy",
              "val_acc": "Validation accuracy"}  # fmt: skip
    images = [(titles[name], base64.b64encode(plots[name].read_bytes()).decode()) for name in titles if name in plots]
    write_text(path, ABLATION_TEMPLATE.render(s=summary, images=images, pct=_pct, signed=_signed))
    return path
