"""The data remedies of the catalogue: train on a share of the data, and the data review's remedies (leave out
or relabel suspect labels, leave out near-copies of held-out images), each a recipe field that `train.cleaning`
applies to the training split. `catalogue` registers them first."""

from __future__ import annotations

from liftlab.strategies.appliers import set_fields, set_value
from liftlab.strategies.registry import Setting, Strategy

DATA_REMEDIES = (
    Strategy(
        name="more-data",
        category="data",
        summary="Train on a stratified fraction of the training set, to measure what data buys.",
        helps_when="compared across fractions: a rising learning curve says more data will help",
        hurts_when="used alone: a fraction below 1 trains on less data and lowers accuracy",
        apply=set_value("data.train_fraction"),
        setting=Setting(kind="float", default="0.5", low=0.0, high=1.0, low_inclusive=False),
    ),
    Strategy(
        name="drop-suspect-labels",
        category="data",
        summary="Leave out this share of the training images whose labels look most wrong (out-of-fold heads on a "
        "frozen backbone's features, cleanlab's label quality).",
        helps_when="some training labels are wrong (the data review finds label issues)",
        hurts_when="the labels are right: the hardest true examples are left out",
        apply=set_value("data.drop_suspects"),
        setting=Setting(
            kind="float", default="0.05", low=0.0, high=0.5, low_inclusive=False, high_inclusive=False, tune=(0.01, 0.2)
        ),
    ),
    Strategy(
        name="drop-label-issues",
        category="data",
        summary="Leave out the training images cleanlab flags as label issues: as many as it estimates are wrong, "
        "from out-of-fold heads on a frozen backbone's features (cleanlab's CleanLearning rule).",
        helps_when="some training labels are wrong and the heads are mostly right (the data review finds label issues)",
        hurts_when="the heads confuse similar classes: their confusions are flagged and true examples left out",
        apply=set_fields(data__drop_label_issues=True),
    ),
    Strategy(
        name="relabel-suspects",
        category="data",
        summary="Give training images the class their out-of-fold probability names when it is at least this "
        "confident and differs from the label.",
        helps_when="some training labels are wrong and the backbone's features tell the classes apart",
        hurts_when="the classes look alike (the heads are confidently wrong) or the labels are right",
        apply=set_value("data.relabel_suspects"),
        setting=Setting(kind="float", default="0.9", low=0.5, high=1.0, high_inclusive=False, tune=(0.7, 0.98)),
    ),
    Strategy(
        name="dedupe-splits",
        category="data",
        summary="Leave out training images that are near-copies of validation or test images (pHash + features).",
        helps_when="the validation score is inflated by near-copies, so arms are chosen on memorised images",
        hurts_when="the copies are the only examples of what the test images show: accuracy measured drops, honestly",
        apply=set_fields(data__dedupe_splits=True),
    ),
)
