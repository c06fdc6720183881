"""What predictions cost the business: a cost (or gain) matrix, expected cost, and the cheapest decision rule.

A cost file is YAML or CSV. YAML, by name (missing cells cost 0):

    cost:            # or `gain:` for money made; gains are costs with the sign flipped
      buyer:         # true class
        not_buyer: 30  # predicted class: cost of this mistake
      not_buyer:
        buyer: 2

or as a matrix: `classes: [a, b]` and `cost: [[0, 1], [5, 0]]` (rows true, columns predicted).
CSV: a header of predicted class names after one corner cell, then one row per true class.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from liftlab.errors import BadInputError


@dataclass(frozen=True)
class CostMatrix:
    """`matrix[true, predicted]` is the cost of that decision; `kind` says whether the file gave gains."""

    classes: list[str]
    matrix: np.ndarray
    kind: str
    source: str

    def aligned(self, classes: list[str]) -> np.ndarray:
        """The matrix in the order of `classes`; every class must be in the cost file."""
        missing = [c for c in classes if c not in self.classes]
        if missing:
            raise BadInputError(f"{self.source}: no costs for classes {missing}; the predictions have {classes}")
        order = [self.classes.index(c) for c in classes]
        return self.matrix[np.ix_(order, order)]


def _number(value: Any, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadInputError(f"{where}: expected a number, found {value!r}") from None
    if not math.isfinite(number):
        raise BadInputError(f"{where}: expected a finite number, found {value!r}")
    return number


def _from_yaml(path: Path) -> tuple[list[str], np.ndarray, str]:
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise BadInputError(f"{path}: not valid YAML ({error})") from None
    if not isinstance(document, dict) or len({"cost", "gain"} & set(document)) != 1:
        raise BadInputError(f"{path}: expected a mapping with exactly one of the keys 'cost' or 'gain'")
    kind = "cost" if "cost" in document else "gain"
    table = document[kind]
    if isinstance(table, list):
        classes = document.get("classes")
        if not isinstance(classes, list) or len(classes) != len(table):
            raise BadInputError(f"{path}: a {kind} matrix needs 'classes', a list with one name per row")
        names = [str(c) for c in classes]
        matrix = np.zeros((len(names), len(names)))
        for i, row in enumerate(table):
            if not isinstance(row, list) or len(row) != len(names):
                raise BadInputError(f"{path}, {kind} row {i + 1}: expected {len(names)} numbers, found {row!r}")
            for j, value in enumerate(row):
                matrix[i, j] = _number(value, f"{path}, {kind}[{names[i]}][{names[j]}]")
        return names, matrix, kind
    if not isinstance(table, dict):
        raise BadInputError(f"{path}, {kind}: expected a mapping true class -> predicted class -> number")
    names = sorted({str(t) for t in table} | {str(p) for row in table.values() if isinstance(row, dict) for p in row})
    if isinstance(document.get("classes"), list):
        names = [str(c) for c in document["classes"]] + [n for n in names if n not in document["classes"]]
    matrix = np.zeros((len(names), len(names)))
    for true, row in table.items():
        if not isinstance(row, dict):
            raise BadInputError(f"{path}, {kind}[{true}]: expected a mapping predicted class -> number")
        for predicted, value in row.items():
            matrix[names.index(str(true)), names.index(str(predicted))] = _number(
                value, f"{path}, {kind}[{true}][{predicted}]"
            )
    return names, matrix, kind


def _from_csv(path: Path) -> tuple[list[str], np.ndarray, str]:
    rows = [row for row in csv.reader(path.read_text(encoding="utf-8-sig").splitlines()) if row]
    if len(rows) < 2:
        raise BadInputError(f"{path}: expected a header of predicted classes and one row per true class")
    predicted = [c.strip() for c in rows[0][1:]]
    true = [row[0].strip() for row in rows[1:]]
    if sorted(predicted) != sorted(true):
        raise BadInputError(
            f"{path}: the rows (true classes {true}) and columns ({predicted}) must name the same classes"
        )
    matrix = np.zeros((len(true), len(true)))
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(predicted) + 1:
            raise BadInputError(f"{path}, line {line}: expected {len(predicted) + 1} fields, found {len(row)}")
        for column, value in zip(predicted, row[1:], strict=True):
            matrix[true.index(row[0].strip()), true.index(column)] = _number(
                value.strip(), f"{path}, line {line}, column {column!r}"
            )
    return true, matrix, "cost"


def load_cost(path: Path) -> CostMatrix:
    """Read a cost or gain matrix from YAML or CSV (see the module docstring for the formats)."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"--cost {path}: file not found")
    classes, matrix, kind = _from_csv(path) if path.suffix.lower() == ".csv" else _from_yaml(path)
    return CostMatrix(classes, -matrix if kind == "gain" else matrix, kind, str(path))


def expected_cost(confusion: np.ndarray, costs: np.ndarray) -> np.ndarray:
    """Mean cost per prediction for each (B, k, k) confusion matrix."""
    totals = confusion.sum(axis=(1, 2))
    return np.divide((confusion * costs).sum(axis=(1, 2)), totals, out=np.zeros(len(totals)), where=totals > 0)


def cheapest_decisions(proba: np.ndarray, costs: np.ndarray) -> np.ndarray:
    """The decision that minimises expected cost given the probabilities: argmin_j sum_i p_i C[i, j]."""
    return np.asarray((proba @ costs).argmin(axis=1))
