"""Folder layouts as users have them: split folders by any common name and case, nothing dropped silently,
and splits liftlab makes keep exact duplicates together."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from liftlab.config import DataConfig
from liftlab.data import load_data
from liftlab.data.check import check_data
from liftlab.errors import BadInputError
from tests.conftest import COLOURS, save_image


def _split_tree(root: Path, names: dict[str, int]) -> Path:
    """root/<split folder>/<class>/<image>: `names` maps each split folder's name to images per class."""
    for offset, (folder, count) in enumerate(names.items()):
        for name, colour in COLOURS.items():
            for i in range(count):
                save_image(root / folder / name / f"{i:03d}.png", colour, seed=100 * offset + i)
    return root


@pytest.mark.parametrize(
    ("train", "val", "test"),
    [
        ("train", "val", "test"),
        ("training", "validation", "testing"),
        ("Train", "Valid", "Test"),
        ("TRAINING", "dev", "Testing"),
        ("Training", "VALIDATION", "TEST"),
    ],
)
def test_every_split_spelling_gives_its_split(tmp_path: Path, train: str, val: str, test: str) -> None:
    root = _split_tree(tmp_path / "data", {train: 8, val: 3, test: 2})
    data = load_data(str(root), DataConfig(size=8))
    assert data.classes == sorted(COLOURS)
    assert data.test is not None
    # the given validation folder is the validation split, not carved from train
    assert (len(data.train), len(data.val), len(data.test)) == (24, 9, 6)
    assert all(name.startswith(f"{val}/") for name in data.val.names)
    assert all(name.startswith(f"{test}/") for name in data.test.names)
    report = check_data(str(root))
    assert report.split_folders == {"train": train, "val": val, "test": test}
    assert not report.splits_made_by_liftlab


def test_training_and_testing_folders_are_splits_not_two_classes(tmp_path: Path) -> None:
    root = _split_tree(tmp_path / "data", {"Training": 10, "Testing": 3})
    data = load_data(str(root), DataConfig(size=8, val_fraction=0.2))
    assert data.classes == sorted(COLOURS), "Training/Testing must not become classes"
    assert data.test is not None and len(data.test) == 9
    assert (len(data.train), len(data.val)) == (24, 6)
    assert check_data(str(root)).split_folders == {"train": "Training", "test": "Testing", "val": None}


def test_train_folder_alone_gets_val_and_test_carved(tmp_path: Path) -> None:
    root = _split_tree(tmp_path / "data", {"train": 10})
    data = load_data(str(root), DataConfig(size=8, val_fraction=0.2, test_fraction=0.2))
    assert data.classes == sorted(COLOURS)
    assert data.test is not None
    assert (len(data.train), len(data.val), len(data.test)) == (18, 6, 6)


def test_unknown_folder_beside_split_folders_is_an_error_naming_it(tmp_path: Path) -> None:
    root = _split_tree(tmp_path / "data", {"train": 4, "test": 2, "extras": 2})
    with pytest.raises(BadInputError, match=r"name no split: extras"):
        load_data(str(root), DataConfig(size=8))


def test_two_folders_for_one_split_are_an_error(tmp_path: Path) -> None:
    root = _split_tree(tmp_path / "data", {"train": 4, "val": 2, "validation": 2, "test": 2})
    with pytest.raises(BadInputError, match=r"val, validation all name the val split"):
        load_data(str(root), DataConfig(size=8))


def test_split_folders_without_a_training_folder_are_an_error(tmp_path: Path) -> None:
    root = _split_tree(tmp_path / "data", {"val": 4, "test": 2})
    with pytest.raises(BadInputError, match=r"no training folder"):
        load_data(str(root), DataConfig(size=8))


def test_splits_liftlab_makes_keep_exact_duplicates_in_one_split(tmp_path: Path) -> None:
    root = tmp_path / "data"
    for name, colour in COLOURS.items():
        for i in range(20):
            save_image(root / name / f"{i:03d}.png", colour, seed=i)
        for i in range(6):  # six images of each class saved three times each under other names
            for copy in range(2):
                shutil.copy(root / name / f"{i:03d}.png", root / name / f"copy{copy}-{i:03d}.png")
    report = check_data(str(root), DataConfig(val_fraction=0.2, test_fraction=0.2))
    assert report.splits_made_by_liftlab
    assert report.duplicates_across == []
    assert len(report.duplicates_within) == 18  # every planted group, each inside one split
    data = load_data(str(root), DataConfig(size=8, val_fraction=0.2, test_fraction=0.2))
    assert data.test is not None
    split_of = {name: split for split in ("train", "val", "test") for name in getattr(data, split).names}
    for name in COLOURS:
        for i in range(6):
            homes = {split_of[f"{name}/{stem}{i:03d}.png"] for stem in ("", "copy0-", "copy1-")}
            assert len(homes) == 1


def test_splits_without_duplicates_are_unchanged_by_grouping(colour_folder: Path) -> None:
    from liftlab.data.sources import SplitItems
    from liftlab.data.splits import grouped_stratified_indices, stratified_indices

    paths = sorted(colour_folder.rglob("*.png"))
    items = SplitItems(labels=[sorted(COLOURS).index(p.parent.name) for p in paths], paths=paths)
    assert grouped_stratified_indices(items, [0.2, 0.2], 3) == stratified_indices(items.labels, [0.2, 0.2], 3)


def test_data_check_cli_says_which_folder_became_which_split(tmp_path: Path) -> None:
    root = _split_tree(tmp_path / "data", {"Training": 4, "Testing": 2})
    result = subprocess.run(
        [sys.executable, "-m", "liftlab", "data", "check", str(root), "--quiet", "--json", str(tmp_path / "c.json")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "train <- folder Training/" in result.stdout
    assert "val <- carved from train by liftlab" in result.stdout
    assert "test <- folder Testing/" in result.stdout
    assert json.loads((tmp_path / "c.json").read_text())["split_folders"]["test"] == "Testing"
