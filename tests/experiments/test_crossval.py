"""Selection when validation saturates: the pooled folds score every training and validation image once and
hold no test split, and the cross-validated ranking follows the arms' true effect (fake features:
each arm sees the classes with another signal strength); an accuracy tie between fine-tune and probe is broken
by the validation loss."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from liftlab.config import Recipe, apply_overrides
from liftlab.data.loading import ImageData, ImageSplit
from liftlab.experiments.improve.crossval import cross_validate, pooled_folds, saturated
from liftlab.experiments.improve.finetune_plan import keeps_finetune


def _data(n_train: int = 90, n_val: int = 9, n_test: int = 12) -> ImageData:
    def split(start: int, n: int) -> ImageSplit:
        ids = range(start, start + n)
        return ImageSplit(torch.zeros((n, 1, 2, 2), dtype=torch.uint8), torch.tensor([i % 3 for i in ids]),
                          [f"i{i}" for i in ids])  # fmt: skip

    return ImageData("fake", ["a", "b", "c"], split(0, n_train), split(n_train, n_val), split(1000, n_test))


def test_pooled_folds_score_each_image_once_and_hold_no_test_split() -> None:
    data = _data()
    folds = pooled_folds(data, 5)
    assert len(folds) == 5
    scored = [name for fold in folds for name in fold.val.names]
    assert sorted(scored) == sorted(data.train.names + data.val.names)
    for fold in folds:
        assert not set(fold.train.names) & set(fold.val.names)
        assert fold.test is None and data.test is not None
        counts = torch.bincount(fold.val.labels, minlength=3)
        assert int(counts.max() - counts.min()) <= 1  # stratified


def test_the_cross_validated_ranking_follows_the_true_effect() -> None:
    """Arms whose (fake) features carry the class more strongly score higher: the ranking is right where a
    validation split of 9 images sees every arm at 100%."""
    rng = np.random.default_rng(0)
    data = _data(n_train=300, n_val=9)
    noise = {name: rng.normal(size=(2000, 8)) for name in ("weak", "medium", "strong")}
    strength = {"weak": 0.5, "medium": 0.9, "strong": 1.5}
    recipes = {name: apply_overrides(Recipe(), [f"seed={i}"]) for i, name in enumerate(strength)}

    def features(name: str, split: ImageSplit) -> np.ndarray:
        index = [int(n[1:]) for n in split.names]
        return noise[name][index] + strength[name] * np.eye(3, 8)[split.labels.numpy()]

    def score(recipe: Recipe, fold: ImageData) -> float:
        name = next(n for n, r in recipes.items() if r == recipe)
        head = LogisticRegression(max_iter=500).fit(features(name, fold.train), fold.train.labels.numpy())
        return float(head.score(features(name, fold.val), fold.val.labels.numpy()))

    assert saturated({"weak": 1.0, "medium": 1.0, "strong": 1.0, "baseline": 0.67}, 9) == ["weak", "medium", "strong"]
    assert not saturated({"weak": 1.0, "medium": 0.78}, 9)
    ranked = cross_validate(recipes, pooled_folds(data), score)
    assert [result.name for result in ranked] == ["strong", "medium", "weak"]
    assert all(len(result.folds) == 5 for result in ranked)


def test_an_accuracy_tie_goes_to_the_lower_validation_loss() -> None:
    assert keeps_finetune(1.0, 1.0, False, (0.01, 0.2))
    assert not keeps_finetune(1.0, 1.0, False, (0.3, 0.2))
    assert not keeps_finetune(1.0, 1.0, True, (0.01, 0.2))  # a cut run is never kept
    assert not keeps_finetune(1.0, 1.0, False)  # no losses: the probe stays, as before
