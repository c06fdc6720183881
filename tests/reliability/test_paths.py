"""Point 9: paths in a labels CSV, and links in a data folder, may not leave the data root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import save_image

from liftlab.data import load_data
from liftlab.data.sources import OUTSIDE, open_source
from liftlab.errors import BadInputError


@pytest.fixture
def root(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    for index in range(6):
        save_image(data / "images" / f"red{index}.png", (220, 20, 20), seed=index)
        save_image(data / "images" / f"blue{index}.png", (20, 20, 220), seed=index)
    save_image(tmp_path / "secret" / "private.png", (0, 0, 0))
    return data


def write_csv(root: Path, extra: str) -> Path:
    rows = [f"images/red{i}.png,red" for i in range(6)] + [f"images/blue{i}.png,blue" for i in range(6)]
    path = root / "labels.csv"
    path.write_text("path,label\n" + "\n".join(rows) + "\n" + extra + "\n")
    return path


ESCAPES = {
    "dot-dot": "../secret/private.png,red",
    "dot-dot inside a path": "images/../../secret/private.png,red",
    "absolute elsewhere": "{secret}/private.png,red",
    "link to outside": "images/link.png,red",
    "NUL byte": "images/red0.png\x00.png,red",
}


@pytest.mark.parametrize("case", list(ESCAPES))
def test_a_csv_path_leaving_the_root_is_refused(root: Path, case: str) -> None:
    secret = root.parent / "secret"
    os.symlink(secret / "private.png", root / "images" / "link.png")
    csv = write_csv(root, ESCAPES[case].format(secret=secret))
    with pytest.raises(BadInputError, match=r"line 14") as error:
        open_source(str(csv), root.parent / "cache")
    assert "outside the data root" in str(error.value) or "NUL byte" in str(error.value)


def test_paths_inside_the_root_are_fine_even_when_spelled_oddly(root: Path) -> None:
    csv = write_csv(root, f"images/./sub/../red0.png,red\n{root}/images/blue0.png,blue")
    assert len(open_source(str(csv), root.parent / "cache").splits["all"].paths) == 14


def test_a_folder_link_to_outside_is_refused_and_named(root: Path, tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    for colour, rgb in (("red", (220, 20, 20)), ("blue", (20, 20, 220))):
        for index in range(6):
            save_image(folder / colour / f"{index}.png", rgb, seed=index)
    os.symlink(tmp_path / "secret" / "private.png", folder / "red" / "leak.png")
    os.symlink(folder / "blue" / "0.png", folder / "red" / "inside-link.png")  # inside the root: fine
    source = open_source(str(folder), tmp_path / "cache")
    assert [(Path(b.path).name, b.reason) for b in source.missing_files] == [("leak.png", OUTSIDE)]
    used = [p.name for p in source.splits["all"].paths]
    assert "leak.png" not in used and "inside-link.png" in used
    with pytest.raises(BadInputError, match=r"leak\.png"):
        load_data(str(folder))
