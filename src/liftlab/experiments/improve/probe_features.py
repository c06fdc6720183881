"""The probe search's feature passes: how many new feature rows a probe arm needs beyond what the base probe
has cached, and which arms' feature extraction fits the search's time together. Pure, tested with fake counts.
"""

from __future__ import annotations

from liftlab.config import Recipe


def new_feature_rows(base: Recipe, arm: Recipe, counts: dict[str, int]) -> tuple[int, float]:
    """(rows, cost per row in units of the base backbone's row) of the features a probe `arm` must compute
    that the `base` probe's run has cached: every view of every split for another backbone or size, else
    the mirror views of the training images when only the arm flips, and the extra test-time views when
    only the arm uses them. `counts` holds the images per split (train, val, test).

    >>> from liftlab.strategies import apply_strategies
    >>> base = Recipe.model_validate({"model": {"pretrained": "efficientnet_lite0", "finetune": "linear"},
    ...                               "data": {"size": 224}})
    >>> counts = {"train": 2000, "val": 250, "test": 250}
    >>> new_feature_rows(base, apply_strategies(base, "flip"), counts)
    (2000, 1.0)
    >>> rows, cost = new_feature_rows(base, apply_strategies(base, "pretrained=efficientnet_lite1,size=240"), counts)
    >>> rows, round(cost, 2)
    (2500, 1.4)
    """
    from liftlab.models.backbones import get
    from liftlab.train.inference import tta_view_count

    train_views = 2 if arm.augment.flip else 1
    eval_views = tta_view_count(arm.tta)
    eval_rows = counts.get("val", 0) + counts.get("test", 0)
    base_cost = get(str(base.model.pretrained)).image_cost(base.data.size)
    arm_cost = get(str(arm.model.pretrained)).image_cost(arm.data.size)
    same_features = (arm.model.pretrained, arm.data.size, arm.data.resize, arm.data.color) == (
        base.model.pretrained, base.data.size, base.data.resize, base.data.color
    )  # fmt: skip
    if not same_features:
        return counts.get("train", 0) * train_views + eval_rows * eval_views, arm_cost / base_cost
    rows = counts.get("train", 0) * (train_views - (2 if base.augment.flip else 1))
    rows += eval_rows * (eval_views - tta_view_count(base.tta))
    return max(rows, 0), 1.0


def arms_whose_features_fit(
    base: Recipe, arms: dict[str, Recipe], counts: dict[str, int], row_seconds: float, allowance: float
) -> tuple[list[str], list[str]]:
    """(kept, dropped): the probe arms whose feature extraction fits in `allowance` seconds *together*, in the
    arms' order, each distinct set of features (backbone, size, resize, colour, mirror views, test-time
    views) charged once: arms that share one (Lite1 with a linear or an MLP head) pay for it once. Charged
    arm by arm, three arms that each fitted ran the probe search to 733 s where the plan ended it at 630 s
    (a 7,020-image MRI set: their feature passes at Lite1's 240 px were outside any limit).

    >>> from liftlab.config import with_values
    >>> base = Recipe.model_validate({"model": {"pretrained": "efficientnet_lite0", "finetune": "linear"},
    ...                               "data": {"size": 224}})
    >>> lite1 = with_values(base, {"model.pretrained": "efficientnet_lite1", "data.size": 240})
    >>> mlp1 = with_values(lite1, {"model.head": "mlp"})
    >>> lite2 = with_values(base, {"model.pretrained": "efficientnet_lite2", "data.size": 260})
    >>> arms = {"lite1": lite1, "lite1-mlp": mlp1, "lite2": lite2}
    >>> arms_whose_features_fit(base, arms, {"train": 1000, "val": 100, "test": 100}, 0.01, 20.0)
    (['lite1', 'lite1-mlp'], ['lite2'])
    """
    kept: list[str] = []
    dropped: list[str] = []
    paid: set[tuple[object, ...]] = set()
    spent = 0.0
    for name, arm in arms.items():
        features = (arm.model.pretrained, arm.data.size, arm.data.resize, arm.data.color, arm.augment.flip, arm.tta)
        rows, cost = new_feature_rows(base, arm, counts)
        seconds = 0.0 if features in paid else rows * cost * row_seconds
        if spent + seconds <= allowance:
            kept.append(name)
            spent += seconds
            paid.add(features)
        else:
            dropped.append(name)
    return kept, dropped
