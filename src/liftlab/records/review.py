"""The record of a data review (`liftlab data review`): each image's suspicion with the evidence, the
near-copy pairs, the classes' estimated label noise, and every threshold the findings used. `review.json` is its
`to_json`; `review.csv` lists its `ReviewedImage`s for a person to correct."""

from __future__ import annotations

from dataclasses import dataclass

from liftlab.records.fields import FORMAT, JsonObject, fields_json

REVIEW_COLUMNS = ("path", "split", "given_label", "suggested_label", "score", "reason", "copy_group",
                  "split_made_by", "label")  # fmt: skip
"""`review.csv`'s columns. `label` starts as the given label: a person writes the right class there, or
leaves it empty to leave the image out. `data apply-review` reads `label`, `path` and `split`, and keeps the
members of one `copy_group` (near-copies, numbered from 1) in one split where `split_made_by` is `liftlab`."""

SPLIT_MADE_BY = ("liftlab", "data")
"""Who chose an image's split: liftlab (it carved the split) or the data (a split folder or column)."""

LABEL_ISSUE = "label issue"
OUTLIER = "outlier"
"""How a reason starts, by finding (the third, a near-copy, starts "near-copy of")."""


@dataclass(frozen=True)
class ReviewedImage:
    """One image: `score` in [0, 1] is the label suspicion (1 - cleanlab's self-confidence of the given label
    under out-of-fold probabilities; higher is more suspect); `reasons` names each finding that fired on it
    (empty for most images); test images carry no score or suggestion (no rule is fitted on the test split).
    `copy_group` numbers the image's group of near-copies (None when it has none); `split_made_by` is one of
    `SPLIT_MADE_BY`."""

    path: str
    split: str
    given_label: str
    suggested_label: str | None
    score: float | None
    outlier_score: float | None
    reasons: tuple[str, ...]
    copy_group: int | None = None
    split_made_by: str = "data"

    def to_json(self) -> JsonObject:
        return fields_json(self)


@dataclass(frozen=True)
class NearCopyPair:
    """Two images the near-copy rule joined, with their splits and the evidence (feature cosine similarity,
    pHash Hamming distance in bits)."""

    first: str
    first_split: str
    second: str
    second_split: str
    similarity: float
    hash_bits: int

    @property
    def across_splits(self) -> bool:
        return self.first_split != self.second_split

    def to_json(self) -> JsonObject:
        return fields_json(self) | {"across_splits": self.across_splits}


@dataclass(frozen=True)
class ClassLabelNoise:
    """A class's estimated share of wrong labels (cleanlab's label noise: the share of images labelled as this
    class that belong to another) among its `images` in the reviewed splits."""

    name: str
    images: int
    issues: int
    estimated_noise: float

    def to_json(self) -> JsonObject:
        return fields_json(self)


@dataclass(frozen=True)
class ConfusedClasses:
    first: str
    second: str
    images: int

    def to_json(self) -> JsonObject:
        return fields_json(self)


@dataclass(frozen=True)
class ReviewSettings:
    """What the findings used, each a setting the user can change (`data review --folds/--outlier-share`) or a
    constant named in `train.neighbours` / `train.label_faults`."""

    backbone: str
    side: int
    folds: int
    label_rule: str
    head_penalty: float
    near_copy_rule: str
    outlier_share: float
    outlier_neighbours: int

    def to_json(self) -> JsonObject:
        return fields_json(self)


@dataclass(frozen=True)
class Review:
    """`images` lists every training and validation image, most suspect first (flagged ones, then by score),
    then the test images; `label_issues`, `outliers` count flagged images; `needs` says what each finding
    was computed from."""

    spec: str
    classes: tuple[str, ...]
    settings: ReviewSettings
    images: tuple[ReviewedImage, ...]
    label_issues: int
    outliers: int
    near_copies: tuple[NearCopyPair, ...]
    class_noise: tuple[ClassLabelNoise, ...]
    confused: tuple[ConfusedClasses, ...]
    out_of_fold_accuracy: float
    seconds: float
    needs: dict[str, str]
    leaked_test: tuple[str, ...] = ()
    """Test items (named as `splits.json` names them) with a near-copy in the training or validation split."""

    @property
    def leaking_pairs(self) -> tuple[NearCopyPair, ...]:
        """Near-copies with one image in the test split and the other in train or val."""
        return tuple(
            pair for pair in self.near_copies if pair.across_splits and "test" in (pair.first_split, pair.second_split)
        )

    def label_suspects(self, limit: int) -> tuple[ReviewedImage, ...]:
        """Images cleanlab flagged as label issues, most suspect first."""
        flagged = [i for i in self.images if any(r.startswith(LABEL_ISSUE) for r in i.reasons)]
        return tuple(sorted(flagged, key=lambda image: -(image.score or 0.0))[:limit])

    def outlier_images(self, limit: int) -> tuple[ReviewedImage, ...]:
        """Images flagged as outliers, farthest first."""
        flagged = [i for i in self.images if any(r.startswith(OUTLIER) for r in i.reasons)]
        return tuple(sorted(flagged, key=lambda image: -(image.outlier_score or 0.0))[:limit])

    def to_json(self) -> JsonObject:
        return {"format": FORMAT} | fields_json(self) | {"leaking_pairs": len(self.leaking_pairs)}
