"""How far an image met at prediction is from the images a model was trained on, in the review backbone's
feature space, and whether that is farther than the held-out images the accuracy was measured on.

The accuracy liftlab measured holds for images like the validation and test images. An image far outside the
training images' neighbourhoods (another domain, a blank frame) gets a prediction all the same; the flag says
the measured accuracy does not apply to it. The score is cleanlab's outlier score against the training images'
features (`train.neighbours.outlier_scores`); the threshold is the validation images' own (1 - FLAGGED_SHARE)
quantile, so at most that share of images like those the model was validated on is flagged.

The reference (the training images' features, at most REFERENCE_IMAGES of them) and the threshold are computed
once per run folder, from the training data the run names, and kept beside the model in `familiarity.safetensors`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from liftlab.config import Recipe
from liftlab.data.images import BadImageError, load_array
from liftlab.data.loading import load_data
from liftlab.data.splits import stratified_indices
from liftlab.errors import BadInputError
from liftlab.io import atomic_write
from liftlab.train import neighbours
from liftlab.train.embedding import REVIEW_BACKBONE, Embedder, review_data_config
from liftlab.train.saved import ensemble_members, load_trained

FAMILIARITY_FILE = "familiarity.safetensors"
FLAGGED_SHARE = 0.01
"""Share of validation images allowed above the threshold: the flag's false-alarm rate on images like those the
accuracy was measured on."""
REFERENCE_IMAGES = 5000
"""Training images kept as the reference (a stratified sample when there are more): enough neighbours for the
distance to the nearest 10 to settle, and 13 MB of float16 features beside the model."""


@dataclass(frozen=True)
class Familiarity:
    """Reference features (unit rows), the outlier-score threshold and the side the review backbone saw."""

    reference: np.ndarray
    threshold: float
    side: int
    validation_flagged: float

    def scores(self, features: np.ndarray) -> np.ndarray:
        return neighbours.outlier_scores(self.reference, features)

    def image_scores(self, images: torch.Tensor, quiet: bool = True) -> np.ndarray:
        """Outlier scores of uint8 images decoded at `side` (`review_config_at`), through the review backbone."""
        embedder = Embedder.for_review(int(images.shape[1]), self.side)
        return self.scores(embedder(images, quiet=quiet, label="features")[0].numpy())

    def save(self, folder: Path) -> None:
        tensors = {"reference": torch.from_numpy(self.reference.astype(np.float16))}
        metadata = {"threshold": repr(self.threshold), "side": str(self.side), "backbone": REVIEW_BACKBONE,
                    "validation_flagged": repr(self.validation_flagged)}  # fmt: skip
        atomic_write(folder / FAMILIARITY_FILE, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))

    @classmethod
    def load(cls, folder: Path) -> Familiarity | None:
        """The saved familiarity, or None when there is none (or it is unreadable, or of another backbone)."""
        path = folder / FAMILIARITY_FILE
        if not path.is_file():
            return None
        try:
            with safe_open(str(path), framework="pt") as handle:
                metadata = handle.metadata() or {}
                reference = handle.get_tensor("reference").float().numpy()
            if metadata.get("backbone") != REVIEW_BACKBONE:
                return None
            return cls(reference, float(metadata["threshold"]), int(metadata["side"]),
                       float(metadata["validation_flagged"]))  # fmt: skip
        except (OSError, ValueError, KeyError, SafetensorError):
            return None


def fit_familiarity(train: np.ndarray, val: np.ndarray, train_labels: np.ndarray, side: int) -> Familiarity:
    """The reference and threshold from training and validation features."""
    if len(train) > REFERENCE_IMAGES:
        _, kept = stratified_indices(train_labels.tolist(), [REFERENCE_IMAGES / len(train)], 0)
        train = train[kept]
    reference = neighbours.unit_rows(train)
    # float16 on disk: score the validation images against the reference as it will be read back
    reference = reference.astype(np.float16).astype(np.float32)
    val_scores = neighbours.outlier_scores(reference, val)
    threshold = float(np.quantile(val_scores, 1.0 - FLAGGED_SHARE))
    return Familiarity(reference, threshold, side, float((val_scores > threshold).mean()))


@dataclass(frozen=True)
class TrainingSource:
    """The DATA a run was trained on, its recipe, and its training images' median short side (if recorded)."""

    spec: str
    recipe: Recipe
    short_side: float | None


def training_source(run_dir: Path) -> TrainingSource:
    """Where a run folder (or the first member of an ensemble) came from, from its metrics.json."""
    members = ensemble_members(run_dir)
    folder = members[0] if members else run_dir
    metrics_path = folder / "metrics.json"
    try:
        metrics = json.loads(metrics_path.read_text())
        spec = str(metrics["data"])
    except (OSError, ValueError, KeyError):
        raise BadInputError(f"{metrics_path}: cannot read the training data's name (field 'data')") from None
    geometry = metrics.get("native_geometry") or {}
    return TrainingSource(spec, load_trained(folder).recipe, geometry.get("short_side"))


def familiarity_of(run_dir: Path, quiet: bool = True) -> Familiarity:
    """The run's familiarity, computed from its training data on first use and kept in the run folder."""
    saved = Familiarity.load(run_dir)
    if saved is not None:
        return saved
    source = training_source(run_dir)
    try:
        data = load_data(source.spec, review_data_config(source.recipe.data, source.short_side), skip_bad=True,
                         quiet=quiet)  # fmt: skip
    except BadInputError as error:
        raise BadInputError(
            f"the unfamiliar-image check needs the data {run_dir} was trained on ({source.spec}), once: {error}"
        ) from None
    side = int(data.train.images.shape[-1])
    embedder = Embedder.for_review(data.channels, side)
    train = embedder(data.train.images, quiet=quiet, label="features train")[0].numpy()
    val = embedder(data.val.images, quiet=quiet, label="features val")[0].numpy()
    familiarity = fit_familiarity(train, val, data.train.labels.numpy(), side)
    familiarity.save(run_dir)
    return familiarity


def image_scores(familiarity: Familiarity, paths: list[Path], quiet: bool = True) -> np.ndarray:
    """Outlier scores of image files against the run's training images (NaN for a file that cannot be read)."""
    arrays, kept = [], []
    for index, path in enumerate(paths):
        try:
            arrays.append(load_array(path, familiarity.side, "stretch", "rgb"))
            kept.append(index)
        except BadImageError:
            continue
    scores = np.full(len(paths), np.nan)
    if arrays:
        scores[kept] = familiarity.image_scores(torch.from_numpy(np.stack(arrays)), quiet)
    return scores
