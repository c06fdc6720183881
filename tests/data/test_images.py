from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from liftlab.cli import app
from liftlab.config import DataConfig
from liftlab.data import load_data
from liftlab.data.images import BadImageError, load_array, read_image, stored_geometry, to_array
from liftlab.errors import BadInputError
from tests.conftest import save_image
from tests.data.odd_files import Unusable, Usable, make_odd_files


@pytest.fixture()
def odd_folder(tmp_path: Path) -> tuple[Path, dict[str, Usable | Unusable]]:
    root = tmp_path / "odd"
    expected = make_odd_files(root / "odd")
    for i in range(6):
        save_image(root / "plain" / f"{i}.png", (50, 50, 50), seed=i)
    return root, expected


def test_at_least_twenty_odd_files_of_the_listed_kinds(odd_folder: tuple[Path, dict]) -> None:
    _, expected = odd_folder
    assert len(expected) >= 20
    assert sum(isinstance(e, Unusable) for e in expected.values()) == 5


@pytest.mark.parametrize("color, channels", [("rgb", 3), ("gray", 1)])
def test_each_usable_odd_file_loads_with_right_channels_and_colour(
    odd_folder: tuple[Path, dict], color: str, channels: int
) -> None:
    root, expected = odd_folder
    for name, outcome in expected.items():
        if not isinstance(outcome, Usable):
            continue
        array = load_array(root / "odd" / name, 8, "stretch", color)
        assert array.shape == (channels, 8, 8), name
        if outcome.rgb is not None:
            want = outcome.rgb if color == "rgb" else (round(np.dot(outcome.rgb, [0.299, 0.587, 0.114])),)
            assert np.abs(array[:, 4, 4].astype(int) - np.array(want)).max() <= 1, name


def test_each_unusable_odd_file_is_named_with_its_reason(odd_folder: tuple[Path, dict]) -> None:
    root, expected = odd_folder
    for name, outcome in expected.items():
        if isinstance(outcome, Unusable):
            with pytest.raises(BadImageError) as caught:
                load_array(root / "odd" / name, 8, "stretch", "rgb")
            assert caught.value.bad.reason.startswith(outcome.reason), name
            assert caught.value.bad.path.endswith(name)


def test_cmyk_and_exif_orientation_are_honoured(odd_folder: tuple[Path, dict]) -> None:
    root, _ = odd_folder
    cmyk = load_array(root / "odd" / "cmyk.jpg", 8, "stretch", "rgb")
    assert cmyk[0, 4, 4] > 240 and cmyk[1, 4, 4] < 15 and cmyk[2, 4, 4] < 15  # CMYK (0,255,255,0) is red
    # stored 20 wide x 10 high, EXIF says rotate: shown 10 wide x 20 high, so padding goes left and right
    rotated = load_array(root / "odd" / "exif_rotated.jpg", 8, "keep-aspect", "rgb")
    assert rotated[0, 4, 0] == 0 and rotated[0, 4, 4] > 80
    assert rotated[0, 0, 4] > 80


def test_load_data_refuses_bad_files_naming_each_then_skips_them_on_request(
    odd_folder: tuple[Path, dict],
) -> None:
    root, expected = odd_folder
    bad_names = sorted(name for name, outcome in expected.items() if isinstance(outcome, Unusable))
    with pytest.raises(BadInputError) as caught:
        load_data(str(root), DataConfig(size=8))
    for name in bad_names:
        assert name in str(caught.value)
    data = load_data(str(root), DataConfig(size=8), skip_bad=True)
    assert sorted(Path(b.path).name for b in data.skipped) == bad_names
    total = len(data.train) + len(data.val) + (len(data.test) if data.test else 0)
    assert total == 6 + len(expected) - len(bad_names)


def test_resize_policies_give_the_requested_shape_and_layout(tmp_path: Path) -> None:
    from PIL import Image

    wide = tmp_path / "wide.png"
    Image.new("RGB", (40, 10), (200, 200, 200)).save(wide)
    stretched = load_array(wide, 16, "stretch", "rgb")
    padded = load_array(wide, 16, "keep-aspect", "rgb")
    cropped = load_array(wide, 16, "center-crop", "rgb")
    assert stretched.shape == padded.shape == cropped.shape == (3, 16, 16)
    assert stretched.min() == 200 and cropped.min() == 200
    assert padded[0, 0, 8] == 0 and padded[0, 8, 8] == 200  # black bars above and below


def test_data_check_cli_lists_unreadable_files_and_exits_2(odd_folder: tuple[Path, dict], tmp_path: Path) -> None:
    root, expected = odd_folder
    report_path = tmp_path / "check.json"
    result = CliRunner().invoke(app, ["data", "check", str(root), "--json", str(report_path), "--quiet"])
    assert result.exit_code == 2, result.output
    for name, outcome in expected.items():
        if isinstance(outcome, Unusable):
            assert name in result.output
    import json

    report = json.loads(report_path.read_text())
    assert report["n_unreadable"] == 5
    assert report["n_non_image_files"] == 2
    assert CliRunner().invoke(app, ["data", "check", str(root), "--skip-bad", "--quiet"]).exit_code == 0


def large_photo(path: Path, size: tuple[int, int] = (1600, 1200), quality: int = 90) -> Path:
    """A JPEG with detail at every scale: smooth gradients plus a fine checkerboard in one quadrant."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([x * 255 // width, y * 255 // height, ((x // 3 + y // 3) % 2) * 255 * (x < width // 2)], -1)
    Image.fromarray(image.astype(np.uint8)).save(path, quality=quality)
    return path


def test_a_large_jpeg_decodes_at_a_reduced_scale_with_the_pixels_of_a_full_decode(tmp_path: Path) -> None:
    path = large_photo(tmp_path / "photo.jpg")
    # both sides stay at least twice the size it is resized to: 1600x1200 for 64 px decodes at 1/8 scale
    assert read_image(path).size == (1600, 1200)
    assert read_image(path, resized_to=64).size == (200, 150)
    assert read_image(path, resized_to=224).size == (800, 600)
    assert read_image(path, resized_to=600).size == (1600, 1200)  # 2x600 is above 1200/2: no reduction
    for policy in ("stretch", "center-crop", "keep-aspect"):
        reduced = load_array(path, 96, policy, "rgb").astype(float)
        full = to_array(read_image(path), 96, policy, "rgb").astype(float)
        assert reduced.shape == full.shape == (3, 96, 96)
        assert np.abs(reduced - full).mean() < 1.0, policy  # measured 0.15-0.25


def test_the_data_check_reports_the_stored_size_and_still_finds_a_truncated_large_jpeg(tmp_path: Path) -> None:
    path = large_photo(tmp_path / "photo.jpg")
    assert stored_geometry(path) == (1600, 1200, "RGB")
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(BadImageError, match="truncated"):
        stored_geometry(cut)
