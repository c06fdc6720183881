"""Decode images once into uint8 tensors, keyed so that a changed file, size or colour rebuilds them.

The cache lives under ``$LIFTLAB_CACHE`` (default: the user cache folder). An entry is one safetensors
file of (N, C, H, W) uint8 images plus the list of files that could not be used.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from liftlab.config import DataConfig
from liftlab.data.images import BadFile, BadImageError, load_array, to_array
from liftlab.data.sources import SplitItems
from liftlab.io import atomic_write
from liftlab.progress import make_progress

CACHE_FORMAT = 2
"""Part of every entry's key: 2 since large JPEGs decode at a reduced scale (`images.read_image`), so an entry
decoded in full before is not mixed with ones decoded since."""


def cache_root() -> Path:
    """The cache folder: ``$LIFTLAB_CACHE`` or the user cache folder."""
    configured = os.environ.get("LIFTLAB_CACHE")
    if configured:
        return Path(configured).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("liftlab"))


def _cache_key(paths: list[Path], data: DataConfig) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([CACHE_FORMAT, data.size, data.resize, data.color]).encode())
    for path in paths:
        try:
            stat = path.stat()
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path}\0missing\n".encode())
    return digest.hexdigest()[:32]


def _decode_one(path: Path, data: DataConfig) -> np.ndarray | BadFile:
    try:
        return load_array(path, data.size, data.resize, data.color)
    except BadImageError as error:
        return error.bad


def _decode_files(paths: list[Path], data: DataConfig, quiet: bool) -> tuple[np.ndarray, list[int], list[BadFile]]:
    channels = 1 if data.color == "gray" else 3
    out = np.zeros((len(paths), channels, data.size, data.size), dtype=np.uint8)
    kept: list[int] = []
    bad: list[BadFile] = []
    # Pillow releases the GIL while decoding, so threads use every core without copying arrays
    # between processes.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool, make_progress(quiet) as progress:
        task = progress.add_task("decode", total=len(paths), info="images")
        for index, result in enumerate(pool.map(lambda p: _decode_one(p, data), paths, chunksize=64)):
            if isinstance(result, BadFile):
                bad.append(result)
            else:
                out[index] = result
                kept.append(index)
            progress.advance(task)
    return out[kept], kept, bad


def decode_items(
    items: SplitItems, data: DataConfig, cache: Path, quiet: bool = True
) -> tuple[torch.Tensor, list[int], list[BadFile]]:
    """Images of `items` as a (N, C, size, size) uint8 tensor, the indices kept, and the bad files."""
    if items.images is not None:
        return _convert_arrays(items.images, data), list(range(len(items))), []
    paths = items.paths or []
    entry = cache / "images" / f"{_cache_key(paths, data)}.safetensors"
    if entry.exists():
        try:
            tensors = load_file(str(entry))
            with safe_open(str(entry), framework="pt") as handle:
                meta = handle.metadata() or {}
            bad = [BadFile(**b) for b in json.loads(meta.get("bad", "[]"))]
            return tensors["images"], tensors["kept"].tolist(), bad
        except (OSError, ValueError, KeyError, RuntimeError, SafetensorError):
            entry.unlink(missing_ok=True)  # an unreadable cache entry is rebuilt, never trusted
    images, kept, bad = _decode_files(paths, data, quiet)
    tensors = {"images": torch.from_numpy(images), "kept": torch.tensor(kept, dtype=torch.int64)}
    metadata = {"bad": json.dumps([b.__dict__ for b in bad])}
    atomic_write(entry, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))
    return tensors["images"], kept, bad


def _convert_arrays(images: np.ndarray, data: DataConfig) -> torch.Tensor:
    channels = 1 if data.color == "gray" else 3
    n, c, h, w = images.shape
    native = (data.color, c) in (("rgb", 3), ("gray", 1))
    if native and (h, w) == (data.size, data.size):
        return torch.from_numpy(np.array(images, dtype=np.uint8, copy=True))
    converted = [
        to_array(
            Image.fromarray(image[0] if c == 1 else image.transpose(1, 2, 0)),
            data.size,
            data.resize,
            data.color,
        )
        for image in images
    ]
    return (
        torch.from_numpy(np.stack(converted))
        if n
        else torch.zeros((0, channels, data.size, data.size), dtype=torch.uint8)
    )
