"""`liftlab predict`: classes and probabilities with the run's own preprocessing; its CSV feeds evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from liftlab.cli import app
from liftlab.evaluate.predictions_csv import read_predictions
from tests.conftest import COLOURS, save_image

runner = CliRunner()


@pytest.fixture(scope="module")
def run_and_images(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("predict")
    for name, colour in COLOURS.items():
        for i in range(20):
            save_image(root / "data" / name / f"{i:03d}.png", colour, seed=i)
            if i < 5:  # new images of each class, in a labelled folder, at another size
                save_image(root / "new" / name / f"{i}.png", colour, size=(20, 15), seed=700 + i)
    (root / "new" / "red" / "broken.png").write_bytes(b"not a png")
    run = root / "run"
    settings = ["--set", "data.size=12", "--set", "model.width=8", "--set", "optim.batch_size=16"]
    result = runner.invoke(app, ["train", str(root / "data"), "--epochs", "6", "--out", str(run), "--quiet", *settings])
    assert result.exit_code == 0, result.output
    return run, root / "new"


def test_predict_writes_a_csv_that_evaluate_reads(run_and_images: tuple[Path, Path], tmp_path: Path) -> None:
    run, images = run_and_images
    csv_path = tmp_path / "predictions.csv"
    result = runner.invoke(app, ["predict", str(run), str(images), "--csv", str(csv_path)])
    assert result.exit_code == 0, result.output
    assert "broken.png" in result.output and "not an image" in result.output
    predictions = read_predictions(csv_path)
    assert len(predictions) == 15 and predictions.classes == json.loads((run / "classes.json").read_text())
    assert predictions.proba is not None and abs(predictions.proba.sum(axis=1) - 1).max() < 1e-3
    assert (predictions.y_pred == predictions.y_true).mean() >= 0.9
    evaluated = runner.invoke(app, ["evaluate", "--predictions", str(csv_path), "--out", str(tmp_path / "eval")])
    assert evaluated.exit_code == 0, evaluated.output


def test_predict_prints_one_line_per_image_and_names_missing_inputs(run_and_images: tuple[Path, Path]) -> None:
    run, images = run_and_images
    result = runner.invoke(app, ["predict", str(run), str(images / "green" / "0.png")])
    assert result.exit_code == 0, result.output
    assert result.output.strip().split("\t")[1] == "green"
    missing = runner.invoke(app, ["predict", str(run), str(images / "nothing-here")])
    assert missing.exit_code == 2 and "no such image or folder" in missing.output
