"""Every report is one page on one base template: a single stylesheet, every picture inlined, user text
escaped. Rendered from JSON files liftlab wrote (tests/records/format1), so no training runs here."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from liftlab.records import AblationResult, Diagnosis
from liftlab.report.diagnosis import diagnosis_report
from liftlab.report.html import ENV, ablation_report
from liftlab.report.plots import plt, save_figure

STORED = Path(__file__).resolve().parents[1] / "records" / "format1"


def _png(path: Path) -> Path:
    figure, axes = plt.subplots(figsize=(2, 2), dpi=40)
    axes.plot([0, 1], [0, 1])
    return save_figure(figure, path)


def _check_page(html: str, figures: int) -> None:
    assert html.count("<style>") == 1, "one stylesheet, from base.html"
    assert html.startswith("<!doctype html>") and html.rstrip().endswith("</html>")
    assert len(re.findall(r'<img alt="[^"]+" src="data:image/png;base64,[A-Za-z0-9+/=]{40,}">', html)) == figures
    assert 'src="' not in re.sub(r'src="data:image/png;base64,[^"]*"', "", html), "no picture left as a file link"


def test_the_diagnosis_report_draws_every_stored_section(tmp_path: Path) -> None:
    stored = json.loads((STORED / "diagnosis.json").read_text())
    result = Diagnosis.from_json(stored | {"data": "<script>alert(1)</script>"})
    html = diagnosis_report(result, tmp_path).read_text()
    _check_page(html, 2 + bool(result.lr_range_test) + bool(result.learning_curve))
    assert "<script>" not in html and "&lt;script&gt;" in html
    for code in result.codes:
        assert code in html


def test_the_ablation_report_names_every_arm_and_inlines_its_plots(tmp_path: Path) -> None:
    summary = AblationResult.from_json(json.loads((STORED / "ablation.json").read_text()))
    plots = {name: _png(tmp_path / f"{name}.png") for name in ("test_acc", "loss", "val_acc")}
    html = ablation_report(summary, plots, tmp_path / "report.html").read_text()
    _check_page(html, 3)
    for arm in summary.arms:
        assert f"<td>{arm.name}</td>" in html


@pytest.mark.parametrize("name", ["ablation", "diagnosis", "evaluation", "improve", "tune"])
def test_every_report_template_extends_the_base(name: str) -> None:
    source, _, _ = ENV.loader.get_source(ENV, f"{name}.html")  # type: ignore[union-attr]
    assert source.startswith('{% extends "base.html" %}')
    assert "<style>" not in source and "base64" not in source, "style and pictures come from the base and macro"


def test_the_templates_ship_with_the_package() -> None:
    # a wheel built from pyproject must carry them: the package-data entry names the folder
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert '"report/templates/*.html"' in pyproject
