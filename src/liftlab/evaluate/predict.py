"""`liftlab predict`: a run's class and probabilities for image files, with the run's own preprocessing.

Images inside a folder named after one of the run's classes get that class as `y_true`, so predicting a
labelled ImageFolder gives a CSV that `liftlab evaluate --predictions` reads directly.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from liftlab.data.geometry import geometry_of_paths, mismatch
from liftlab.data.images import BadFile, BadImageError, is_image_name, load_array
from liftlab.errors import BadInputError
from liftlab.evaluate.predictions_csv import Predictions
from liftlab.train.familiarity import Familiarity, image_scores
from liftlab.train.saved import Predictor, load_model


def image_files(inputs: list[Path]) -> list[Path]:
    """Every image named: files as given, folders searched recursively in sorted order."""
    found: list[Path] = []
    for item in inputs:
        if item.is_dir():
            found += sorted(p for p in item.rglob("*") if p.is_file() and is_image_name(p))
        elif item.is_file():
            found.append(item)
        else:
            raise BadInputError(f"{item}: no such image or folder")
    if not found:
        raise BadInputError(f"no image files in {', '.join(map(str, inputs))}")
    return found


def _decode(trained: Predictor, paths: list[Path]) -> tuple[torch.Tensor, list[Path], list[BadFile]]:
    data = trained.recipe.data
    # A model of one channel was trained on gray images whatever the recipe's colour says (digits).
    color = "gray" if trained.channels == 1 else data.color
    arrays, kept, bad = [], [], []
    for path in paths:
        try:
            arrays.append(load_array(path, data.size, data.resize, color))
            kept.append(path)
        except BadImageError as error:
            bad.append(error.bad)
    images = torch.from_numpy(np.stack(arrays)) if arrays else torch.zeros((0, trained.channels, data.size, data.size))
    return images, kept, bad


def trained_geometry(run_dir: Path) -> dict[str, Any] | None:
    """The native geometry of the images `run_dir` was trained on (None for runs from before it was recorded)."""
    metrics_path = run_dir / "metrics.json"
    return json.loads(metrics_path.read_text()).get("native_geometry") if metrics_path.is_file() else None


def resolution_warning(run_dir: Path, paths: list[Path]) -> str | None:
    """A warning when `paths` differ clearly in resolution or aspect from the images `run_dir` was trained on."""
    return mismatch(trained_geometry(run_dir), geometry_of_paths(paths))


def predict_images(
    run_dir: Path, inputs: list[Path], familiarity: Familiarity | None = None, quiet: bool = True
) -> tuple[Predictions, list[BadFile]]:
    """Predictions (y_true = -1 where the folder does not name a class) and the files that could not be read;
    with `familiarity` (`train.familiarity.familiarity_of(run_dir)`), each image's outlier score and flag."""
    trained = load_model(run_dir)
    images, kept, bad = _decode(trained, image_files(inputs))
    if not kept:
        raise BadInputError(f"none of the {len(bad)} image file(s) could be read: " + "; ".join(
            f"{b.path}: {b.reason}" for b in bad[:5]))  # fmt: skip
    proba = trained.probabilities(images).double().numpy()
    proba /= proba.sum(axis=1, keepdims=True)
    labels = [trained.classes.index(p.parent.name) if p.parent.name in trained.classes else -1 for p in kept]
    predictions = Predictions(
        classes=list(trained.classes),
        y_true=np.asarray(labels, dtype=np.int64),
        y_pred=proba.argmax(axis=1).astype(np.int64),
        proba=proba,
        ids=[str(p) for p in kept],
        source=str(run_dir),
    )
    if familiarity is not None:
        scores = image_scores(familiarity, kept, quiet)
        predictions = replace(predictions, outlier_scores=scores, unfamiliar=scores > familiarity.threshold)
    return predictions, bad
