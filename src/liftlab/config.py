"""The `Recipe`: everything an experiment varies, as one typed, validated object.

A recipe is plain data (pydantic), so it can be written to `recipe.yaml`, diffed, hashed and changed by
strategies. Overrides use dotted keys: ``apply_overrides(recipe, ["optim.lr=0.1"])``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from liftlab.errors import BadInputError
from liftlab.records.fields import JsonObject


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


class DataConfig(_Section):
    size: int = Field(32, ge=8, le=512, description="Side of the square image the model sees, in pixels.")
    resize: Literal["stretch", "keep-aspect", "center-crop"] = Field(
        "stretch", description="How an image of another shape becomes size x size."
    )
    color: Literal["rgb", "gray", "hsv", "lab"] = Field("rgb", description="Colour space the model sees.")
    val_fraction: float = Field(0.1, gt=0.0, lt=0.5, description="Share of training images held out.")
    test_fraction: float = Field(0.1, ge=0.0, lt=0.5, description="Share held out as test (unsplit data).")
    split_seed: int = Field(0, description="Seed of the stratified splits; fixed so splits stay stable.")
    train_fraction: float = Field(
        1.0, gt=0.0, le=1.0, description="Train on this stratified share of the training split (more-data)."
    )
    allow_empty_classes: bool = Field(
        False, description="Keep class folders without images as classes (otherwise they are an error)."
    )
    drop_suspects: float = Field(
        0.0,
        ge=0.0,
        lt=0.5,
        description="Leave out this share of the training images, the most suspect labels "
        "first (out-of-fold heads on the review backbone's features; drop-suspect-labels).",
    )
    drop_label_issues: bool = Field(
        False,
        description="Leave out the training images cleanlab flags as label issues (its estimate of how many are "
        "wrong, from out-of-fold heads; drop-label-issues).",
    )
    relabel_suspects: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="Relabel training images whose out-of-fold probability of another class "
        "is at least this (0: off; relabel-suspects).",
    )
    dedupe_splits: bool = Field(
        False,
        description="Leave out training images that are near-copies of validation or test images.",
    )


class ModelConfig(_Section):
    name: str = Field(
        "convnet", description="'convnet', 'fast' (airbench-style net) or a torchvision architecture (resnet18, ...)."
    )
    width: int = Field(32, ge=4, le=1024, description="Channels of the first stage; doubled per stage.")
    stages: int = Field(3, ge=1, le=6, description="Stages, each a conv block followed by 2x pooling.")
    blocks: int = Field(0, ge=0, le=16, description="Extra conv blocks per stage (depth).")
    norm: Literal["batch", "lrn", "none"] = "batch"
    activation: Literal["relu", "gelu", "silu", "tanh", "sigmoid", "leaky_relu", "elu"] = "relu"
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    residual: bool = Field(False, description="Skip connections around the extra blocks.")
    pretrained: str | None = Field(
        None,
        description="Start from pretrained weights: efficientnet_lite0/1/2 (offline), a hub name, or a file.",
    )
    finetune: Literal["linear", "partial", "full", "gradual"] = Field(
        "full",
        description="With pretrained weights: train the head only, all but the earliest third of the backbone, "
        "everything, or unfreeze gradually.",
    )
    head: Literal["linear", "mlp"] = Field(
        "linear", description="With pretrained weights: the classifier, one linear layer or a small MLP (512 units)."
    )
    whiten_stem: bool = Field(
        True, description="fast: first layer a frozen 2x2 patch-whitening conv fitted on the training images."
    )
    whiten_bias_epochs: int = Field(3, ge=0, description="fast: epochs the whitening layer's bias trains.")
    identity_init: bool = Field(True, description="fast: convolutions start as identity (Dirac) maps.")
    norm_weights: bool = Field(False, description="fast: learn batch-norm scales too (off: biases only).")


class OptimConfig(_Section):
    name: Literal["sgd", "adamw"] = "sgd"
    lr: float = Field(0.05, gt=0.0, le=100.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    nesterov: bool = True
    weight_decay: float = Field(5e-4, ge=0.0, le=1.0)
    batch_size: int = Field(128, ge=1, le=65536)
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    lr_find: bool = Field(False, description="Replace lr by a learning-rate range test's suggestion.")
    loss: Literal["ce", "focal"] = "ce"
    focal_gamma: float = Field(2.0, ge=0.0, le=10.0)
    ema: float = Field(0.0, ge=0.0, lt=1.0, description="Decay of an exponential moving average of weights; 0 off.")
    units: Literal["batch", "per-1024"] = Field(
        "batch",
        description="'per-1024': lr and weight_decay are the step per 1,024 examples (airbench), "
        "independent of batch size and momentum; every weight decays.",
    )
    norm_bias_lr_scale: float = Field(1.0, gt=0.0, le=1000.0, description="Learning-rate factor of norm biases.")
    lookahead: bool = Field(False, description="Lookahead: every 5 steps pull weights towards a slow average.")


class ScheduleConfig(_Section):
    name: Literal["constant", "step", "cosine", "onecycle", "triangle"] = "cosine"
    warmup_epochs: float = Field(0.0, ge=0.0, description="Linear warm-up from lr/10, in epochs.")
    step_every: float = Field(10.0, gt=0.0, description="'step' schedule: epochs between decays.")
    gamma: float = Field(0.1, gt=0.0, le=1.0, description="'step' schedule: factor per decay.")
    start_factor: float = Field(0.2, ge=0.0, le=1.0, description="'triangle': lr/peak at the first step.")
    peak_at: float = Field(0.23, ge=0.0, le=1.0, description="'triangle': share of the run spent warming up.")
    end_factor: float = Field(0.07, ge=0.0, le=1.0, description="'triangle': lr/peak at the last step.")


class AugmentConfig(_Section):
    """Training-time augmentation; everything is off by default so a baseline is a plain baseline."""

    flip: bool = Field(False, description="Random horizontal flip.")
    vflip: bool = Field(False, description="Random vertical flip.")
    alternating_flip: bool = Field(
        False, description="With flip: each image is mirrored in every other epoch instead of at random."
    )
    translate: int = Field(0, ge=0, le=64, description="Random shift by up to this many pixels, reflected edges.")
    crop_padding: int = Field(0, ge=0, le=64, description="Random crop after padding this much; 0 is off.")
    resized_crop: float = Field(
        0.0, ge=0.0, lt=1.0, description="Random crop of [this, 1] of the area, aspect 3/4..4/3, resized back; 0 off."
    )
    train_size: int = Field(
        0,
        ge=0,
        le=512,
        description="Side of the training crops when smaller than data.size (train low, test high); 0: data.size.",
    )
    rotate: float = Field(0.0, ge=0.0, le=180.0, description="Random rotation up to this many degrees.")
    color_jitter: float = Field(0.0, ge=0.0, le=1.0, description="Brightness/contrast/saturation strength.")
    cutout: float = Field(0.0, ge=0.0, le=1.0, description="Erase a random square of this share of the side.")
    mixup: float = Field(0.0, ge=0.0, le=10.0, description="Mixup Beta(alpha, alpha); 0 is off.")
    cutmix: float = Field(0.0, ge=0.0, le=10.0, description="CutMix Beta(alpha, alpha); 0 is off.")
    randaugment: int = Field(0, ge=0, le=6, description="RandAugment: ops per image; 0 is off.")
    randaugment_magnitude: int = Field(9, ge=0, le=30)
    trivialaugment: bool = Field(False, description="TrivialAugment: one op of random strength per image.")
    whiten: Literal["none", "per-image", "zca"] = Field(
        "none", description="Input whitening: per-image standardisation or ZCA fitted on the training set."
    )


class Recipe(_Section):
    """Everything one training run needs besides the data and the seed-independent machine."""

    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    epochs: int = Field(10, ge=1, le=10000)
    seed: int = 0
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto",
        description="'auto' times fp32 against reduced precision on this machine and keeps the faster.",
    )
    device: str = Field("auto", description="'auto' (cuda when available, else cpu), 'cpu', 'cuda', 'cuda:1'.")
    eval_batch_size: int = Field(1024, ge=1)
    memory_format: Literal["auto", "channels_last", "contiguous"] = Field(
        "auto", description="'auto' times both layouts on this machine and keeps the faster."
    )
    compile: Literal["auto", "on", "off"] = Field(
        "auto",
        description="torch.compile; 'auto' uses it when its measured speed-up repays its compile time in this run.",
    )
    tta: bool | Literal["flip"] = Field(
        False,
        description="Test-time augmentation: true averages 6 views (the image, its mirror and both shifted one "
        "step), 'flip' the image and its mirror.",
    )
    deterministic: bool = Field(
        False,
        description="torch's deterministic mode during training: an op without a deterministic version raises "
        "(on CUDA also set CUBLAS_WORKSPACE_CONFIG=:4096:8).",
    )
    strategies: list[str] = Field(default_factory=list, description="Strategies applied, in order (a record).")

    @field_validator("compile", mode="before")
    @classmethod
    def _switch_words(cls, value: Any) -> Any:
        # YAML 1.1 reads an unquoted `compile: off` in a recipe file as the boolean false
        return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def valid_keys(model: type[BaseModel] = Recipe, prefix: str = "") -> list[str]:
    """Every dotted key `--set` accepts, e.g. ``optim.lr``."""
    keys: list[str] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.extend(valid_keys(annotation, f"{prefix}{name}."))
        else:
            keys.append(f"{prefix}{name}")
    return keys


def _describe_validation_error(error: ValidationError, source: str) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"])
        lines.append(f"{source}: field '{where}': {item['msg']} (found {item.get('input')!r})")
    return "\n".join(lines)


def recipe_from_dict(data: JsonObject, source: str = "recipe") -> Recipe:
    """Validate a mapping into a Recipe, with errors that name the field and the source."""
    if not isinstance(data, dict):
        raise BadInputError(f"{source}: expected a mapping of recipe fields, found {type(data).__name__}")
    unknown = _unknown_keys(data, Recipe)
    if unknown:
        raise BadInputError(
            f"{source}: unknown recipe key(s) {', '.join(unknown)}; valid keys: {', '.join(valid_keys())}"
        )
    try:
        return Recipe.model_validate(data)
    except ValidationError as error:
        raise BadInputError(_describe_validation_error(error, source)) from None


def _unknown_keys(data: JsonObject, model: type[BaseModel], prefix: str = "") -> list[str]:
    unknown = []
    for key, value in data.items():
        field = model.model_fields.get(key)
        if field is None:
            unknown.append(f"{prefix}{key}")
            continue
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and isinstance(value, dict):
            unknown.extend(_unknown_keys(value, annotation, f"{prefix}{key}."))
    return unknown


# Built-in recipes, used by name wherever a recipe file is accepted (`--recipe fast`).
PRESETS: dict[str, JsonObject] = {
    # liftlab's plain from-scratch default, whatever the data (commands without --recipe profile the data)
    "default": {},
    # airbench-level from-scratch training (see liftlab.models.fastnet): 94% on CIFAR-10 in 12 epochs.
    # Every idea is a setting, so `ablate` can switch each off.
    "fast": {
        "data": {"size": 32},
        "model": {"name": "fast", "width": 64, "activation": "gelu", "whiten_stem": True,
                  "whiten_bias_epochs": 3, "identity_init": True, "norm_weights": False},
        "optim": {"name": "sgd", "units": "per-1024", "lr": 11.5, "momentum": 0.85, "nesterov": True,
                  "weight_decay": 0.0153, "batch_size": 1024, "label_smoothing": 0.2,
                  "norm_bias_lr_scale": 64.0, "lookahead": True},
        "schedule": {"name": "triangle", "start_factor": 0.2, "peak_at": 0.23, "end_factor": 0.07},
        "augment": {"flip": True, "alternating_flip": True, "translate": 2},
        "epochs": 12,
        "tta": True,
    },
}  # fmt: skip


def preset(name: str) -> Recipe:
    """A built-in recipe by name.

    >>> preset("fast").model.name
    'fast'
    """
    if name not in PRESETS:
        raise BadInputError(f"recipe {name!r}: no such file or built-in recipe; built-in: {', '.join(PRESETS)}")
    return recipe_from_dict(PRESETS[name], source=f"built-in recipe {name!r}")


def load_recipe(path: str | Path) -> Recipe:
    """Read a recipe YAML file, or a built-in recipe by name (`fast`); missing fields take their defaults."""
    if str(path) in PRESETS and not Path(path).exists():
        return preset(str(path))
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise BadInputError(f"recipe file {path}: cannot be read ({error.strerror})") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise BadInputError(f"recipe file {path}: not valid YAML ({error})") from None
    return recipe_from_dict(data, source=str(path))


RecipeValue = str | int | float | bool | list[str] | None
"""The value of one recipe field set by its dotted name (`with_values`): a YAML scalar, or a list of names."""


def with_values(recipe: Recipe, values: Mapping[str, RecipeValue], source: str = "--set") -> Recipe:
    """A validated copy of `recipe` with dotted keys set to typed values.

    >>> with_values(Recipe(), {"model.dropout": 0.3}).model.dropout
    0.3
    """
    data = recipe.model_dump(mode="json")
    keys = valid_keys()
    for key, value in values.items():
        if key not in keys:
            raise BadInputError(f"{source} {key}: unknown recipe key; valid keys: {', '.join(keys)}")
        target = data
        *parents, leaf = key.split(".")
        for parent in parents:
            target = target[parent]
        target[leaf] = value
    return recipe_from_dict(data, source=source)


def apply_overrides(recipe: Recipe, overrides: list[str]) -> Recipe:
    """Return a copy of `recipe` with ``key=value`` overrides applied (values parsed as YAML scalars).

    >>> apply_overrides(Recipe(), ["optim.lr=0.1", "epochs=3"]).optim.lr
    0.1
    """
    values: dict[str, RecipeValue] = {}
    for override in overrides:
        key, sep, raw = override.partition("=")
        key = key.strip()
        if not sep or not key:
            raise BadInputError(f"--set {override!r}: expected key=value, for example optim.lr=0.1")
        try:
            value = yaml.safe_load(raw) if raw.strip() else raw
        except yaml.YAMLError:
            value = raw
        # YAML 1.1 turns on/off/yes/no into booleans; only true/false mean one here (compile=off is a word)
        values[key] = raw.strip() if isinstance(value, bool) and raw.strip().lower() not in ("true", "false") else value
    return with_values(recipe, values)
