"""`liftlab data check`: what is in a data set and what is wrong with it, before any training."""

from __future__ import annotations

import hashlib
import os
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from liftlab.config import DataConfig
from liftlab.data.cache import cache_root
from liftlab.data.images import BadFile, BadImageError, stored_geometry
from liftlab.data.sources import SplitItems, open_source
from liftlab.data.splits import make_splits
from liftlab.progress import make_progress


@dataclass
class CheckReport:
    spec: str
    classes: list[str]
    counts: dict[str, dict[str, int]]
    imbalance_ratio: float | None
    image_size: dict[str, dict[str, float]]
    image_modes: dict[str, int] = field(default_factory=dict)  # Pillow modes (RGB, L, RGBA, ...) and their counts
    unreadable: list[BadFile] = field(default_factory=list)
    duplicates_within: list[list[str]] = field(default_factory=list)
    duplicates_across: list[list[str]] = field(default_factory=list)
    empty_classes: list[str] = field(default_factory=list)
    non_image_files: list[str] = field(default_factory=list)
    splits_made_by_liftlab: bool = False
    split_folders: dict[str, str | None] = field(default_factory=dict)
    """Per split, the folder it was read from, or None where liftlab carved it (from train, or from all)."""
    train_image_size: dict[str, dict[str, float]] = field(default_factory=dict)
    """`image_size` over the training split alone: what `improve`'s data profile chooses sizes from (the test
    split decides nothing)."""
    hidden_folders: list[str] = field(default_factory=list)
    """Dot-folders inside class folders (`.ipynb_checkpoints/`): skipped, never read as class images."""

    @property
    def leaked_test(self) -> list[str]:
        """Test items with an exact copy in the training or validation split: their test scores are not
        held out, so `improve`, `train` and `evaluate` also score the test split without them."""
        leaked = []
        for group in self.duplicates_across:
            if {member.split(":", 1)[0] for member in group} & {"train", "val"}:
                leaked += [member.split(":", 1)[1] for member in group if member.startswith("test:")]
        return leaked

    def split_size(self, split: str) -> int:
        """The number of items in `split` (0 for a split the data does not have)."""
        return sum(self.counts.get(split, {}).values())

    @property
    def split_sizes(self) -> dict[str, int]:
        """The number of items in each split the data has."""
        return {split: self.split_size(split) for split in self.counts}

    @property
    def native_short_side(self) -> float | None:
        """The median short side of the training images (None when none could be measured): the training
        split's geometry, what sizes are chosen from (the test split decides nothing)."""
        return self.train_image_size.get("short_side", {}).get("median")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["n_unreadable"] = len(self.unreadable)
        data["n_non_image_files"] = len(self.non_image_files)
        data["leaked_test"] = self.leaked_test
        return data


@dataclass
class _FileFacts:
    digest: str | None
    width: int | None
    height: int | None
    bad: BadFile | None
    mode: str | None = None


def _inspect_file(path: Path) -> _FileFacts:
    try:
        digest = hashlib.sha1(path.read_bytes()).hexdigest()
    except OSError as error:
        return _FileFacts(None, None, None, BadFile(str(path), f"cannot be read ({error.strerror})"))
    try:
        width, height, mode = stored_geometry(path)
    except BadImageError as error:
        return _FileFacts(digest, None, None, error.bad)
    return _FileFacts(digest, width, height, None, mode)


def _inspect_split(items: SplitItems, quiet: bool, label: str) -> list[_FileFacts]:
    if items.images is not None:
        _, channels, height, width = items.images.shape
        mode = "L" if channels == 1 else "RGB"
        return [
            _FileFacts(hashlib.sha1(image.tobytes()).hexdigest(), width, height, None, mode) for image in items.images
        ]
    paths = items.paths or []
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool, make_progress(quiet) as progress:
        task = progress.add_task(f"check {label}", total=len(paths), info="files")
        facts = []
        for fact in pool.map(_inspect_file, paths, chunksize=64):
            facts.append(fact)
            progress.advance(task)
    return facts


def _spread(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    array = np.asarray(values, dtype=float)
    return {"min": float(array.min()), "median": float(np.median(array)), "max": float(array.max())}


def _sizes(sides: list[tuple[float, float]]) -> dict[str, dict[str, float]]:
    """Spreads of width, height, aspect ratio and short side over (width, height) pairs."""
    return {
        "width": _spread([w for w, _ in sides]),
        "height": _spread([h for _, h in sides]),
        "aspect_ratio": _spread([w / h for w, h in sides]),
        "short_side": _spread([min(w, h) for w, h in sides]),
    }


def check_data(spec: str, data: DataConfig | None = None, quiet: bool = True) -> CheckReport:
    """Inspect every item of DATA: counts, sizes, unreadable files, duplicates within and across splits.

    Unsplit data is checked on the splits liftlab would make with `data`'s fractions and seed.
    """
    data = data or DataConfig()
    source = open_source(spec, cache_root())
    splits = make_splits(source, data.val_fraction, data.test_fraction, data.split_seed)
    counts: dict[str, dict[str, int]] = {}
    by_digest: dict[str, list[tuple[str, str]]] = defaultdict(list)
    unreadable = list(source.missing_files)
    missing = {b.path for b in unreadable}
    sides: dict[str, list[tuple[float, float]]] = defaultdict(list)  # (width, height) per split
    modes: Counter[str] = Counter()
    for split_name, items in splits.items():
        per_class = Counter(items.labels)
        counts[split_name] = {name: per_class.get(i, 0) for i, name in enumerate(source.classes)}
        names = items.names(source.root)
        for name, facts in zip(names, _inspect_split(items, quiet, split_name), strict=True):
            if facts.bad is not None:
                if facts.bad.path not in missing:
                    unreadable.append(facts.bad)
                continue
            if facts.digest is not None:
                by_digest[facts.digest].append((split_name, name))
            if facts.mode:
                modes[facts.mode] += 1
            if facts.width and facts.height:
                sides[split_name].append((facts.width, facts.height))
    totals = [sum(counts[s].get(c, 0) for s in counts) for c in source.classes]
    nonzero = [t for t in totals if t > 0]
    within: list[list[str]] = []
    across: list[list[str]] = []
    for group in by_digest.values():
        if len(group) < 2:
            continue
        names = [f"{split}:{name}" for split, name in group]
        (across if len({split for split, _ in group}) > 1 else within).append(names)
    return CheckReport(
        spec=spec,
        classes=source.classes,
        counts=counts,
        imbalance_ratio=(max(nonzero) / min(nonzero)) if nonzero else None,
        image_size=_sizes([pair for pairs in sides.values() for pair in pairs]),
        train_image_size=_sizes(sides["train"]),
        image_modes=dict(modes),
        unreadable=unreadable,
        duplicates_within=within,
        duplicates_across=across,
        empty_classes=source.empty_classes,
        non_image_files=source.non_image_files,
        splits_made_by_liftlab=not source.predefined_splits,
        split_folders={name: source.split_folders.get(name) for name in splits},
        hidden_folders=source.hidden_folders,
    )
