"""Stratified, seeded splits: the same data and seed always give the same split."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Collection

import numpy as np

from liftlab.data.sources import Source, SplitItems


def stratified_indices(labels: list[int], fractions: list[float], seed: int) -> list[list[int]]:
    """Split item indices into len(fractions)+1 parts, class by class; the first part gets the rest.

    Every class keeps at least one item in the first part. Indices in each part are sorted.

    >>> stratified_indices([0, 0, 0, 0, 1, 1, 1, 1], [0.25], seed=0)[1].__len__()
    2
    """
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in range(len(fractions) + 1)]
    label_array = np.asarray(labels)
    for label in np.unique(label_array):
        members = np.flatnonzero(label_array == label)
        members = members[rng.permutation(len(members))]
        start = 0
        takes = [round(len(members) * fraction) for fraction in fractions]
        while sum(takes) >= len(members) and any(takes):  # keep one for the first part
            takes[takes.index(max(takes))] -= 1
        for part, take in enumerate(takes, start=1):
            parts[part].extend(members[start : start + take].tolist())
            start += take
        parts[0].extend(members[start:].tolist())
    return [sorted(part) for part in parts]


def duplicate_groups(items: SplitItems) -> list[int]:
    """For every item, the index of the first item with the same bytes (itself when it has no twin).

    Only files whose byte size another file shares are read and hashed, so a folder without duplicates
    costs one `stat` per file; in-memory images are hashed directly.
    """
    digests: list[str | None] = [None] * len(items)
    if items.images is not None:
        digests = [hashlib.sha1(image.tobytes()).hexdigest() for image in items.images]
    else:
        sizes: dict[int, list[int]] = {}
        for index, path in enumerate(items.paths or []):
            with contextlib.suppress(OSError):  # a missing file is reported by the decoder, not here
                sizes.setdefault(path.stat().st_size, []).append(index)
        for members in sizes.values():
            if len(members) > 1:
                for index in members:
                    with contextlib.suppress(OSError):
                        digests[index] = hashlib.sha1((items.paths or [])[index].read_bytes()).hexdigest()
    first: dict[str, int] = {}
    return [index if digest is None else first.setdefault(digest, index) for index, digest in enumerate(digests)]


def grouped_stratified_indices(items: SplitItems, fractions: list[float], seed: int) -> list[list[int]]:
    """`stratified_indices` over groups of identical items: exact duplicates always land in one part, so
    a split liftlab makes never puts the same image in train and test. Without duplicates it is exactly
    `stratified_indices`."""
    groups = duplicate_groups(items)
    leaders = sorted(set(groups))
    members: dict[int, list[int]] = {}
    for index, leader in enumerate(groups):
        members.setdefault(leader, []).append(index)
    parts = stratified_indices([items.labels[i] for i in leaders], fractions, seed)
    return [sorted(i for position in part for i in members[leaders[position]]) for part in parts]


def splits_made_by_liftlab(given: Collection[str], present: Collection[str]) -> tuple[str, ...]:
    """The splits of `present` whose images liftlab chose: every one when the data gave none (its items are
    `"all"`), else the carved ones and the train split they were carved from; a split the data gave, and
    which nothing was carved from, keeps exactly the images the user put there.

    >>> splits_made_by_liftlab(["all"], ["train", "val", "test"])
    ('train', 'val', 'test')
    >>> splits_made_by_liftlab(["train", "test"], ["train", "val", "test"])
    ('train', 'val')
    >>> splits_made_by_liftlab(["train", "val", "test"], ["train", "val", "test"])
    ()
    """
    if "all" in given:
        return tuple(present)
    carved = [name for name in present if name not in given]
    return tuple(name for name in present if name in carved or (carved and name == "train"))


def make_splits(source: Source, val_fraction: float, test_fraction: float, seed: int) -> dict[str, SplitItems]:
    """Train, val and (where the data has or makes one) test items for `source`.

    Given split folders are kept as they are; a missing val (and test) split is carved from train. Every
    split liftlab carves keeps exact duplicates together.
    """
    splits = source.splits
    if "all" in splits:
        everything = splits["all"]
        fractions = [val_fraction] + ([test_fraction] if test_fraction > 0 else [])
        parts = grouped_stratified_indices(everything, fractions, seed)
        result = {"train": everything.subset(parts[0]), "val": everything.subset(parts[1])}
        if test_fraction > 0:
            result["test"] = everything.subset(parts[2])
        return result
    result = dict(splits)
    carved = [name for name, fraction in (("val", val_fraction), ("test", test_fraction)) if name not in result]
    carved = [name for name in carved if name == "val" or test_fraction > 0]
    if carved:
        fractions = [val_fraction if name == "val" else test_fraction for name in carved]
        parts = grouped_stratified_indices(result["train"], fractions, seed)
        for name, part in zip(carved, parts[1:], strict=True):
            result[name] = result["train"].subset(part)
        result["train"] = result["train"].subset(parts[0])
    return result
