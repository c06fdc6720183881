"""Stratified, seeded splits: the same data and seed always give the same split."""

from __future__ import annotations

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


def make_splits(source: Source, val_fraction: float, test_fraction: float, seed: int) -> dict[str, SplitItems]:
    """Train, val and (where the data has or makes one) test items for `source`.

    Predefined train/test folders are kept; a missing val split is carved from train.
    """
    splits = source.splits
    if "all" in splits:
        everything = splits["all"]
        fractions = [val_fraction] + ([test_fraction] if test_fraction > 0 else [])
        parts = stratified_indices(everything.labels, fractions, seed)
        result = {"train": everything.subset(parts[0]), "val": everything.subset(parts[1])}
        if test_fraction > 0:
            result["test"] = everything.subset(parts[2])
        return result
    result = dict(splits)
    if "val" not in result:
        train_part, val_part = stratified_indices(result["train"].labels, [val_fraction], seed)
        result["val"] = result["train"].subset(val_part)
        result["train"] = result["train"].subset(train_part)
    return result
