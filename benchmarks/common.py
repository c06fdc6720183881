"""Helpers shared by the benchmarks: where CIFAR-10 is, and unpacking it into the cache once."""

from __future__ import annotations

import tarfile
from pathlib import Path

from liftlab.data import cache_root

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def cifar10_folder() -> Path:
    """The full CIFAR-10 JPEG set, unpacked from ../shared/datasets into liftlab's cache on first use."""
    archive = SHARED / "cifar10" / "cifar10-jpg.tar.gz"
    target = cache_root() / "datasets" / "cifar10-jpg"
    marker = target / ".unpacked"
    if not marker.exists():
        if not archive.exists():
            raise SystemExit(f"{archive} is missing: the benchmarks need ../shared/datasets beside the repo")
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive) as tar:
            tar.extractall(target, filter="data")
        marker.touch()
    # the archive may hold one top folder; find the one with train/ and test/
    for candidate in [target, *sorted(p for p in target.iterdir() if p.is_dir())]:
        if (candidate / "train").is_dir() and (candidate / "test").is_dir():
            return candidate
    raise SystemExit(f"{target}: no train/ and test/ folders after unpacking {archive}")


def cifar10_subset(per_class: int) -> Path:
    """`per_class` training images of each class (the first ones by file name) and the full test set,
    copied into the cache as their own ImageFolder (train/ and test/), so DATA stays one plain folder."""
    import shutil

    full = cifar10_folder()
    target = cache_root() / "datasets" / f"cifar10-{per_class}pc"
    marker = target / ".copied"
    if not marker.exists():
        for class_folder in sorted((full / "train").iterdir()):
            destination = target / "train" / class_folder.name
            destination.mkdir(parents=True, exist_ok=True)
            for image in sorted(class_folder.iterdir())[:per_class]:
                shutil.copy2(image, destination / image.name)
        shutil.copytree(full / "test", target / "test", dirs_exist_ok=True)
        marker.touch()
    return target
