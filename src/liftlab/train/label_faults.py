"""Which labels look wrong: every image's class probabilities from a model that never saw it (k-fold linear
heads on cached frozen-backbone features), and cleanlab's confident learning on those probabilities.

The heads are scikit-learn's logistic regression on the standardised features: on cached features a fold
trains in a second or two, so out-of-fold probabilities for a few thousand images cost seconds once the
features are cached. cleanlab (Northcutt et al., "Confident learning", 2021) then estimates which labels are
issues, how noisy each class is and which classes are confused; nothing of that is re-derived here.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from cleanlab.dataset import find_overlapping_classes, rank_classes_by_label_quality
from cleanlab.filter import find_label_issues
from cleanlab.rank import get_label_quality_scores
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from liftlab.errors import BadInputError

FOLDS = 5
"""Heads per out-of-fold pass: each image is scored by a head trained on the other 80% (cleanlab's examples
use 5 folds; more folds cost linearly and change the probabilities little once each head sees 80%)."""
HEAD_PENALTY = 0.055
"""L2 penalty per image of the logistic heads on standardised 1280-d features, as scikit-learn's
`C = 1 / (HEAD_PENALTY * images fitted)`, so a fold of 200 images is held back as much as one of 2,000: far
harder than scikit-learn's default (C = 1), so a head cannot fit its folds' wrong labels and then agree with
them on held-out look-alikes. Chosen among C = 0.01, 0.1 and 1 (penalties 0.055, 0.0055, 0.00055) on TrashNet's
1,820 images a fold, training and validation images with 5% of their labels flipped (2 seeds;
docs/results.md, "Label review"): flipped images in the top 10% of suspects 89-93% at 0.01, 88-92% at 0.1,
88-90% at 1; out-of-fold accuracy against the true labels 85% against 83%."""
HEAD_ITERATIONS = 300
LABEL_FILTER = "prune_by_noise_rate"
"""cleanlab's rule for which labels are issues (its default): per pair of classes, remove as many of the
least-confident images as the confident joint estimates were mislabelled between them."""


@dataclass(frozen=True)
class LabelFaults:
    """Per image, the out-of-fold `probabilities` (N, C), cleanlab's `issue` flag, a `suspicion` in [0, 1]
    (1 - cleanlab's self-confidence label quality: higher is more suspect) and the `suggested` class (the
    out-of-fold argmax); per class, the estimated share of wrong labels; the most confused class pairs."""

    probabilities: np.ndarray
    issue: np.ndarray
    suspicion: np.ndarray
    suggested: np.ndarray
    class_noise: tuple[float, ...]
    confused_pairs: tuple[tuple[int, int, int], ...]
    """(class a, class b, images estimated to carry a's label while being b's or the reverse), most first."""
    folds: int


def folds_for(labels: np.ndarray, folds: int = FOLDS) -> int:
    """FOLDS, or fewer when the smallest class has fewer images (each fold must see every class)."""
    smallest = int(np.bincount(labels).min()) if len(labels) else 0
    if smallest < 2:
        raise BadInputError(
            f"label review: a class has {smallest} image(s) in the reviewed splits; out-of-fold probabilities "
            "need at least 2 images per class"
        )
    return min(folds, smallest)


def out_of_fold_probabilities(
    features: np.ndarray, labels: np.ndarray, classes: int, folds: int = FOLDS, seed: int = 0
) -> np.ndarray:
    """(N, classes) probabilities of each image from a logistic head fitted on the other folds.

    >>> rng = np.random.default_rng(0)
    >>> labels = np.repeat([0, 1], 20)
    >>> features = rng.normal(size=(40, 3)) + labels[:, None] * 3.0
    >>> probabilities = out_of_fold_probabilities(features, labels, 2)
    >>> float((probabilities.argmax(1) == labels).mean())
    1.0
    """
    n_splits = folds_for(labels, folds)
    probabilities = np.zeros((len(labels), classes))
    splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for fitted_on, scored in splitter.split(features, labels):
        strength = 1.0 / (HEAD_PENALTY * len(fitted_on))
        head = make_pipeline(StandardScaler(), LogisticRegression(C=strength, max_iter=HEAD_ITERATIONS))
        with warnings.catch_warnings():
            # an unconverged head at HEAD_ITERATIONS is still a ranking of the images; its last iterations
            # move probabilities in the third decimal
            warnings.simplefilter("ignore", ConvergenceWarning)
            head.fit(features[fitted_on], labels[fitted_on])
        present = head.classes_  # a class absent from the fitted folds keeps probability 0
        probabilities[np.ix_(scored, present)] = head.predict_proba(features[scored])
    return probabilities


def label_faults(labels: np.ndarray, probabilities: np.ndarray, folds: int) -> LabelFaults:
    """cleanlab's reading of out-of-fold `probabilities` against the given `labels`."""
    classes = probabilities.shape[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cleanlab warns of classes with few images; the review reports counts
        # one process: cleanlab's pool hands its work over through module globals, which a pool started inside
        # one of liftlab's worker processes does not share (NameError), and a few thousand rows take milliseconds
        issue = find_label_issues(labels, probabilities, filter_by=LABEL_FILTER, n_jobs=1)
        quality = get_label_quality_scores(labels, probabilities, method="self_confidence")
        per_class = rank_classes_by_label_quality(labels, probabilities)
        overlapping = find_overlapping_classes(labels, probabilities)
    noise = dict(zip(per_class["Class Index"], per_class["Label Noise"], strict=True))
    confused = tuple(
        (int(row["Class Index A"]), int(row["Class Index B"]), int(row["Num Overlapping Examples"]))
        for _, row in overlapping.iterrows()
        if int(row["Num Overlapping Examples"]) > 0
    )
    return LabelFaults(
        probabilities=probabilities,
        issue=np.asarray(issue, dtype=bool),
        suspicion=1.0 - np.asarray(quality, dtype=float),
        suggested=probabilities.argmax(1),
        class_noise=tuple(float(noise.get(index, 0.0)) for index in range(classes)),
        confused_pairs=confused,
        folds=folds,
    )
