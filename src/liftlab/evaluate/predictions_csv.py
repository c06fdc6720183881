"""A model's predictions on labelled items, read from any model's CSV and checked at the boundary.

A predictions CSV has `y_true` (the class name) and either `y_pred` (a class name) or one probability
column per class (named after the class, optionally with a `p_` prefix), and optionally `id`.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liftlab.errors import BadInputError
from liftlab.io import write_text

RESERVED_COLUMNS = ("id", "y_true", "y_pred", "path", "outlier_score", "unfamiliar")
PROBABILITY_TOLERANCE = 1e-3
"""Rows of probabilities must sum to 1 within this; CSVs written with six decimals stay well inside it."""


@dataclass(frozen=True)
class Predictions:
    """Labels as indices into `classes`; `proba` (n, k) when the source gave probabilities."""

    classes: list[str]
    y_true: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray | None
    ids: list[str] | None
    source: str
    outlier_scores: np.ndarray | None = None
    """Per item, the distance score from the model's training images (`train.familiarity`), when measured."""
    unfamiliar: np.ndarray | None = None
    """Per item, True where that score is above the threshold set on the validation split."""

    def __len__(self) -> int:
        return int(self.y_true.shape[0])

    def class_index(self, name: str, field: str) -> int:
        """The index of class `name`; a BadInputError naming `field` and the known classes otherwise."""
        if name not in self.classes:
            raise BadInputError(f"{field}: unknown class {name!r}; the classes of {self.source} are {self.classes}")
        return self.classes.index(name)


def _probability_columns(columns: list[str]) -> dict[str, str]:
    """Column name -> class name for the columns that are not reserved."""
    extra = [c for c in columns if c not in RESERVED_COLUMNS]
    if extra and all(c.startswith("p_") for c in extra):
        return {c: c[2:] for c in extra}
    return {c: c for c in extra}


def _probability(text: str, path: Path, line: int, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise BadInputError(f"{path}, line {line}, column {column!r}: expected a probability, found {text!r}") from None
    if math.isnan(value) or math.isinf(value) or value < 0 or value > 1:
        raise BadInputError(f"{path}, line {line}, column {column!r}: expected a probability in [0, 1], found {text!r}")
    return value


def read_predictions(path: Path, classes: list[str] | None = None) -> Predictions:
    """Read and check a predictions CSV; `classes` fixes the class order (matched by name)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise BadInputError(f"{path}: predictions file not found") from None
    except UnicodeDecodeError:
        raise BadInputError(f"{path}: expected a UTF-8 CSV, found binary data") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise BadInputError(f"{path}: empty file; expected a header with y_true and y_pred or probability columns")
    header = [cell.strip() for cell in rows[0]]
    body = [(number, row) for number, row in enumerate(rows[1:], start=2) if any(cell.strip() for cell in row)]
    if "y_true" not in header:
        raise BadInputError(f"{path}, line 1: missing column 'y_true'; found columns {header}")
    probability_columns = _probability_columns(header)
    if "y_pred" not in header and not probability_columns:
        raise BadInputError(
            f"{path}, line 1: expected a 'y_pred' column or one probability column per class; found {header}"
        )
    if not body:
        raise BadInputError(f"{path}: no prediction rows after the header")
    position = {name: i for i, name in enumerate(header)}
    for line, row in body:
        for field in ("y_true", "y_pred"):
            if field in position and len(row) == len(header) and not row[position[field]].strip():
                raise BadInputError(
                    f"{path}, line {line}, column {field!r}: empty; every row needs a class name there "
                    "(a `liftlab predict` file leaves y_true empty for images outside class folders: "
                    "keep only the rows whose true class is known)"
                )
    labels_seen = {row[position["y_true"]].strip() for _, row in body if len(row) == len(header)}
    if "y_pred" in position:
        labels_seen |= {row[position["y_pred"]].strip() for _, row in body if len(row) == len(header)}
    own_classes = list(probability_columns.values()) if probability_columns else sorted(labels_seen)
    if classes is not None:
        unknown = sorted(set(own_classes) - set(classes))
        if unknown:
            raise BadInputError(f"{path}: classes {unknown} are not among the expected classes {classes}")
        own_classes = list(classes)
    index = {name: i for i, name in enumerate(own_classes)}
    y_true: list[int] = []
    y_pred: list[int] = []
    proba: list[np.ndarray] = []
    ids: list[str] = []
    for line, row in body:
        if len(row) != len(header):
            raise BadInputError(f"{path}, line {line}: expected {len(header)} fields, found {len(row)}")
        for field in ("y_true", "y_pred"):
            if field in position:
                label = row[position[field]].strip()
                if label not in index:
                    raise BadInputError(
                        f"{path}, line {line}, column {field!r}: unknown class {label!r}; expected one of {own_classes}"
                    )
                (y_true if field == "y_true" else y_pred).append(index[label])
        if probability_columns:
            values = np.zeros(len(own_classes))
            for column, name in probability_columns.items():
                values[index[name]] = _probability(row[position[column]].strip(), path, line, column)
            total = float(values.sum())
            if abs(total - 1.0) > PROBABILITY_TOLERANCE:
                raise BadInputError(
                    f"{path}, line {line}: probabilities sum to {total:.6g}; expected 1 within {PROBABILITY_TOLERANCE}"
                )
            proba.append(values)
        if "id" in position:
            ids.append(row[position["id"]].strip())
    if ids and len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise BadInputError(f"{path}, column 'id': item id {duplicate!r} appears more than once; ids must be unique")
    probabilities = np.array(proba) if proba else None
    if probabilities is not None and not y_pred:
        y_pred = list(probabilities.argmax(axis=1))
    return Predictions(
        classes=own_classes,
        y_true=np.asarray(y_true, dtype=np.int64),
        y_pred=np.asarray(y_pred, dtype=np.int64),
        proba=probabilities,
        ids=ids or None,
        source=str(path),
    )


def write_predictions(path: Path, predictions: Predictions) -> None:
    """Write predictions in the format `read_predictions` reads (ids, labels, p_ columns).

    A negative `y_true` (label unknown) is written as an empty cell.
    """
    lines = []
    header = (["id"] if predictions.ids else []) + ["y_true", "y_pred"]
    if predictions.proba is not None:
        header += [f"p_{name}" for name in predictions.classes]
    flagged = predictions.outlier_scores is not None and predictions.unfamiliar is not None
    if flagged:
        header += ["outlier_score", "unfamiliar"]
    lines.append(header)
    for i in range(len(predictions)):
        row = [predictions.ids[i]] if predictions.ids else []
        truth = predictions.classes[predictions.y_true[i]] if predictions.y_true[i] >= 0 else ""
        row += [truth, predictions.classes[predictions.y_pred[i]]]
        if predictions.proba is not None:
            row += [f"{p:.6f}" for p in predictions.proba[i]]
        if predictions.outlier_scores is not None and predictions.unfamiliar is not None:
            row += [f"{predictions.outlier_scores[i]:.4f}", str(int(predictions.unfamiliar[i]))]
        lines.append(row)
    write_text(path, _csv_text(lines))


def _csv_text(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()
