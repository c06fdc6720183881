"""Selection that can still see when the validation split cannot: when every arm scores (nearly) perfectly on a
small validation split, the arms are ranked by k-fold cross-validated accuracy over the training and validation
images together. The test split still chooses nothing: it stays out of every fold.

For arms trained on cached features (probes) a fold costs a head's training, seconds, so K folds per arm are
cheap; each fold is the same `fit` with the pooled images re-split, so the arm's recipe (views, head, smoothing,
backbone) is exactly what is scored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold

from liftlab.config import Recipe
from liftlab.data.loading import ImageData, ImageSplit

FOLDS = 5
SATURATED_ERRORS = 1
"""Validation is saturated when two or more arms (the baseline counts) make at most this many errors on it:
one image is within any arm's noise, so the best arms cannot be told apart there."""


def saturated(val_acc: Mapping[str, float | None], n_val: int) -> list[str]:
    """The arms validation cannot tell apart at the top (each within SATURATED_ERRORS of perfect), when there
    are two or more of them; else an empty list.

    >>> saturated({"baseline": 1.0, "flip": 1.0, "crop": 0.7}, 72), saturated({"baseline": 1.0, "flip": 0.97}, 72)
    (['baseline', 'flip'], [])
    """
    floor = 1.0 - SATURATED_ERRORS / max(n_val, 1) - 1e-9
    tied = [name for name, value in val_acc.items() if value is not None and value >= floor]
    return tied if len(tied) >= 2 else []


def pooled_folds(data: ImageData, folds: int = FOLDS, seed: int = 0) -> list[ImageData]:
    """`data` re-split K ways: the training and validation images pooled, each fold once the validation split
    (stratified); the folds have no test split (nothing here scores it, and a probe would otherwise score it)."""
    images = torch.cat([data.train.images, data.val.images])
    labels = torch.cat([data.train.labels, data.val.labels])
    names = data.train.names + data.val.names
    n_splits = max(2, min(folds, int(torch.bincount(labels).min())))
    splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    result = []
    for fitted_on, scored in splitter.split(np.zeros(len(labels)), labels.numpy()):
        train = ImageSplit(images[fitted_on], labels[fitted_on], [names[i] for i in fitted_on])
        val = ImageSplit(images[scored], labels[scored], [names[i] for i in scored])
        result.append(replace(data, train=train, val=val, test=None))
    return result


@dataclass(frozen=True)
class CrossValidated:
    """An arm's accuracy on each held-out fold and their mean (each pooled image scored once)."""

    name: str
    folds: tuple[float, ...]

    @property
    def mean(self) -> float:
        return float(np.mean(self.folds))


Fold = TypeVar("Fold")


def cross_validate(
    recipes: dict[str, Recipe], folds: Sequence[Fold], score: Callable[[Recipe, Fold], float]
) -> list[CrossValidated]:
    """Each arm scored on every fold, best mean first (ties keep the arms' order). `score(recipe, fold)`: the
    validation accuracy of `recipe` trained on one fold's training part (the trainer's `fold_score` by fold
    number in the product; a fake in tests)."""
    results = [CrossValidated(name, tuple(score(recipe, fold) for fold in folds)) for name, recipe in recipes.items()]
    return sorted(results, key=lambda result: -result.mean)
