"""Point 6: a split that lacks a class never shifts class indices; names decide, and the run's
classes.json is the single source of truth."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import save_image
from typer.testing import CliRunner

from liftlab.cli import app
from liftlab.config import DataConfig
from liftlab.data import load_data

COLOURS = {"apple": (220, 30, 30), "banana": (230, 220, 40), "cherry": (120, 10, 60), "date": (120, 80, 40)}
runner = CliRunner()


def make_folder(root: Path, missing: dict[str, set[str]]) -> Path:
    for split in ("train", "val", "test"):
        for name, rgb in COLOURS.items():
            if name in missing.get(split, set()):
                continue
            for index in range(8 if split == "train" else 3):
                save_image(root / split / name / f"{index}.png", rgb, seed=index)
    return root


def test_a_split_missing_a_class_keeps_every_index(tmp_path: Path) -> None:
    cases = [{"val": {"banana"}}, {"test": {"apple"}}, {"val": {"apple", "cherry"}, "test": {"date"}}]
    for number, missing in enumerate(cases):
        data = load_data(str(make_folder(tmp_path / f"case{number}", missing)), DataConfig(size=8))
        assert data.classes == sorted(COLOURS), "classes are the union of every split, by name"
        for split in (data.train, data.val, data.test):
            assert split is not None
            for name, label in zip(split.names, split.labels.tolist(), strict=True):
                assert data.classes[label] == Path(name).parent.name, (number, name)


def test_evaluating_on_data_without_a_class_matches_by_name(tmp_path: Path) -> None:
    run = tmp_path / "run"
    folder = make_folder(tmp_path / "data", {})
    trained = runner.invoke(app, ["train", str(folder), "--epochs", "8", "--set", "data.size=8", "--out", str(run),
                                  "--quiet"])  # fmt: skip
    assert trained.exit_code == 0, trained.output
    assert json.loads((run / "classes.json").read_text()) == sorted(COLOURS)
    shifted = make_folder(tmp_path / "shifted", {"test": {"apple"}, "val": {"apple"}, "train": {"apple"}})
    out = tmp_path / "evaluation"
    result = runner.invoke(app, ["evaluate", "--model", str(run), "--data", str(shifted), "--out", str(out),
                                 "--no-corruptions"])  # fmt: skip
    assert result.exit_code == 0, result.output
    evaluation = json.loads((out / "evaluation.json").read_text())
    # by index, banana (index 0 of the shifted folder) would be scored as apple: near 0 accuracy
    assert evaluation["metrics"]["accuracy"]["value"] >= 0.9
