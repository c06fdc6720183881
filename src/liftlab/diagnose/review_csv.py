"""`review.csv`, the list a person corrects, and `data apply-review`, which turns the corrections into a new
labels CSV (liftlab's `path,label,split` DATA format). Images are never moved or deleted: an image left out is
a row that is not written."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from liftlab.errors import BadInputError
from liftlab.io import write_text
from liftlab.records.review import REVIEW_COLUMNS, SPLIT_MADE_BY, Review


def review_csv_text(review: Review) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(REVIEW_COLUMNS)
    for image in review.images:
        score = "" if image.score is None else f"{image.score:.4f}"
        writer.writerow([image.path, image.split, image.given_label, image.suggested_label or "", score,
                         "; ".join(image.reasons), image.copy_group or "", image.split_made_by,
                         image.given_label])  # fmt: skip
    return buffer.getvalue()


@dataclass(frozen=True)
class AppliedReview:
    """What `apply_review` wrote: rows kept, labels changed, images left out (empty `label`), images moved to
    another split so that each group of near-copies is in one."""

    written: Path
    kept: int
    changed: int
    left_out: int
    moved: int = 0


SPLIT_PREFERENCE = ("train", "val", "test")
"""A group of near-copies split evenly goes to the first of these: the held-out splits only ever lose images."""


def one_split_per_group(rows: list[tuple[str, str, str]]) -> dict[str, str]:
    """For rows (copy_group, split_made_by, split): each group's split, the one most of its members are in
    (ties to the first of SPLIT_PREFERENCE), among the members whose split liftlab made; a split the data gave
    is never changed, so a group across given splits stays as it is (its test scores are left out instead).

    >>> one_split_per_group([("1", "liftlab", "train"), ("1", "liftlab", "test"), ("2", "liftlab", "val"),
    ...                      ("2", "liftlab", "val"), ("2", "liftlab", "train"), ("3", "data", "test")])
    {'1': 'train', '2': 'val'}
    """
    counts: dict[str, dict[str, int]] = {}
    for group, made_by, split in rows:
        if group and made_by == "liftlab":
            members = counts.setdefault(group, {})
            members[split] = members.get(split, 0) + 1
    return {group: max(members, key=lambda split: (members[split], -SPLIT_PREFERENCE.index(split)))
            for group, members in counts.items()}  # fmt: skip


def apply_review(review_csv: Path, out: Path, classes: list[str] | None = None) -> AppliedReview:
    """Write `out`, a labels CSV with one row per image of `review_csv` whose `label` is not empty, paths relative
    to `out`'s folder (which must hold every image, as liftlab's CSV DATA requires); `classes` (default: the
    given labels) are the labels allowed."""
    try:
        text = review_csv.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise BadInputError(f"{review_csv}: cannot be read ({error.strerror})") from None
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip() for c in reader.fieldnames or []]
    missing = [c for c in ("path", "split", "given_label", "label") if c not in columns]
    if missing:
        raise BadInputError(
            f"{review_csv}: missing column(s) {', '.join(missing)}; expected the columns `liftlab data review` "
            f"writes ({', '.join(REVIEW_COLUMNS)}), found {columns}"
        )
    rows = [(line, {k.strip(): (v or "").strip() for k, v in row.items() if k}) for line, row in enumerate(reader, 2)]
    allowed = set(classes) if classes is not None else {row["given_label"] for _, row in rows}
    root = out.resolve().parent
    for line, row in rows:
        if row.get("split_made_by", "data") not in SPLIT_MADE_BY:
            raise BadInputError(f"{review_csv}, line {line}: split_made_by must be one of {', '.join(SPLIT_MADE_BY)}, "
                                f"found {row['split_made_by']!r}")  # fmt: skip
    kept_rows = [(row.get("copy_group", ""), row.get("split_made_by", "data"), row["split"])
                 for _, row in rows if row["label"] and row["split"] in SPLIT_PREFERENCE]  # fmt: skip
    group_split = one_split_per_group(kept_rows)
    written, changed, left_out, moved = [], 0, 0, 0
    for line, row in rows:
        path = Path(row["path"])
        if not path.is_absolute():
            raise BadInputError(
                f"{review_csv}, line {line}: path {row['path']!r} is not a file path (data given in memory, "
                "such as builtin: data sets, has no files to relabel)"
            )
        if row["split"] not in ("train", "val", "test"):
            raise BadInputError(f"{review_csv}, line {line}: split must be train, val or test, found {row['split']!r}")
        if not row["label"]:
            left_out += 1
            continue
        if row["label"] not in allowed:
            raise BadInputError(
                f"{review_csv}, line {line}: label {row['label']!r} is not a class of this data set; use one of "
                f"{', '.join(sorted(allowed))}, or leave it empty to leave the image out"
            )
        try:
            relative = path.resolve().relative_to(root)
        except ValueError:
            raise BadInputError(
                f"--out {out}: {path} is outside {root}; a labels CSV names images relative to its own folder, "
                "so write it in the data folder (or a folder above it)"
            ) from None
        changed += row["label"] != row["given_label"]
        split = row["split"]
        if row.get("split_made_by") == "liftlab" and row.get("copy_group") in group_split:
            split = group_split[row["copy_group"]]
            moved += split != row["split"]
        written.append((relative.as_posix(), row["label"], split))
    if not written:
        raise BadInputError(f"{review_csv}: every row's label is empty; nothing to write")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if any(split == "test" for _, _, split in written):
        writer.writerow(["path", "label", "split"])
        writer.writerows(written)
    else:  # liftlab's CSV takes a split column only with a test split; without one it carves val and test again
        writer.writerow(["path", "label"])
        writer.writerows((path, label) for path, label, _ in written)
    write_text(out, buffer.getvalue())
    return AppliedReview(out, len(written), changed, left_out, moved)
