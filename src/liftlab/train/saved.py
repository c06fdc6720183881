"""A finished `train` run folder loaded back for inference: model, preprocessing, classes, precision; or an
ensemble of such folders (`ensemble.json`), whose probabilities are the members' average."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn
from torch.nn import functional as F

from liftlab.config import Recipe, recipe_from_dict
from liftlab.errors import BadInputError
from liftlab.models.zoo import build_model
from liftlab.train.fitted import resolve_device
from liftlab.train.inference import Preprocess, predict_logits
from liftlab.train.precision import DTYPES
from liftlab.train.scored import kept_test_probabilities

NEEDED = ("recipe.yaml", "classes.json", "preprocess.json", "model.safetensors")
ENSEMBLE = "ensemble.json"


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

    @property
    def sees(self) -> tuple[list[str], str, str]:
        """What ensemble members must share to predict from one decoded batch: classes, colour, resize policy
        (a member at another size gets the batch resized, `at_size`)."""
        return self.classes, self.recipe.data.color, self.recipe.data.resize

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """(N, classes) float32 probabilities for a (N, C, H, W) uint8 batch at the run's size and colour."""
        log_probs = predict_logits(self.model, images, self.preprocess, self.dtype, self.recipe.eval_batch_size)
        return log_probs.exp()

    def kept_test_probabilities(self, images: torch.Tensor) -> torch.Tensor | None:
        """The test probabilities the run kept for exactly these images and weights (`train/scored.py`)."""
        return kept_test_probabilities(self.folder, images)


@dataclass
class Ensemble:
    """Networks predicting together: the average of their probabilities. The images are decoded once at the
    first member's size (its resize policy and colour, which every member shares); a member trained at another
    size (a probe of another backbone) sees them resized to its own, with antialiasing, which is also how the
    ensemble was scored when it was chosen."""

    folder: Path
    members: tuple[TrainedModel, ...]

    @property
    def recipe(self) -> Recipe:
        return self.members[0].recipe

    @property
    def classes(self) -> list[str]:
        return self.members[0].classes

    @property
    def channels(self) -> int:
        return self.members[0].channels

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        return torch.stack(
            [member.probabilities(at_size(images, member.recipe.data.size)) for member in self.members]
        ).mean(0)

    def kept_test_probabilities(self, images: torch.Tensor) -> torch.Tensor | None:
        kept = [member.kept_test_probabilities(images) for member in self.members]
        if any(probabilities is None for probabilities in kept):
            return None
        return torch.stack([p for p in kept if p is not None]).mean(0)


Predictor = TrainedModel | Ensemble


def at_size(images: torch.Tensor, size: int) -> torch.Tensor:
    """A (N, C, H, W) uint8 batch at `size` x `size`: itself when it is, else resized (bilinear, antialiased).

    >>> at_size(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), 4).shape
    torch.Size([2, 3, 4, 4])
    """
    if images.shape[-2:] == (size, size):
        return images
    resized = F.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return resized.round().clamp(0, 255).to(torch.uint8)


def ensemble_members(folder: Path) -> list[Path] | None:
    """The member folders an `ensemble.json` in `folder` lists (relative to it), or None without one."""
    path = folder / ENSEMBLE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise BadInputError(f"{path}: not valid JSON ({error})") from None
    members = record.get("members") if isinstance(record, dict) else None
    if not isinstance(members, list) or len(members) < 2 or not all(isinstance(m, str) for m in members):
        raise BadInputError(f"{path}: field 'members' expected a list of 2 or more member folders, found {members!r}")
    return [(folder / member).resolve() for member in members]


def load_model(folder: Path, device: str | None = None) -> Predictor:
    """A run folder as a predictor: an ensemble when it holds `ensemble.json`, else its one network."""
    folder = Path(folder)
    members = ensemble_members(folder)
    if members is None:
        return load_trained(folder, device)
    loaded = tuple(load_trained(member, device) for member in members)
    first = loaded[0]
    for member in loaded[1:]:
        if member.sees != first.sees:
            raise BadInputError(
                f"{folder / ENSEMBLE}: member {member.folder} differs from {first.folder} in classes, colour "
                "or resize; an ensemble's members must see the same images (sizes may differ)"
            )
    return Ensemble(folder, loaded)


def load_trained(folder: Path, device: str | None = None) -> TrainedModel:
    """Load the run folder written by `liftlab train` (only safetensors weights; nothing is unpickled)."""
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
