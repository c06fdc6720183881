"""A finished `train` run folder loaded back for inference: model, preprocessing, classes, precision."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from liftlab.config import Recipe, recipe_from_dict
from liftlab.errors import BadInputError
from liftlab.models.zoo import build_model
from liftlab.train.fitted import resolve_device
from liftlab.train.inference import Preprocess, predict_logits
from liftlab.train.precision import DTYPES

NEEDED = ("recipe.yaml", "classes.json", "preprocess.json", "model.safetensors")


@dataclass
class TrainedModel:
    """What predicts with a run's own preprocessing; `classes` (classes.json) is the source of truth."""

    folder: Path
    recipe: Recipe
    classes: list[str]
    model: nn.Module
    preprocess: Preprocess
    dtype: torch.dtype

    @property
    def channels(self) -> int:
        return len(self.preprocess.mean)

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """(N, classes) float32 probabilities for a (N, C, H, W) uint8 batch at the run's size and colour."""
        log_probs = predict_logits(self.model, images, self.preprocess, self.dtype, self.recipe.eval_batch_size)
        return log_probs.exp()


def load_trained(folder: Path, device: str | None = None) -> TrainedModel:
    """Load the run folder written by `liftlab train` (only safetensors weights; nothing is unpickled).

    >>> trained = load_trained(Path("runs/demo"))  # doctest: +SKIP
    >>> trained.probabilities(images).argmax(1)  # doctest: +SKIP
    """
    folder = Path(folder)
    missing = [name for name in NEEDED if not (folder / name).is_file()]
    if missing:
        raise BadInputError(f"run folder {folder}: missing {', '.join(missing)}; expected a folder written by `train`")
    recipe_path = folder / "recipe.yaml"
    recipe = recipe_from_dict(yaml.safe_load(recipe_path.read_text()) or {}, source=str(recipe_path))
    classes = json.loads((folder / "classes.json").read_text())
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise BadInputError(f"{folder / 'classes.json'}: expected a non-empty list of class names")
    preprocess = Preprocess.load(folder)
    metrics_path = folder / "metrics.json"
    recorded = json.loads(metrics_path.read_text()).get("dtype", "fp32") if metrics_path.is_file() else "fp32"
    target = resolve_device(device or recipe.device)
    dtype = DTYPES.get(recorded, torch.float32) if target.type == "cpu" else torch.float32
    # A pretrained recipe rebuilds its backbone (offline for efficientnet_lite0) before the run's weights replace it.
    model = build_model(recipe.model, len(preprocess.mean), len(classes))
    weights_path = folder / "model.safetensors"
    try:
        weights = load_file(str(weights_path))
        model.load_state_dict(weights)
    except (SafetensorError, RuntimeError, OSError) as error:
        raise BadInputError(f"{weights_path}: cannot be loaded as this run's model ({error})") from None
    return TrainedModel(folder, recipe, classes, model.to(target).eval(), preprocess, dtype)
