"""Load a DATA argument into resident uint8 tensors per split, through the decode cache."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from liftlab.config import DataConfig
from liftlab.data.cache import cache_root, decode_items
from liftlab.data.geometry import geometry_of_items
from liftlab.data.images import BadFile
from liftlab.data.sources import Source, open_source
from liftlab.data.splits import make_splits, splits_made_by_liftlab, stratified_indices
from liftlab.errors import BadInputError
from liftlab.records.runs import Geometry


@dataclass
class ImageSplit:
    """One split, decoded: images (N, C, H, W) uint8, labels (N,) int64, and item names for records."""

    images: torch.Tensor
    labels: torch.Tensor
    names: list[str]

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass
class ImageData:
    spec: str
    classes: list[str]
    train: ImageSplit
    val: ImageSplit
    test: ImageSplit | None
    skipped: list[BadFile] = field(default_factory=list)
    native: Geometry | None = None  # the training images' own geometry (data/geometry.py), before resizing
    splits_made: tuple[str, ...] = ()  # the splits whose images liftlab chose (data/splits.splits_made_by_liftlab)

    @property
    def channels(self) -> int:
        return int(self.train.images.shape[1])

    def leaked_test(self) -> np.ndarray:
        """(test images,) True where a test image has an exact copy (the same decoded pixels) in the training
        or validation split: its score is not held out, so the test figures are also given without it."""
        if self.test is None:
            return np.zeros(0, dtype=bool)
        seen = {_digest(image) for split in (self.train, self.val) for image in split.images}
        return np.asarray([_digest(image) in seen for image in self.test.images], dtype=bool)

    def fingerprint(self) -> str:
        """A short hash of which image is in which split with which label: runs with the same fingerprint saw
        the same data, by name and label (a file changed in place keeps its name)."""
        digest = hashlib.sha256()
        for split_name, split in (("train", self.train), ("val", self.val), ("test", self.test)):
            for name, label in zip(split.names, split.labels.tolist(), strict=True) if split is not None else ():
                digest.update(f"{split_name}\t{name}\t{self.classes[label]}\n".encode())
        return digest.hexdigest()[:16]

    def split_record(self) -> dict[str, list[str]]:
        """The items of every split by name, so a run records exactly what it trained and tested on."""
        record = {"train": self.train.names, "val": self.val.names}
        if self.test is not None:
            record["test"] = self.test.names
        return record


def _digest(image: torch.Tensor) -> bytes:
    return hashlib.sha1(image.numpy().tobytes()).digest()


MEMORY_SHARE = 0.5  # of the memory available now: the decoded images stay resident, and training needs the rest
RESIDENT_COPIES = 2  # the decoded array, and the tensor (and device copy) the trainer keeps


def available_memory() -> int:
    """Bytes of memory available to new allocations now (Linux's MemAvailable; else physical pages free)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def check_memory(spec: str, images: int, data: DataConfig) -> None:
    """Refuse up front, with the estimate and what to change, a data set that would not fit in memory
    decoded at `data.size` (rather than be killed by the OOM killer half-way through decoding)."""
    channels = 1 if data.color == "gray" else 3
    needed = RESIDENT_COPIES * images * channels * data.size * data.size
    available = available_memory()
    if needed > MEMORY_SHARE * available:
        largest = int((MEMORY_SHARE * available / (RESIDENT_COPIES * images * channels)) ** 0.5)
        raise BadInputError(
            f"DATA {spec}: {images} images at {data.size}x{data.size} need about {needed / 2**30:.1f} GiB resident, "
            f"but {available / 2**30:.1f} GiB of memory is available; set data.size={max(largest, 8)} or less, "
            f"data.color=gray, or data.train_fraction below 1, or use a machine with more memory"
        )


def _format_bad(bad: list[BadFile], limit: int = 20) -> str:
    lines = [f"  {b.path}: {b.reason}" for b in bad[:limit]]
    if len(bad) > limit:
        lines.append(f"  ... and {len(bad) - limit} more")
    return "\n".join(lines)


def load_data(
    spec: str,
    data: DataConfig | None = None,
    *,
    skip_bad: bool = False,
    quiet: bool = True,
    cache: Path | None = None,
) -> ImageData:
    """Load DATA into memory, decoded at the recipe's size and colour mode.

    Unusable files raise BadInputError listing each with its reason, unless `skip_bad`, which
    trains on the rest and reports them in `ImageData.skipped`.

    >>> data = load_data("builtin:digits", DataConfig(size=8, color="gray"))
    >>> data.classes[:3], data.channels
    (['0', '1', '2'], 1)
    """
    data = data or DataConfig()
    cache = cache or cache_root()
    source: Source = open_source(spec, cache)
    if source.empty_classes and not data.allow_empty_classes:
        raise BadInputError(
            f"DATA {spec}: class folder(s) with no images: {', '.join(source.empty_classes)}; add images, remove "
            "the folder(s), or set data.allow_empty_classes=true to keep them as classes the model never sees"
        )
    split_items = make_splits(source, data.val_fraction, data.test_fraction, data.split_seed)
    if data.train_fraction < 1.0:
        # Keep a stratified share of train (at least one image per class): "would more data help?"
        _, kept = stratified_indices(split_items["train"].labels, [data.train_fraction], data.split_seed)
        split_items["train"] = split_items["train"].subset(kept)
    check_memory(spec, sum(len(items.labels) for items in split_items.values()), data)
    skipped: list[BadFile] = list(source.missing_files)
    missing = {b.path for b in source.missing_files}
    decoded: dict[str, ImageSplit] = {}
    for name, items in split_items.items():
        images, kept, bad = decode_items(items, data, cache, quiet=quiet)
        skipped.extend(b for b in bad if b.path not in missing)
        names = items.names(source.root)
        decoded[name] = ImageSplit(
            images=images,
            labels=torch.tensor([items.labels[i] for i in kept], dtype=torch.int64),
            names=[names[i] for i in kept],
        )
    if skipped and not skip_bad:
        raise BadInputError(
            f"DATA {spec}: {len(skipped)} file(s) cannot be used:\n{_format_bad(skipped)}\n"
            "Fix or remove them, or pass --skip-bad to train on the rest (they are listed in metrics.json)."
        )
    if len(decoded["train"]) == 0 or len(decoded["val"]) == 0:
        raise BadInputError(f"DATA {spec}: the train and val splits need at least one usable image each")
    return ImageData(
        spec=spec,
        classes=source.classes,
        train=decoded["train"],
        val=decoded["val"],
        test=decoded.get("test"),
        skipped=skipped,
        native=geometry_of_items(split_items["train"]),
        splits_made=splits_made_by_liftlab(source.splits, split_items),
    )


def load_every_image(
    spec: str, data: DataConfig, *, quiet: bool = True, cache: Path | None = None
) -> tuple[list[str], ImageSplit, list[BadFile]]:
    """Every usable image of DATA, whatever split it is in, as (classes, images, unusable files).

    For scoring a model on other data: nothing is held out, and unusable files are reported, not fatal.
    """
    cache = cache or cache_root()
    source = open_source(spec, cache)
    images: list[torch.Tensor] = []
    labels: list[int] = []
    names: list[str] = []
    skipped: list[BadFile] = list(source.missing_files)
    missing = {b.path for b in source.missing_files}
    for items in source.splits.values():
        decoded, kept, bad = decode_items(items, data, cache, quiet=quiet)
        skipped.extend(b for b in bad if b.path not in missing)
        item_names = items.names(source.root)
        images.append(decoded)
        labels.extend(items.labels[i] for i in kept)
        names.extend(item_names[i] for i in kept)
    split = ImageSplit(torch.cat(images), torch.tensor(labels, dtype=torch.int64), names)
    return source.classes, split, skipped
