from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from liftlab.cli import app

runner = CliRunner()


def test_diagnose_writes_the_contract_and_finds_a_learning_rate_far_too_high(tmp_path: Path) -> None:
    out = tmp_path / "diagnosis"
    result = runner.invoke(
        app, ["diagnose", "builtin:digits", "--set", "data.size=16", "--set", "model.width=16", "--set", "epochs=6",
              "--set", "optim.lr=5", "--quick", "--target", "0.99", "--out", str(out), "--quiet"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    diagnosis = json.loads((out / "diagnosis.json").read_text())
    codes = {f["code"] for f in diagnosis["findings"]}
    assert "LR_TOO_HIGH" in codes and "HEALTHY" not in codes
    for finding in diagnosis["findings"]:
        assert set(finding) == {"code", "severity", "message", "evidence"}
    assert diagnosis["recommendations"][0]["strategy"].startswith("lr=")
    assert all(set(r) >= {"strategy", "reason", "expected_effect"} for r in diagnosis["recommendations"])
    assert set(diagnosis["learning_curve"]) >= {"sizes", "val_acc", "fit", "images_for_target", "scope", "interval"}
    assert diagnosis["learning_curve"]["images_for_target"]["target"] == 0.99
    for picture in ("curves.png", "lr_range_test.png", "gradients.png", "learning_curve.png"):
        assert (out / picture).stat().st_size > 1000
    assert (out / "report.html").read_text().count("data:image/png;base64,") == 4


def test_flagged_augmentations_are_never_recommended(tmp_path: Path) -> None:
    out = tmp_path / "arrows"
    result = runner.invoke(
        app, ["diagnose", "builtin:shapes-orientation", "--set", "model.width=16", "--set", "epochs=8",
              "--quick", "--out", str(out), "--quiet"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    diagnosis = json.loads((out / "diagnosis.json").read_text())
    flagged = set(diagnosis["augmentation_audit"]["flagged"])
    assert "flip" in flagged, "left and right arrows swap"  # rotate is audited at its own 15 degrees
    recommended = {r["strategy"].split("=")[0] for r in diagnosis["recommendations"]}
    assert not recommended & flagged


def test_lab_quick_diagnoses_its_scenarios(tmp_path: Path) -> None:
    result = runner.invoke(app, ["lab", "--quick", "--work", str(tmp_path), "--json", str(tmp_path / "lab.json")])
    assert result.exit_code == 0, result.output
    lab = json.loads((tmp_path / "lab.json").read_text())
    assert len(lab["scenarios"]) >= 5
    assert lab["score"] >= 0.8, lab


def test_without_a_recipe_diagnose_takes_the_baseline_improve_starts_from(tmp_path: Path) -> None:
    from liftlab.config import Recipe, apply_overrides
    from liftlab.data.check import check_data
    from liftlab.experiments.baseline_diagnosis import PROFILE_SOURCE
    from liftlab.experiments.improve.profile import profiled_baseline

    sets = ["epochs=3", "model.width=8"]
    out = tmp_path / "profiled"
    result = runner.invoke(app, ["diagnose", "builtin:digits", *[a for s in sets for a in ("--set", s)], "--quick",
                                 "--out", str(out), "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    diagnosis = json.loads((out / "diagnosis.json").read_text())
    expected, profile = profiled_baseline(check_data("builtin:digits"), sets)
    assert diagnosis["recipe"] == expected.model_dump(mode="json"), "the profile's recipe, the user's --set on top"
    assert expected.data.size == 8 != Recipe().data.size, "the profile chose the digits' own 8 px"
    assert diagnosis["baseline_source"] == [PROFILE_SOURCE, *profile.reasons]
    assert "baseline: liftlab's data profile" in result.output
    assert "The model diagnosed" in (out / "report.html").read_text()

    plain = tmp_path / "plain"
    result = runner.invoke(app, ["diagnose", "builtin:digits", "--recipe", "default", "--set", "epochs=2", "--quick",
                                 "--out", str(plain), "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    diagnosis = json.loads((plain / "diagnosis.json").read_text())
    assert diagnosis["recipe"] == apply_overrides(Recipe(), ["epochs=2"]).model_dump(mode="json")
    assert diagnosis["baseline_source"] == ["your recipe (default)"]
