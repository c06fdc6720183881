from __future__ import annotations

import shutil
from pathlib import Path

from liftlab.data.check import check_data
from tests.conftest import save_image


def test_counts_imbalance_empty_classes_and_non_images(tmp_path: Path) -> None:
    root = tmp_path / "data"
    for i in range(30):
        save_image(root / "train" / "many" / f"{i}.png", (200, 0, 0), seed=i)
    for i in range(10):
        save_image(root / "train" / "few" / f"{i}.png", (0, 200, 0), seed=i)
    for i in range(3):
        save_image(root / "test" / "many" / f"{i}.png", (200, 0, 0), seed=50 + i)
        save_image(root / "test" / "few" / f"{i}.png", (0, 200, 0), seed=50 + i)
    (root / "train" / "nothing").mkdir()
    (root / "train" / "few" / "readme.txt").write_text("hi")
    report = check_data(str(root))
    assert report.classes == ["few", "many", "nothing"]
    assert report.empty_classes == ["nothing"]
    assert report.counts["test"] == {"few": 3, "many": 3, "nothing": 0}
    assert sum(report.counts["train"].values()) + sum(report.counts["val"].values()) == 40
    assert report.imbalance_ratio == (30 + 3) / (10 + 3)
    assert len(report.non_image_files) == 1
    assert report.image_size["width"] == {"min": 12.0, "median": 12.0, "max": 12.0}


def test_duplicates_within_and_across_splits_are_found(tmp_path: Path) -> None:
    root = tmp_path / "data"
    for name, colour in {"a": (250, 0, 0), "b": (0, 0, 250)}.items():
        for i in range(8):
            save_image(root / "train" / name / f"{i}.png", colour, seed=i + (0 if name == "a" else 100))
        for i in range(2):
            save_image(root / "test" / name / f"{i}.png", colour, seed=500 + i + (0 if name == "a" else 100))
    shutil.copy(root / "train" / "a" / "0.png", root / "test" / "a" / "leak.png")
    shutil.copy(root / "test" / "b" / "0.png", root / "test" / "b" / "copy.png")
    report = check_data(str(root))
    # the leaked training image may sit in train or in the val split carved from it
    (group,) = report.duplicates_across
    assert "test:test/a/leak.png" in group
    assert any(name.endswith(":train/a/0.png") for name in group)
    assert any(sorted(g) == ["test:test/b/0.png", "test:test/b/copy.png"] for g in report.duplicates_within)
    assert len(report.duplicates_within) == 1
    assert report.leaked_test == ["test/a/leak.png"], "a test copy of a training image is named as leaked"


def test_dot_folders_inside_class_folders_are_skipped_and_listed(tmp_path: Path) -> None:
    # issue 32: notebooks leave `.ipynb_checkpoints/` copies inside class folders; read as images they are
    # hidden duplicates of the class's own files
    root = tmp_path / "data"
    for name, colour in {"a": (250, 0, 0), "b": (0, 0, 250)}.items():
        for i in range(6):
            save_image(root / name / f"{i}.png", colour, seed=i + (0 if name == "a" else 100))
    hidden = root / "a" / ".ipynb_checkpoints"
    hidden.mkdir()
    shutil.copy(root / "a" / "0.png", hidden / "0-checkpoint.png")
    report = check_data(str(root))
    assert sum(sum(c.values()) for c in report.counts.values()) == 12, "the copy is not read as an image"
    assert report.hidden_folders == [str(hidden)]
    assert not report.duplicates_within and not report.duplicates_across
