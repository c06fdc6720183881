"""The data remedies a recipe can ask for, applied to the training split before training: drop the most suspect
labels (`data.drop_suspects`, a share), drop the ones cleanlab flags (`data.drop_label_issues`), relabel the
confidently wrong ones (`data.relabel_suspects`), or drop training images that are near-copies of validation or
test images (`data.dedupe_splits`).

Every rule is fitted on the training split alone: the suspects come from out-of-fold heads over the training
images (the validation images, the yardstick every arm is chosen by, are never relabelled or filtered, and
their labels fit nothing); near-copies need no label, so test images take part only as images. The review
backbone's features are cached by content, and the ranking by the training split's items, so every arm and
seed of an ablation computes it once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace

import numpy as np

from liftlab.config import Recipe
from liftlab.data.cache import cache_root
from liftlab.data.loading import ImageData, ImageSplit, load_data
from liftlab.io import write_json
from liftlab.train import label_faults, neighbours
from liftlab.train.embedding import REVIEW_BACKBONE, Embedder, review_data_config


@dataclass(frozen=True)
class TrainingSuspects:
    """Per training item name: its label suspicion in [0, 1], the out-of-fold suggested class and that class's
    out-of-fold probability; the names of the training items cleanlab flags as label issues, and of those with
    a near-copy in val or test."""

    suspicion: dict[str, float]
    suggested: dict[str, int]
    confidence: dict[str, float]
    copies_of_held_out: tuple[str, ...]
    flagged: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cleaning:
    """What a recipe's data remedies did to the training split (`FitResult.extra["cleaning"]`)."""

    dropped_suspects: int
    relabelled: int
    dropped_copies: int
    kept: int
    dropped_issues: int = 0

    def record(self) -> dict[str, int]:
        return asdict(self)


def _key(data: ImageData, side: int) -> str:
    parts = [data.spec, REVIEW_BACKBONE, str(side), str(label_faults.FOLDS), str(label_faults.HEAD_PENALTY),
             neighbours.RULE, *data.train.names, *map(str, data.train.labels.tolist()), *data.val.names,
             *(data.test.names if data.test is not None else [])]  # fmt: skip
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:24]


def suspects_of(spec: str, recipe: Recipe, native_short_side: float | None, quiet: bool = True) -> TrainingSuspects:
    """The training split's suspects for DATA `spec` split as `recipe.data` splits it, seen at the review side."""
    config = review_data_config(recipe.data, native_short_side)
    data = load_data(spec, config, skip_bad=True, quiet=quiet)
    cached = cache_root() / "suspects" / f"{_key(data, config.size)}.json"
    if cached.is_file():
        try:
            record = json.loads(cached.read_text())
            return TrainingSuspects(record["suspicion"], record["suggested"], record["confidence"],
                                    tuple(record["copies_of_held_out"]), tuple(record["flagged"]))  # fmt: skip
        except (OSError, ValueError, KeyError):
            cached.unlink(missing_ok=True)  # an unreadable entry is recomputed, never trusted
    embedder = Embedder.for_review(data.channels, config.size)
    held_out = [split for split in (data.val, data.test) if split is not None and len(split)]
    train_x = embedder(data.train.images, quiet=quiet, label="review features train")[0].numpy()
    labels = data.train.labels.numpy()
    folds = label_faults.folds_for(labels)
    probabilities = label_faults.out_of_fold_probabilities(train_x, labels, len(data.classes), folds)
    faults = label_faults.label_faults(labels, probabilities, folds)
    pairs, _ = neighbours.near_copies_over(
        [train_x, *(embedder(split.images, quiet=quiet)[0].numpy() for split in held_out)],
        [data.train.images, *(split.images for split in held_out)],
    )
    n_train = len(labels)  # the training images come first: a lower index is a training image
    copies = sorted({pair.first if pair.first < n_train else pair.second
                     for pair in pairs if (pair.first < n_train) != (pair.second < n_train)})  # fmt: skip
    names = data.train.names
    suspects = TrainingSuspects(
        suspicion={name: float(faults.suspicion[i]) for i, name in enumerate(names)},
        suggested={name: int(faults.suggested[i]) for i, name in enumerate(names)},
        confidence={name: float(probabilities[i, faults.suggested[i]]) for i, name in enumerate(names)},
        copies_of_held_out=tuple(names[i] for i in copies),
        flagged=tuple(names[i] for i in np.flatnonzero(faults.issue)),
    )
    write_json(cached, asdict(suspects))
    return suspects


def _among(names: list[str], chosen: tuple[str, ...]) -> np.ndarray:
    """(len(names),) True where the name is one of `chosen`."""
    wanted = set(chosen)
    return np.array([name in wanted for name in names], dtype=bool)


def wants_cleaning(recipe: Recipe) -> bool:
    data = recipe.data
    return data.drop_suspects > 0 or data.drop_label_issues or data.relabel_suspects > 0 or data.dedupe_splits


def cleaned(
    recipe: Recipe, data: ImageData, quiet: bool = True, suspects: TrainingSuspects | None = None
) -> tuple[ImageData, Cleaning | None]:
    """`data` with the recipe's data remedies applied to its training split (unchanged without any); the
    suspects are those of `data.spec` (`suspects_of`) unless given."""
    if not wants_cleaning(recipe):
        return data, None
    if suspects is None:
        short_side = None if data.native is None else data.native.short_side
        suspects = suspects_of(data.spec, recipe, short_side, quiet)
    names = data.train.names
    keep = np.ones(len(names), dtype=bool)
    labels = data.train.labels.clone()
    dropped = relabelled = copies = issues = 0
    if recipe.data.dedupe_splits:
        is_copy = _among(names, suspects.copies_of_held_out)
        copies = int(is_copy.sum())
        keep &= ~is_copy
    if recipe.data.drop_label_issues:
        is_issue = _among(names, suspects.flagged) & keep
        issues = int(is_issue.sum())
        keep &= ~is_issue
    if recipe.data.relabel_suspects > 0:
        for index, name in enumerate(names):
            suggested = suspects.suggested.get(name)
            if (suggested is not None and suggested != int(labels[index])
                    and suspects.confidence[name] >= recipe.data.relabel_suspects):  # fmt: skip
                labels[index] = suggested
                relabelled += 1
    if recipe.data.drop_suspects > 0:
        # the share is of the whole training split; images already relabelled are no longer suspect
        score = np.array([suspects.suspicion.get(name, 0.0) for name in names])
        score[(labels != data.train.labels).numpy()] = -1.0
        order = [i for i in np.argsort(-score, kind="stable") if keep[i]]
        worst = order[: round(recipe.data.drop_suspects * len(names))]
        keep[worst] = False
        dropped = len(worst)
    kept = np.flatnonzero(keep)
    train = ImageSplit(data.train.images[kept], labels[kept], [names[i] for i in kept])
    return replace(data, train=train), Cleaning(dropped, relabelled, copies, len(kept), issues)
