"""Point 5: 500 good images with 50-odd bad or odd ones mixed in, non-image files, an empty class folder
and a link to outside the data root: nothing crashes, every unusable file is named with its reason, the
used count equals the valid count, 16-bit images keep their intensities, the empty class is an error
unless allowed, and the outside link is refused."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import save_image
from typer.testing import CliRunner

from liftlab.cli import app
from liftlab.config import DataConfig
from liftlab.data import load_data
from liftlab.data.sources import OUTSIDE
from liftlab.errors import BadInputError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from odd_files import Unusable, Usable, make_odd_files

runner = CliRunner()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Usable | Unusable]]:
    root = tmp_path_factory.mktemp("hostile") / "data"
    for colour, rgb in (("red", (220, 20, 20)), ("blue", (20, 20, 220))):
        for index in range(250):
            save_image(root / colour / f"{index:03d}.png", rgb, seed=index)
    expected: dict[str, Usable | Unusable] = {}
    for colour in ("red", "blue"):
        for name, what in make_odd_files(root / colour / "odd").items():
            expected[f"{colour}/odd/{name}"] = what
    (root / "red" / "labels.xlsx").write_bytes(b"PK\3\4 not an image")
    (root / "green").mkdir()  # an empty class folder
    secret = root.parent / "secret.png"
    save_image(secret, (0, 0, 0))
    os.symlink(secret, root / "blue" / "leak.png")
    expected["blue/leak.png"] = Unusable(OUTSIDE)
    return root, expected


def test_every_unusable_file_is_named_with_its_reason(hostile: tuple[Path, dict], tmp_path: Path) -> None:
    root, expected = hostile
    report = tmp_path / "check.json"
    result = runner.invoke(app, ["data", "check", str(root), "--json", str(report)])
    assert result.exit_code == 2, result.output  # unreadable files: exit 2 unless --skip-bad
    found = json.loads(report.read_text())
    unreadable = {str(Path(item["path"]).relative_to(root)): item["reason"] for item in found["unreadable"]}
    bad = {name: what.reason for name, what in expected.items() if isinstance(what, Unusable)}
    assert set(unreadable) == set(bad), "every unusable file, and nothing else"
    assert all(unreadable[name].startswith(reason) for name, reason in bad.items())
    assert found["empty_classes"] == ["green"]
    assert len(found["non_image_files"]) >= 3 * 2 - 1  # notes.txt, .DS_Store (both classes), labels.xlsx


def test_empty_class_is_an_error_unless_allowed(hostile: tuple[Path, dict]) -> None:
    root, _ = hostile
    with pytest.raises(BadInputError, match="green"):
        load_data(str(root), DataConfig(size=8), skip_bad=True)


def test_used_count_is_the_valid_count_and_16_bit_keeps_its_intensity(hostile: tuple[Path, dict]) -> None:
    root, expected = hostile
    data = load_data(str(root), DataConfig(size=8, allow_empty_classes=True), skip_bad=True)
    splits = [data.train, data.val, *([data.test] if data.test is not None else [])]
    used = [name for split in splits for name in split.names]
    valid = 500 + sum(isinstance(what, Usable) for what in expected.values())
    assert len(used) == len(set(used)) == valid, "no unusable file replaced by another one"
    assert {str(Path(b.path).relative_to(root)) for b in data.skipped} == {
        name for name, what in expected.items() if isinstance(what, Unusable)
    }
    assert data.classes == ["blue", "green", "red"]
    for name, value in (("gray16_half.png", 128), ("gray16.png", 255)):
        for split in splits:
            for index, item in enumerate(split.names):
                if item.endswith(f"odd/{name}"):
                    pixels = split.images[index].numpy().astype(int)
                    assert np.abs(pixels - value).max() <= 1, (item, pixels.min(), pixels.max())
