"""Point 8: markup in data never becomes live markup in liftlab's HTML reports.

Twelve payloads go in as class names (labels of a predictions CSV, and of a labels CSV), as a study
(experiment) name and as tuned data; each report is parsed and every element and attribute counted.
"""

from __future__ import annotations

import csv
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from liftlab.cli import app

PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(2)>",
    '"><svg onload=alert(3)>',
    "'><iframe src=javascript:alert(4)>",
    "javascript:alert(5)",
    "{{ 7*7 }}",
    "{% for x in range(3) %}loop{% endfor %}",
    '<a href="javascript:alert(6)">x</a>',
    "</td></tr></table><script>alert(7)</script>",
    "<style>body{display:none}</style>",
    "&lt;b&gt;entity&lt;/b&gt;",
    "<!-- c --><b onmouseover=alert(8)>x</b>",
]
runner = CliRunner()


class Census(HTMLParser):
    """Counts what a browser would treat as markup: elements, event handlers, script URLs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.handlers: list[str] = []
        self.script_urls: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name.startswith("on"):
                self.handlers.append(name)
            if value and value.strip().lower().startswith("javascript:"):
                self.script_urls.append(value)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def census(path: Path) -> Census:
    parser = Census()
    parser.feed(path.read_text())
    return parser


def assert_inert(report: Path, expected_in_text: list[str]) -> None:
    found = census(report)
    live = {"script", "iframe", "svg"} & set(found.tags)
    assert not live, f"{report}: live elements {live}"
    assert found.tags.count("style") == 1, "only the report's own style sheet"
    assert found.handlers == [] and found.script_urls == [], report
    text = "".join(found.text)
    shown = [p for p in expected_in_text if p in text]
    assert len(shown) == len(expected_in_text), f"payloads shown as text: {len(shown)} of {len(expected_in_text)}"


def as_file_name(payload: str) -> str:
    """The payload as a file or folder name: '/' cannot be in one, so it becomes the look-alike U+2215."""
    return payload.replace("/", "\u2215")


def _image(path: Path, shade: int, row: int) -> None:
    pixels = np.full((8, 8, 3), shade, dtype=np.uint8)
    pixels[row % 8, :, :] = 255 - shade
    Image.fromarray(pixels).save(path, format="PNG")


def _folder_with_payload_names(root: Path) -> list[str]:
    """An image folder whose own name, class folders and file names are payloads, with one broken image
    named by a payload (so that it is listed); returns the class names."""
    classes = [as_file_name(p) for p in PAYLOADS[:3]]
    for index, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for copy in range(30):
            _image(root / name / f"{as_file_name(PAYLOADS[copy % len(PAYLOADS)])} {copy}.png", 40 + 80 * index, copy)
    (root / classes[0] / f"{as_file_name(PAYLOADS[4])}.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    return classes


def _csv_with_payload_labels(folder: Path, labels: list[str]) -> Path:
    """A labels CSV in `folder` with these (payload) labels, 30 images each, named by payloads."""
    (folder / "images").mkdir(parents=True)
    rows = []
    for index, label in enumerate(labels):
        for copy in range(30):
            name = f"images/{as_file_name(PAYLOADS[(copy + index) % len(PAYLOADS)])} {index}-{copy}.png"
            _image(folder / name, 40 + 80 * index, copy)
            rows.append([name, label])
    labels = folder / "labels.csv"
    with labels.open("w", newline="") as handle:
        csv.writer(handle).writerows([["path", "label"], *rows])
    return labels


def test_class_names_in_the_evaluation_report(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    predictions = tmp_path / "predictions.csv"
    with predictions.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "y_true", "y_pred"])
        for item in range(240):
            truth = PAYLOADS[item % len(PAYLOADS)]
            guess = truth if rng.random() < 0.8 else PAYLOADS[rng.integers(len(PAYLOADS))]
            writer.writerow([f"item-{item}", truth, guess])
    out = tmp_path / "evaluation"
    result = runner.invoke(app, ["evaluate", "--predictions", str(predictions), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert_inert(out / "report.html", PAYLOADS)


def test_study_name_and_labels_in_the_tuning_report(tmp_path: Path) -> None:
    labels = _csv_with_payload_labels(tmp_path / "data", PAYLOADS[:2])  # two classes named by payloads
    out = tmp_path / "tune"
    study = PAYLOADS[1]
    result = runner.invoke(app, ["tune", str(labels), "--trials", "2", "--repeats", "1", "--study", study,
                                 "--space", "dropout", "--out", str(out), "--quiet",
                                 "--set", "data.size=8", "--set", "epochs=1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert_inert(out / "report.html", [study])


TINY = ["--set", "data.size=8", "--set", "model.width=8", "--quiet"]


def test_payload_names_in_the_diagnosis_ablation_and_improve_reports(tmp_path: Path) -> None:
    labels = _csv_with_payload_labels(tmp_path / f"csv {as_file_name(PAYLOADS[9])}", PAYLOADS[6:9])
    diagnosis = tmp_path / "diagnosis"
    result = runner.invoke(
        app, ["diagnose", str(labels), "--quick", "--set", "epochs=2", *TINY, "--out", str(diagnosis)]
    )
    assert result.exit_code == 0, result.output
    assert_inert(diagnosis / "report.html", [str(labels)])

    folder = tmp_path / f"data {as_file_name(PAYLOADS[8])}"
    classes = _folder_with_payload_names(folder)
    ablation = tmp_path / "ablation"
    result = runner.invoke(app, ["ablate", str(folder), "--strategies", "flip", "--seeds", "2", "--epochs", "1",
                                 "--workers", "1", *TINY, "--out", str(ablation)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert_inert(ablation / "report.html", [str(folder)])

    improvement = tmp_path / "improve"
    result = runner.invoke(app, ["improve", str(folder), "--budget", "40s", "--skip-bad", "--workers", "1",
                                 "--set", "epochs=2", *TINY, "--out", str(improvement)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert_inert(improvement / "report.html", [str(folder), *classes])
    assert_inert(improvement / "evaluation" / "report.html", classes)
