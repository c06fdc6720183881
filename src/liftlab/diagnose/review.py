"""`liftlab data review`: the data's faults that cap accuracy or falsify its test score, found from one pass of
a frozen backbone over every image: labels that look wrong (out-of-fold probabilities + cleanlab), near-copies
within and across splits (pHash + features) and outliers (far from every other image in feature space).

No rule is fitted on the test split: label suspicion and outlier scores are computed over the training and
validation images only; test images take part only in the near-copy pairs (which need no label), so a test
image that copies a training image is named.
"""

from __future__ import annotations

import base64
import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from liftlab.config import DataConfig
from liftlab.data.cache import cache_root
from liftlab.data.geometry import geometry_of_items
from liftlab.data.loading import ImageData, ImageSplit, load_data
from liftlab.data.sources import open_source
from liftlab.data.splits import make_splits
from liftlab.diagnose.findings import LABEL_REVIEW_ACCURACY
from liftlab.diagnose.review_csv import review_csv_text
from liftlab.errors import BadInputError
from liftlab.io import write_json, write_text
from liftlab.records.review import (
    LABEL_ISSUE,
    OUTLIER,
    ClassLabelNoise,
    ConfusedClasses,
    NearCopyPair,
    Review,
    ReviewedImage,
    ReviewSettings,
)
from liftlab.report.review import SHOWN, write_review_page
from liftlab.train import label_faults, neighbours
from liftlab.train.embedding import REVIEW_BACKBONE, Embedder, review_data_config
from liftlab.train.features import FEATURE_BATCH

OUTLIER_SHARE = 0.01
"""Share of the training and validation images flagged as outliers: the farthest from their nearest neighbours.
A ranking, not a test: on clean data it still names the 1% least typical images, for a person to look at."""
THUMBNAIL_SIDE = 96
REVIEW_OVERHEAD_S = 0.0032
"""Seconds per image of a review besides the forward passes, measured with the feature cache warm (TrashNet,
2,527 images at 224 px, 8 s on this project's 2-core AMD machine: decoding from the image cache, pHashes,
5-fold heads, cleanlab)."""
PAIR_SECONDS = 1.4e-7
"""Seconds per pair of images of the two neighbour searches, measured on this 2-core machine while another job
ran: near-copies (a matrix product, 30,000 rows of 1,280 features in 27.6 s: 3.1e-8) and cleanlab's outlier
scores (scikit-learn's brute-force cosine neighbours, 10,000 rows in 11.2 s: 1.1e-7). Nothing for TrashNet's
2,527 images; about 8 minutes for CIFAR-10's 60,000, which the diagnosis then skips under a short budget."""
NAMED_COPIES = 3
"""Near-copies named in one image's reason; the report lists every pair."""


@dataclass(frozen=True)
class ReviewOptions:
    folds: int = label_faults.FOLDS
    outlier_share: float = OUTLIER_SHARE
    seed: int = 0
    skip_bad: bool = False
    quiet: bool = True
    data: DataConfig = field(default_factory=DataConfig)

    def __post_init__(self) -> None:
        if self.folds < 2:
            raise BadInputError(f"--folds: expected at least 2 folds, found {self.folds}")
        if not 0.0 <= self.outlier_share < 0.5:
            raise BadInputError(f"--outlier-share: expected a share in [0, 0.5), found {self.outlier_share}")


def load_for_review(spec: str, options: ReviewOptions) -> tuple[ImageData, Path | None]:
    """DATA decoded at the review backbone's side (from the training images' own short side), split as every
    other command splits it, and the folder its item names are relative to (None for in-memory data)."""
    source = open_source(spec, cache_root())
    train_items = make_splits(source, options.data.val_fraction, options.data.test_fraction, options.data.split_seed)
    geometry = geometry_of_items(train_items["train"])
    config = review_data_config(options.data, None if geometry is None else geometry.short_side)
    data = load_data(spec, config, skip_bad=options.skip_bad, quiet=options.quiet)
    return data, source.root


@dataclass(frozen=True)
class ReviewedData:
    """A review with what its report shows: a JPEG thumbnail (base64) of each image it pictures."""

    review: Review
    thumbnails: dict[str, str]


def thumbnail(image: torch.Tensor, side: int = THUMBNAIL_SIDE) -> str:
    array = image.permute(1, 2, 0).numpy()
    picture = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
    picture.thumbnail((side, side))
    buffer = io.BytesIO()
    picture.convert("RGB").save(buffer, "JPEG", quality=85)
    return base64.b64encode(buffer.getvalue()).decode()


def review_data(
    data: ImageData, root: Path | None, options: ReviewOptions, embedder: Embedder | None = None
) -> ReviewedData:
    """Review `data` (decoded at the review side, `load_for_review`); `root` turns item names into paths."""
    started = time.perf_counter()
    side = int(data.train.images.shape[-1])
    splits: list[tuple[str, ImageSplit]] = [("train", data.train), ("val", data.val)]
    if data.test is not None and len(data.test):
        splits.append(("test", data.test))
    embedder = embedder or Embedder.for_review(data.channels, side)
    features = {name: embedder(split.images, quiet=options.quiet, label=f"features {name}")[0].numpy()
                for name, split in splits}  # fmt: skip
    paths = {name: [str(root / n) if root is not None else n for n in split.names] for name, split in splits}

    reviewed = ["train", "val"]
    x = np.concatenate([features[name] for name in reviewed])
    y = np.concatenate([dict(splits)[name].labels.numpy() for name in reviewed])
    folds = label_faults.folds_for(y, options.folds)
    probabilities = label_faults.out_of_fold_probabilities(x, y, len(data.classes), folds, options.seed)
    faults = label_faults.label_faults(y, probabilities, folds)
    outlier = neighbours.outlier_scores(x)
    cut = np.quantile(outlier, 1.0 - options.outlier_share) if options.outlier_share > 0 else np.inf
    is_outlier = outlier >= cut

    pairs, located = neighbours.near_copies_over([features[name] for name, _ in splits],
                                                 [split.images for _, split in splits])  # fmt: skip
    every = [(splits[part][0], index) for part, index in located]
    path_of = [paths[name][index] for name, index in every]
    named_pairs = tuple(NearCopyPair(path_of[p.first], every[p.first][0], path_of[p.second], every[p.second][0],
                                     p.similarity, p.hash_bits) for p in pairs)  # fmt: skip
    group_by_path = {path_of[i]: group for i, group in _group_numbers(len(every), pairs).items()}
    made_by = {name: "liftlab" if name in data.splits_made else "data" for name, _ in splits}
    leaked = sorted({every[index][1] for p in pairs for index, other in ((p.first, p.second), (p.second, p.first))
                     if every[index][0] == "test" and every[other][0] != "test"})  # fmt: skip
    copies_of: dict[str, list[str]] = {}
    for pair in named_pairs:
        copies_of.setdefault(pair.first, []).append(f"{pair.second_split}:{pair.second}")
        copies_of.setdefault(pair.second, []).append(f"{pair.first_split}:{pair.first}")

    def copy_reason(path: str) -> tuple[str, ...]:
        found = copies_of.get(path, [])
        if not found:
            return ()
        more = f" and {len(found) - NAMED_COPIES} more" if len(found) > NAMED_COPIES else ""
        return (f"near-copy of {', '.join(found[:NAMED_COPIES])}{more}",)

    rows: list[ReviewedImage] = []
    offset = 0
    for name in reviewed:
        split = dict(splits)[name]
        for index in range(len(split)):
            row = offset + index
            given, suggested = int(y[row]), int(faults.suggested[row])
            reasons: list[str] = []
            if faults.issue[row]:
                reasons.append(f"{LABEL_ISSUE}: looks like {data.classes[suggested]} "
                               f"({probabilities[row, suggested]:.0%} out of fold)")  # fmt: skip
            if is_outlier[row]:
                reasons.append(f"{OUTLIER}: among the {options.outlier_share:.0%} farthest from the other images")
            path = paths[name][index]
            rows.append(ReviewedImage(path, name, data.classes[given], data.classes[suggested],
                                      round(float(faults.suspicion[row]), 4), round(float(outlier[row]), 4),
                                      (*reasons, *copy_reason(path)), group_by_path.get(path),
                                      made_by[name]))  # fmt: skip
        offset += len(split)
    rows.sort(key=lambda image: (not image.reasons, -(image.score or 0.0)))
    if data.test is not None and len(data.test):
        labels = data.test.labels.tolist()
        rows += [ReviewedImage(path, "test", data.classes[labels[index]], None, None, None, copy_reason(path),
                               group_by_path.get(path), made_by["test"])
                 for index, path in enumerate(paths["test"])]  # fmt: skip

    counts = np.bincount(y, minlength=len(data.classes))
    issues = np.bincount(y[faults.issue], minlength=len(data.classes))
    review = Review(
        spec=data.spec,
        classes=tuple(data.classes),
        settings=ReviewSettings(
            backbone=REVIEW_BACKBONE,
            side=side,
            folds=folds,
            label_rule=f"cleanlab find_label_issues, filter_by={label_faults.LABEL_FILTER}",
            head_penalty=label_faults.HEAD_PENALTY,
            near_copy_rule=neighbours.RULE,
            outlier_share=options.outlier_share,
            outlier_neighbours=neighbours.OUTLIER_NEIGHBOURS,
        ),
        images=tuple(rows),
        label_issues=int(faults.issue.sum()),
        outliers=int(is_outlier.sum()),
        near_copies=named_pairs,
        class_noise=tuple(
            ClassLabelNoise(name, int(counts[c]), int(issues[c]), round(faults.class_noise[c], 4))
            for c, name in enumerate(data.classes)
        ),
        confused=tuple(ConfusedClasses(data.classes[a], data.classes[b], n) for a, b, n in faults.confused_pairs),
        out_of_fold_accuracy=round(float((faults.suggested == y).mean()), 4),
        seconds=round(time.perf_counter() - started, 2),
        needs={
            "label_issues": f"out-of-fold probabilities of {folds}-fold logistic heads on {REVIEW_BACKBONE} "
            f"features at {side} px (training and validation images)",
            "near_copies": f"pHash and {REVIEW_BACKBONE} features of every image, all splits",
            "outliers": f"{REVIEW_BACKBONE} features of the training and validation images",
        },
        leaked_test=tuple(data.test.names[i] for i in leaked) if data.test is not None else (),
    )
    return ReviewedData(review, _thumbnails(review, splits, paths))


def _group_numbers(count: int, pairs: list[neighbours.NearPair]) -> dict[int, int]:
    """Each image in a near-copy pair -> its group's number (1, 2, ... in the order of the images)."""
    roots = neighbours.copy_groups(count, pairs)
    paired = sorted({index for pair in pairs for index in (pair.first, pair.second)})
    numbers: dict[int, int] = {}
    return {index: numbers.setdefault(roots[index], len(numbers) + 1) for index in paired}


def write_review(reviewed: ReviewedData, out: Path) -> Path:
    """review.csv, review.json and review.html in `out`; the page's path."""
    write_text(out / "review.csv", review_csv_text(reviewed.review))
    write_json(out / "review.json", reviewed.review.to_json())
    return write_review_page(reviewed.review, reviewed.thumbnails, out / "review.html", LABEL_REVIEW_ACCURACY)


EXAMPLES = 10
"""Near-copy pairs a finding's evidence names (the report and review.csv list them all)."""


def review_summary(review: Review) -> dict[str, Any]:
    """What the diagnosis keeps of a review (`diagnosis.json`'s `data_review`) and its findings read."""
    reviewed = sum(image.split != "test" for image in review.images)
    with_held_out = {pair.first if pair.first_split == "train" else pair.second
                     for pair in review.near_copies
                     if "train" in (pair.first_split, pair.second_split) and pair.across_splits}  # fmt: skip
    examples = [f"{p.first_split}:{p.first} ~ {p.second_split}:{p.second}" for p in review.near_copies
                if p.across_splits][:EXAMPLES]  # fmt: skip
    return {
        "reviewed": reviewed,
        "label_issues": review.label_issues,
        "outliers": review.outliers,
        "near_copies": len(review.near_copies),
        "pairs_with_held_out": len(with_held_out),
        "leaking_pairs": len(review.leaking_pairs),
        "examples": examples,
        "class_noise": [noise.to_json() for noise in review.class_noise],
        "confused": [pair.to_json() for pair in review.confused],
        "near_copy_rule": review.settings.near_copy_rule,
        "needs": review.needs,
        "out_of_fold_accuracy": review.out_of_fold_accuracy,
        "seconds": review.seconds,
        "leaked_test": list(review.leaked_test),
    }


def review_seconds_estimate(images: int, embedder: Embedder) -> float | None:
    """Seconds a review of `images` images should take here with no feature cached: their forward passes at the
    speed measured for this backbone and shape (None when none was measured: a precision given, not chosen),
    plus decoding, hashing and the heads (REVIEW_OVERHEAD_S an image), plus the neighbour searches, which grow
    with the pairs of images (PAIR_SECONDS a pair)."""
    execution = embedder.execution
    measured = execution.seconds_per_step.get(f"{execution.dtype}/{execution.memory_format}")
    if measured is None:
        return None
    return images * (measured / FEATURE_BATCH + REVIEW_OVERHEAD_S) + PAIR_SECONDS * images**2


def _thumbnails(review: Review, splits: list[tuple[str, ImageSplit]], paths: dict[str, list[str]]) -> dict[str, str]:
    """Thumbnails of the images the contact sheet shows: label suspects, outliers, near-copy pairs."""
    wanted = {image.path for image in (*review.label_suspects(SHOWN), *review.outlier_images(SHOWN))}
    for pair in review.near_copies[:SHOWN]:
        wanted |= {pair.first, pair.second}
    return {path: thumbnail(split.images[index])
            for name, split in splits for index, path in enumerate(paths[name]) if path in wanted}  # fmt: skip
