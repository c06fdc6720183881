"""The improve report in a real browser (headless Chromium): no console errors, every image loaded, the
verdict visible, and no markup from the data. Saves a screenshot."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from liftlab.cli import app
from tests.conftest import save_image

runner = CliRunner()
MARKUP_CLASS = '<img src=x onerror="alert(1)">cat'
COLOURS = {"red": (220, 30, 30), "green": (30, 200, 30), MARKUP_CLASS: (30, 30, 220)}
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def improved(tmp_path_factory: pytest.TempPathFactory, tracking_server: str) -> Path:
    """A short improve run on a folder whose third class name is an HTML payload, exported and mirrored into a
    private MLflow server."""
    root = tmp_path_factory.mktemp("data")
    for name, colour in COLOURS.items():
        for i in range(30):
            save_image(root / "train" / name / f"{i:03d}.png", colour, seed=i)
        for i in range(8):
            save_image(root / "test" / name / f"{i:03d}.png", colour, seed=300 + i)
    out = root.parent / "improve"
    settings = ["--set", "data.size=12", "--set", "model.width=8", "--set", "epochs=3", "--set", "optim.batch_size=16"]
    command = ["improve", str(root), "--budget", "60s", "--out", str(out), "--quiet", "--export", "torchscript",
               "--track", tracking_server]  # fmt: skip
    result = runner.invoke(app, [*command, *settings])
    assert result.exit_code == 0, result.output
    return out


def test_improve_writes_the_contract_files(improved: Path) -> None:
    result = json.loads((improved / "improve.json").read_text())
    assert {"baseline", "best", "lift", "steps", "budget_s", "used_s"} <= set(result)
    classes = json.loads((improved / "best" / "classes.json").read_text())
    assert MARKUP_CLASS in classes
    # --export: best/ as one file, checked against best/ before it was written, and said in the steps
    described = json.loads((improved / "best.pt.json").read_text())
    assert (improved / "best.pt").is_file() and described["classes"] == classes
    assert described["parity"]["max_abs_difference"] <= described["parity"]["tolerance"] == 1e-4
    assert any(step["phase"] == "export" and "best.pt" in step["detail"] for step in result["steps"])


def test_the_improve_run_appears_in_mlflow_with_its_runs_nested_params_epochs_and_files(
    improved: Path, tracking_server: str
) -> None:
    from mlflow_server import parent_run

    result = json.loads((improved / "improve.json").read_text())
    client, experiment_id, parent = parent_run(tracking_server, "improve", improved)
    assert parent.data.tags["liftlab.verdict"] == " ".join(result["verdict"])
    assert parent.data.metrics["used_s"] == pytest.approx(result["used_s"], abs=30)
    assert parent.data.metrics["best_test_acc"] == pytest.approx(result["best"]["test_acc"])
    artifacts = {item.path for item in client.list_artifacts(parent.info.run_id)}
    assert {"report.html", "improve.json", "best.pt", "best.pt.json"} <= artifacts
    children = client.search_runs([experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert len(children) == result["runs_trained"], "every run this invocation trained, once"
    for child in children:
        assert {"epochs", "data.size", "optim.lr", "seed"} <= set(child.data.params)
        assert len(child.data.tags["liftlab.data_fingerprint"]) == 16 and child.data.tags["liftlab.seed"]
        history = client.get_metric_history(child.info.run_id, "train_loss")
        assert [point.step for point in history] == list(range(1, len(history) + 1)), "one point per epoch"
        assert len(history) >= 1


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (make test installs it)")
def test_the_report_renders_cleanly_in_chromium(improved: Path) -> None:
    from playwright.sync_api import sync_playwright

    report = improved / "report.html"
    html = report.read_text()
    assert MARKUP_CLASS not in html and "&lt;img src=x onerror=" in html
    screenshot = Path(os.environ.get("LIFTLAB_SCREENSHOTS", improved)) / "improve-report.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        messages: list[str] = []
        requests: list[str] = []
        page.on("console", lambda message: messages.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: messages.append(f"pageerror: {error}"))
        page.on("request", lambda request: requests.append(request.url))
        page.goto(report.as_uri())
        images = page.evaluate("Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
        verdict_visible = page.is_visible("#verdict")
        verdict_text = page.inner_text("#verdict")
        page.screenshot(path=str(screenshot))
        browser.close()
    assert not messages, messages
    assert not [url for url in requests if not url.startswith(("file:", "data:"))], requests  # works offline
    assert len(images) >= 4 and all(images)
    shown = json.loads((improved / "improve.json").read_text())["verdict"]
    assert verdict_visible and all(sentence[:60] in verdict_text for sentence in shown), "improve.json's words"
    assert screenshot.stat().st_size > 10_000
