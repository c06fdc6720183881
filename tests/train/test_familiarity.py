"""The unfamiliar-image flag: the threshold flags at most 1% of validation images, far images are flagged, the
reference survives its float16 round trip, and `predict`/`evaluate --model` report it (or say why not)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from liftlab.cli import app
from liftlab.train.familiarity import FLAGGED_SHARE, Familiarity, fit_familiarity
from tests.conftest import COLOURS, save_image

runner = CliRunner()


def test_the_threshold_flags_at_most_one_percent_of_validation_and_far_images() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 64)) * 3
    labels = np.repeat(np.arange(3), 400)
    train = centres[labels] + rng.normal(size=(1200, 64))
    val = centres[np.repeat(np.arange(3), 100)] + rng.normal(size=(300, 64))
    familiarity = fit_familiarity(train, val, labels, 96)
    assert familiarity.validation_flagged <= FLAGGED_SHARE
    assert (familiarity.scores(val) > familiarity.threshold).mean() <= FLAGGED_SHARE
    far = rng.normal(size=(50, 64)) * 3  # no class centre
    assert (familiarity.scores(far) > familiarity.threshold).mean() >= 0.9


def test_the_saved_reference_reads_back(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    familiarity = fit_familiarity(rng.normal(size=(200, 16)), rng.normal(size=(50, 16)), np.zeros(200, int), 128)
    familiarity.save(tmp_path)
    loaded = Familiarity.load(tmp_path)
    assert loaded is not None and loaded.side == 128 and loaded.threshold == familiarity.threshold
    np.testing.assert_allclose(loaded.reference, familiarity.reference, atol=1e-3)
    (tmp_path / "familiarity.safetensors").write_bytes(b"broken")
    assert Familiarity.load(tmp_path) is None  # unreadable: recomputed, never trusted


def test_predict_and_evaluate_report_unfamiliar_images(tmp_path: Path) -> None:
    root = tmp_path / "colours"
    for name, colour in COLOURS.items():
        for i in range(20):
            save_image(root / name / f"{i:03d}.png", colour, size=(16, 16), seed=i)
    run = tmp_path / "run"
    settings = ["--set", "data.size=16", "--set", "model.width=8", "--epochs", "1"]
    assert runner.invoke(app, ["train", str(root), *settings, "--out", str(run), "--quiet"]).exit_code == 0
    odd = tmp_path / "odd"
    odd.mkdir()
    stripes = np.zeros((16, 16, 3), np.uint8)
    stripes[::2] = 255
    from PIL import Image

    Image.fromarray(stripes).save(odd / "stripes.png")
    save_image(odd / "red.png", COLOURS["red"], size=(16, 16), seed=77)
    out = tmp_path / "p.csv"
    result = runner.invoke(app, ["predict", str(run), str(odd), "--csv", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    rows = {Path(row["id"]).name: row for row in csv.DictReader(out.open())}
    assert rows["stripes.png"]["unfamiliar"] == "1" and rows["red.png"]["unfamiliar"] == "0"
    evaluated = runner.invoke(app, ["evaluate", "--model", str(run), "--data", str(root), "--no-corruptions",
                                    "--out", str(tmp_path / "eval"), "--quiet"])  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output
    record = json.loads((tmp_path / "eval" / "evaluation.json").read_text())["unfamiliar"]
    assert record["available"] and record["images"] > 0 and record["flagged"] <= record["images"]
    # the training data gone: predictions still come, with a warning that says why there is no check
    shutil.rmtree(root)
    (run / "familiarity.safetensors").unlink()
    result = runner.invoke(app, ["predict", str(run), str(odd), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "no unfamiliar-image check" in result.output and "stripes.png" in result.output
