from __future__ import annotations

from pathlib import Path

import torch

from liftlab.config import DataConfig
from liftlab.data import load_data
from tests.conftest import save_image


def _entries(cache: Path) -> set[str]:
    return {p.name for p in (cache / "images").glob("*.safetensors")}


def test_decoded_images_are_reused_and_rebuilt_when_file_size_or_colour_change(
    colour_folder: Path, isolated_cache: Path
) -> None:
    before = _entries(isolated_cache)
    first = load_data(str(colour_folder), DataConfig(size=8))
    created = _entries(isolated_cache) - before
    assert len(created) == 3  # one entry per split
    again = load_data(str(colour_folder), DataConfig(size=8))
    assert _entries(isolated_cache) - before == created, "the second load reuses the cache"
    assert torch.equal(first.train.images, again.train.images)

    load_data(str(colour_folder), DataConfig(size=12))
    load_data(str(colour_folder), DataConfig(size=8, color="gray"))
    assert len(_entries(isolated_cache) - before) == 9, "size and colour each key their own entries"

    # Rewrite one training image in another colour: the cache must notice, not serve stale pixels.
    name = first.train.names[0]
    save_image(colour_folder / name, (0, 0, 0), seed=999)
    changed = load_data(str(colour_folder), DataConfig(size=8))
    assert changed.train.names == first.train.names
    assert changed.train.images[0].float().mean() < first.train.images[0].float().mean() - 40
    assert torch.equal(changed.train.images[1:], first.train.images[1:])


def test_a_corrupt_cache_entry_is_rebuilt(colour_folder: Path, isolated_cache: Path) -> None:
    before = _entries(isolated_cache)
    first = load_data(str(colour_folder), DataConfig(size=10))
    for name in _entries(isolated_cache) - before:
        (isolated_cache / "images" / name).write_bytes(b"garbage")
    second = load_data(str(colour_folder), DataConfig(size=10))
    assert torch.equal(first.train.images, second.train.images)
