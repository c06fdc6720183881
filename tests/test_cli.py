from __future__ import annotations

import json
from pathlib import Path

import yaml
from safetensors.torch import load_file
from typer.testing import CliRunner

from liftlab.cli import app
from tests.conftest import save_image

runner = CliRunner()
TINY = ["--set", "data.size=8", "--set", "model.width=8", "--set", "data.color=gray", "--quiet"]


def test_train_writes_the_run_folder_of_the_contract(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "builtin:digits", "--epochs", "2", "--seed", "3", "--out", str(out), *TINY])
    assert result.exit_code == 0, result.output
    for name in ("recipe.yaml", "history.json", "metrics.json", "model.safetensors", "classes.json"):
        assert (out / name).is_file(), name
    history = json.loads((out / "history.json").read_text())
    assert [r["epoch"] for r in history] == [1, 2]
    contract_keys = {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"}
    assert set(history[0]) == contract_keys | {"train_seconds"}
    metrics = json.loads((out / "metrics.json").read_text())
    contract = {
        "val_acc",
        "test_acc",
        "n_train",
        "n_val",
        "n_test",
        "classes",
        "seconds",
        "images_per_second",
    }
    assert contract | {"device", "dtype", "seed", "liftlab_version"} <= set(metrics)
    # how it ran, and why: chosen by measurement (or as requested), with the evidence
    assert metrics["dtype"] in ("fp32", "bf16") and metrics["memory_format"] in ("channels_last", "contiguous")
    assert metrics["compiled"] is False  # a 2-epoch run on digits is far too short to repay a compile
    assert metrics["execution"]["dtype"] == metrics["dtype"]
    assert metrics["execution"]["source"] in ("measured", "cached", "requested")
    assert metrics["seed"] == 3 and metrics["n_train"] + metrics["n_val"] + metrics["n_test"] == 1797
    assert metrics["val_acc"] == history[-1]["val_acc"]
    recipe = yaml.safe_load((out / "recipe.yaml").read_text())
    assert recipe["epochs"] == 2 and recipe["data"]["size"] == 8
    assert json.loads((out / "classes.json").read_text()) == [str(i) for i in range(10)]
    assert "head.3.weight" in load_file(str(out / "model.safetensors"))


def test_rerun_needs_resume_and_resume_finishes_the_same_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["train", "builtin:digits", "--epochs", "2", "--out", str(out), *TINY]
    assert runner.invoke(app, args).exit_code == 0
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "--resume" in again.output
    first = json.loads((out / "history.json").read_text())
    resumed = runner.invoke(app, [*args, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((out / "history.json").read_text()) == first
    changed = runner.invoke(app, [*args, "--resume", "--set", "optim.lr=0.2"])
    assert changed.exit_code == 2 and "optim" in changed.output


def test_bad_input_exits_2_with_a_message_and_no_traceback(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "builtin:digits", "--set", "optim.learnrate=1", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "valid keys" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["train", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "no such folder" in result.output


def test_recipe_file_is_read_and_overridden(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("epochs: 1\noptim: {name: adamw, lr: 0.003}\n")
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "builtin:digits", "--recipe", str(recipe), "--out", str(out), *TINY])
    assert result.exit_code == 0, result.output
    written = yaml.safe_load((out / "recipe.yaml").read_text())
    assert written["optim"]["name"] == "adamw" and written["optim"]["lr"] == 0.003 and written["epochs"] == 1


def test_skip_bad_trains_on_the_rest_and_lists_skipped_files(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for i in range(10):
        save_image(data / "red" / f"{i}.png", (220, 0, 0), seed=i)
        save_image(data / "blue" / f"{i}.png", (0, 0, 220), seed=i)
    (data / "red" / "broken.png").write_bytes(b"")
    out = tmp_path / "run"
    refused = runner.invoke(app, ["train", str(data), "--epochs", "1", "--out", str(out), *TINY])
    assert refused.exit_code == 2 and "broken.png" in refused.output
    result = runner.invoke(app, ["train", str(data), "--epochs", "1", "--out", str(out), "--skip-bad", *TINY])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert [Path(s["path"]).name for s in metrics["skipped"]] == ["broken.png"]
    assert metrics["skipped"][0]["reason"] == "zero bytes"
    assert metrics["n_train"] + metrics["n_val"] + metrics["n_test"] == 20
