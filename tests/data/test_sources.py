from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from liftlab.config import DataConfig
from liftlab.data import load_data
from liftlab.errors import BadInputError
from tests.conftest import COLOURS, save_image


def test_builtin_digits_loads_all_images_with_stratified_splits() -> None:
    data = load_data("builtin:digits", DataConfig(size=8, color="gray"))
    assert data.classes == [str(i) for i in range(10)]
    assert data.channels == 1
    assert data.test is not None
    assert len(data.train) + len(data.val) + len(data.test) == 1797
    val_counts = Counter(data.val.labels.tolist())
    assert set(val_counts) == set(range(10))
    # ~10% of every class, not 10% of the whole set by accident
    assert max(val_counts.values()) - min(val_counts.values()) <= 2


def test_splits_are_stable_across_calls_and_change_with_split_seed() -> None:
    first = load_data("builtin:digits", DataConfig(size=8))
    second = load_data("builtin:digits", DataConfig(size=8))
    other = load_data("builtin:digits", DataConfig(size=8, split_seed=1))
    assert first.split_record() == second.split_record()
    assert first.split_record()["val"] != other.split_record()["val"]


def test_unsplit_folder_gets_stratified_train_val_test(colour_folder: Path) -> None:
    data = load_data(str(colour_folder), DataConfig(size=8, val_fraction=0.2, test_fraction=0.2))
    assert data.classes == sorted(COLOURS)
    assert data.test is not None
    assert (len(data.train), len(data.val), len(data.test)) == (36, 12, 12)
    for split in (data.train, data.val, data.test):
        counts = Counter(split.labels.tolist())
        assert len(set(counts.values())) == 1, "every class equally represented"
    names = set(data.train.names) | set(data.val.names) | set(data.test.names)
    assert len(names) == 60


def test_folder_with_train_and_test_keeps_them_and_carves_val(split_folder: Path) -> None:
    data = load_data(str(split_folder), DataConfig(size=8, val_fraction=0.25))
    assert data.test is not None
    assert len(data.test) == 12
    assert all(name.startswith("test/") for name in data.test.names)
    assert (len(data.train), len(data.val)) == (36, 12)


def test_csv_with_relative_paths(tmp_path: Path) -> None:
    rows = ["path,label"]
    for name, colour in COLOURS.items():
        for i in range(10):
            save_image(tmp_path / "img" / f"{name}{i}.png", colour, seed=i)
            rows.append(f"img/{name}{i}.png,{name}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    data = load_data(str(tmp_path / "labels.csv"), DataConfig(size=8))
    assert data.classes == sorted(COLOURS)
    assert len(data.train) + len(data.val) + (len(data.test) if data.test else 0) == 30
    # the label of each item is its file's colour
    for name, label in zip(data.train.names, data.train.labels.tolist(), strict=True):
        assert Path(name).name.startswith(data.classes[label])


def test_csv_with_wrong_columns_names_file_and_columns(tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text("file,class\na.png,cat\n")
    with pytest.raises(BadInputError, match=r"bad\.csv.*'path,label'.*\['file', 'class'\]"):
        load_data(str(csv))


def test_csv_missing_file_is_named(tmp_path: Path) -> None:
    for i in range(6):
        save_image(tmp_path / f"a{i}.png", (0, 0, 0), seed=i)
        save_image(tmp_path / f"b{i}.png", (255, 255, 255), seed=i)
    rows = [
        "path,label",
        *[f"a{i}.png,a" for i in range(6)],
        *[f"b{i}.png,b" for i in range(6)],
        "gone.png,a",
    ]
    (tmp_path / "labels.csv").write_text("\n".join(rows))
    with pytest.raises(BadInputError, match=r"gone\.png: file not found"):
        load_data(str(tmp_path / "labels.csv"), DataConfig(size=8))
    data = load_data(str(tmp_path / "labels.csv"), DataConfig(size=8), skip_bad=True)
    assert [Path(b.path).name for b in data.skipped] == ["gone.png"]


def test_unknown_forms_fail_with_what_was_expected(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="known: digits"):
        load_data("builtin:nope")
    with pytest.raises(BadInputError, match="no such folder or file"):
        load_data(str(tmp_path / "missing"))
    with pytest.raises(BadInputError, match="no class folders"):
        load_data(str(tmp_path))


def test_torchvision_offline_says_to_pass_a_folder() -> None:
    with pytest.raises(BadInputError, match="pass a folder in ImageFolder layout"):
        load_data("torchvision:CIFAR10")
    with pytest.raises(BadInputError, match="no data set 'NotADataset'"):
        load_data("torchvision:NotADataset")


def test_cifar10_small_loads_with_class_names_and_counts(cifar_small: Path) -> None:
    data = load_data(str(cifar_small), DataConfig(size=32))
    assert data.classes == [
        "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
    ]  # fmt: skip
    assert data.test is not None
    assert (len(data.train), len(data.val), len(data.test)) == (4500, 500, 1000)
    assert data.train.images.shape[1:] == (3, 32, 32)
