"""The results a notebook gets back show themselves (`_repr_html_`): what the CLI prints, as escaped tables."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from liftlab.records import AblationResult, Diagnosis, Finding, ImproveResult

STORED = Path(__file__).resolve().parent / "format1"


def test_a_diagnosis_shows_its_findings_and_remedies_escaped() -> None:
    diagnosis = Diagnosis.from_json(json.loads((STORED / "diagnosis.json").read_text()))
    hostile = replace(diagnosis, findings=(Finding("OVERFITTING", "warning", "class <script>x</script> overfits"),))
    html = hostile._repr_html_()
    assert "OVERFITTING" in html and "&lt;script&gt;" in html and "<script>" not in html
    assert all(r.strategy in html for r in diagnosis.recommendations)


def test_an_ablation_shows_every_arm_with_its_interval_and_verdict() -> None:
    ablation = AblationResult.from_json(json.loads((STORED / "ablation.json").read_text()))
    html = ablation._repr_html_()
    assert html.count("<tr>") == len(ablation.arms) + 1
    assert all(arm.name in html and arm.verdict in html for arm in ablation.arms)


def test_an_improve_result_shows_its_verdict_figures_and_steps() -> None:
    result = ImproveResult.from_json(json.loads((STORED / "improve.json").read_text()))
    result = replace(result, best=replace(result.best, name="flip", test_acc=0.9123, ci95=(0.88, 0.94)))
    html = result.with_verdict(["The recipe's test accuracy rose from 80% to 90% with <flip>."])._repr_html_()
    assert "with &lt;flip&gt;." in html and "<td>flip</td><td>91.23%</td><td>88.00% to 94.00%</td>" in html
    assert all(step.phase in html for step in result.steps)
