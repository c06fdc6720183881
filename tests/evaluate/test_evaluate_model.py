"""`evaluate --model RUN --data DATA`: classes matched by name, corruption curves, other data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from liftlab.cli import app
from liftlab.evaluate.predictions_csv import read_predictions
from liftlab.evaluate.robustness import CORRUPTIONS, SEVERITIES, corrupt
from tests.conftest import COLOURS, colour_splits, save_image

runner = CliRunner()


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small net that tells red, green and blue apart, trained on a folder with a test split."""
    root = colour_splits(tmp_path_factory.mktemp("colours"), train=24, test=8, test_seed=500)
    run = root.parent / f"{root.name}-run"  # beside the data: a folder next to train/ and test/ is an error
    settings = ["--set", "data.size=12", "--set", "model.width=8", "--set", "optim.batch_size=16"]
    result = runner.invoke(app, ["train", str(root), "--epochs", "6", "--out", str(run), "--quiet", *settings])
    assert result.exit_code == 0, result.output
    return run, root


def test_model_evaluation_scores_the_test_split_and_writes_predictions(trained_run: tuple[Path, Path]) -> None:
    run, root = trained_run
    shifted = root.parent / "shifted"
    # No blue (the model's class 0) and an extra class: by index, green would be read as blue.
    for name in ("green", "red", "yellow"):
        for i in range(6):
            save_image(shifted / name / f"{i}.png", COLOURS.get(name, (230, 230, 20)), seed=900 + i)
    out = root.parent / "eval"
    result = runner.invoke(
        app, ["evaluate", "--model", str(run), "--data", str(root), "--shift-data", str(shifted), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    record = json.loads((out / "evaluation.json").read_text())
    assert record["model"]["split"] == "test" and record["n_items"] == 24
    assert record["metrics"]["accuracy"]["value"] >= 0.9
    predictions = read_predictions(out / "predictions.csv")
    assert predictions.classes == json.loads((run / "classes.json").read_text()) and len(predictions) == 24
    other = record["robustness"]["shifted"][0]
    assert other["missing_classes"] == ["blue"] and other["extra_classes"] == ["yellow"]
    assert other["items_of_extra_classes"] == 6 and other["n_items"] == 12
    assert other["accuracy"]["value"] >= 0.9  # matched by name; matching by index would score about 0
    corruptions = record["robustness"]["corruptions"]
    assert set(corruptions["accuracy"]) == set(CORRUPTIONS)
    assert all(len(values) == 5 for values in corruptions["accuracy"].values())
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4 and "Accuracy under corruptions" in html


def test_corruptions_grow_with_severity() -> None:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(40, 216, (16, 3, 32, 32), generator=generator, dtype=torch.uint8)
    images[:, :, ::2] = 200  # stripes: high-frequency content that blur and pixelation remove
    for name in CORRUPTIONS:
        change = [
            (corrupt(images, name, severity).float() - images.float()).abs().mean().item() for severity in SEVERITIES
        ]
        assert change[0] > 0 and change[-1] > change[0], (name, change)
        assert corrupt(images, name, 3).shape == images.shape and corrupt(images, name, 3).dtype == torch.uint8
    bright = corrupt(images, "brightness", 5).float().mean() - images.float().mean()
    assert bright > 20
    flat = corrupt(images, "contrast", 5).float().std() / images.float().std()
    assert flat < 0.3
    torch.testing.assert_close(
        corrupt(images, "gaussian_noise", 2, seed=1), corrupt(images, "gaussian_noise", 2, seed=1)
    )


def test_model_evaluation_names_a_missing_run_file(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    result = runner.invoke(app, ["evaluate", "--model", str(tmp_path / "run"), "--data", "builtin:digits"])
    assert result.exit_code == 2
    assert "missing recipe.yaml, classes.json, preprocess.json, model.safetensors" in " ".join(result.output.split())


def test_predict_and_evaluate_warn_when_images_differ_in_resolution(trained_run: tuple[Path, Path]) -> None:
    run, root = trained_run
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["native_geometry"]["short_side"] == 12  # save_image writes 12x12 files
    large = root.parent / "large"
    for name, colour in COLOURS.items():
        for i in range(10):
            save_image(large / "test" / name / f"{i:03d}.png", colour, size=(64, 32), seed=900 + i)
            save_image(large / "train" / name / f"{i:03d}.png", colour, size=(64, 32), seed=950 + i)
    predicted = runner.invoke(app, ["predict", str(run), str(large / "test")])
    assert predicted.exit_code == 0, predicted.output
    assert "warning:" in predicted.output and "resolution mismatch" in predicted.output
    same = runner.invoke(app, ["predict", str(run), str(root / "test")])
    assert "warning:" not in same.output
    out = root.parent / "eval-large"
    evaluated = runner.invoke(app, ["evaluate", "--model", str(run), "--data", str(large), "--no-corruptions",
                                    "--out", str(out)])  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output
    record = json.loads((out / "evaluation.json").read_text())
    assert "32 px, aspect 2.00" in record["model"]["resolution_warning"]


def test_thresholds_for_a_model_are_chosen_on_its_validation_split(trained_run: tuple[Path, Path]) -> None:
    run, root = trained_run
    out = root.parent / "eval-threshold"
    arguments = ["evaluate", "--model", str(run), "--data", str(root), "--target-class", "red",
                 "--min-precision", "0.5", "--no-corruptions", "--out", str(out)]  # fmt: skip
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    rule = json.loads((out / "evaluation.json").read_text())["business"]["decisions"][-1]
    assert rule["name"] == "min_precision=0.5" and rule["chosen_on"] == "validation split"
    assert "chosen on validation split" in result.output
    # a predictions file alone: chosen and reported on the same items, and the record says so
    same = runner.invoke(app, ["evaluate", "--predictions", str(out / "predictions.csv"), "--target-class", "red",
                               "--min-precision", "0.5", "--out", str(root.parent / "eval-same")])  # fmt: skip
    assert same.exit_code == 0, same.output
    assert (
        "optimistic"
        in json.loads((root.parent / "eval-same" / "evaluation.json").read_text())["business"]["decisions"][-1][
            "chosen_on"
        ]
    )


def test_train_and_evaluate_also_score_the_test_split_without_images_leaked_from_training(tmp_path: Path) -> None:
    # issue 32: three training images copied into test/ (another name, the same bytes) are not held out
    root = colour_splits(tmp_path / "colours", train=16, test=6, test_seed=500)
    for index, name in enumerate(("red", "green", "blue")):
        (root / "test" / name / "copy.png").write_bytes((root / "train" / name / f"{index:03d}.png").read_bytes())
    run = tmp_path / "run"
    settings = ["--set", "data.size=12", "--set", "model.width=8", "--set", "optim.batch_size=16"]
    trained = runner.invoke(app, ["train", str(root), "--epochs", "2", "--out", str(run), "--quiet", *settings])
    assert trained.exit_code == 0, trained.output
    clean = json.loads((run / "metrics.json").read_text())["test_leak_free"]
    assert (clean["images"], clean["left_out"]) == (18, 3) and "leak-free, 18 images" in trained.output
    low, high = clean["ci95"]
    assert low <= clean["value"] <= high
    evaluated = runner.invoke(app, ["evaluate", "--model", str(run), "--data", str(root), "--out", str(tmp_path / "e"),
                                    "--no-corruptions"])  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output
    record = json.loads((tmp_path / "e" / "evaluation.json").read_text())
    assert (record["leak_free"]["images"], record["leak_free"]["left_out"]) == (18, 3)
    assert record["leak_free"]["value"] == pytest.approx(clean["value"])
