"""`liftlab predict`: a run's class and probabilities for image files, with the run's own preprocessing.

Images inside a folder named after one of the run's classes get that class as `y_true`, so predicting a
labelled ImageFolder gives a CSV that `liftlab evaluate --predictions` reads directly.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from liftlab.data.geometry import geometry_of_paths, mismatch
from liftlab.data.images import BadFile, BadImageError, image_files, load_array
from liftlab.errors import BadInputError
from liftlab.evaluate.predictions_csv import Predictions
from liftlab.records.runs import Geometry
from liftlab.train.export import InputSpec, input_spec
from liftlab.train.exported import ExportedModel, format_of, read_record
from liftlab.train.familiarity import Familiarity, image_scores
from liftlab.train.saved import Predictor, load_model


def _decode(spec: InputSpec, paths: list[Path]) -> tuple[torch.Tensor, list[Path], list[BadFile]]:
    arrays, kept, bad = [], [], []
    for path in paths:
        try:
            arrays.append(load_array(path, spec.size, spec.resize, spec.color))
            kept.append(path)
        except BadImageError as error:
            bad.append(error.bad)
    images = torch.from_numpy(np.stack(arrays)) if arrays else torch.zeros((0, spec.channels, spec.size, spec.size))
    return images, kept, bad


def load_predictor(model: Path) -> tuple[Predictor | ExportedModel, InputSpec]:
    """A run folder (one network or an ensemble) or an exported file (`liftlab export`), and how its images
    are decoded."""
    if format_of(model) is not None:
        exported = ExportedModel.load(model)
        return exported, exported.record.input
    trained = load_model(model)
    return trained, input_spec(trained)


def source_folder(model: Path) -> Path | None:
    """The run folder behind `model`: itself, or the folder an exported file was made from where it is still
    there (its metrics and features give the resolution warning and the unfamiliar-image check)."""
    fmt = format_of(model)
    if fmt is None:
        return model
    source = Path(read_record(model, fmt).source)  # its metadata only: no session is opened for this
    return source if source.is_dir() else None


def trained_geometry(run_dir: Path) -> Geometry | None:
    """The native geometry of the images `run_dir` was trained on (None for runs from before it was recorded)."""
    metrics_path = run_dir / "metrics.json"
    if not metrics_path.is_file():
        return None
    found = json.loads(metrics_path.read_text()).get("native_geometry")
    return None if found is None else Geometry.from_json(found, f"{metrics_path}: native_geometry")


def resolution_warning(run_dir: Path, paths: list[Path]) -> str | None:
    """A warning when `paths` differ clearly in resolution or aspect from the images `run_dir` was trained on."""
    return mismatch(trained_geometry(run_dir), geometry_of_paths(paths))


def predict_images(
    run_dir: Path, inputs: list[Path], familiarity: Familiarity | None = None, quiet: bool = True
) -> tuple[Predictions, list[BadFile]]:
    """Predictions (y_true = -1 where the folder does not name a class) and the files that could not be read;
    with `familiarity` (`train.familiarity.familiarity_of(run_dir)`), each image's outlier score and flag."""
    trained, spec = load_predictor(run_dir)
    images, kept, bad = _decode(spec, image_files(inputs))
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
