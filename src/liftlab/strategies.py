"""The catalogue of remedies: name -> Strategy, each a pure function Recipe -> Recipe plus metadata.

Modelled on timm's registry: `register`, `get`, `list_strategies(category)`, metadata as a frozen
dataclass, every entry defined (and so registered) when this module is imported. Unlike timm, an
unknown name lists the known ones.

    >>> apply_strategies(Recipe(), "flip,crop,size=64").data.size
    64
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from liftlab.config import Recipe, with_values
from liftlab.errors import BadInputError
from liftlab.models.backbones import list_backbones

CATEGORIES = (
    "data",
    "augmentation",
    "image",
    "regularisation",
    "architecture",
    "optimisation",
    "transfer",
    "evaluation",
)


@dataclass(frozen=True)
class Setting:
    """The value a strategy takes after '=': its kind, bounds, choices, default and tuning space."""

    kind: str  # "float", "int", "choice", "relative-int", "float-or-choice"
    default: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    log: bool = False
    low_inclusive: bool = True
    high_inclusive: bool = True
    tune: tuple[float, float] | None = None  # the range worth searching, when narrower than the valid one

    def describe(self) -> str:
        if self.kind == "choice":
            return f"one of {', '.join(self.choices)}"
        if self.kind == "relative-int":
            return f"+N or -N, with N in [{self.low:g}, {self.high:g}]"
        left = "[" if self.low_inclusive else "("
        right = "]" if self.high_inclusive else ")"
        bounds = f"a number in {left}{self.low:g}, {self.high:g}{right}"
        if self.kind == "float-or-choice":
            return f"{bounds} or {', '.join(self.choices)}"
        return bounds.replace("a number", "an integer") if self.kind == "int" else bounds

    def parse(self, name: str, raw: str) -> Any:
        raw = raw.strip()
        if self.kind in ("choice", "float-or-choice") and raw in self.choices:
            return raw
        if self.kind == "choice":
            raise BadInputError(f"strategy {name}={raw}: expected {self.describe()}")
        try:
            if self.kind == "relative-int":
                if raw[:1] not in "+-" or not raw[1:].isdigit():
                    raise ValueError
                value: float = int(raw)
                magnitude = abs(value)
            else:
                value = int(raw) if self.kind == "int" else float(raw)
                magnitude = value
        except ValueError:
            raise BadInputError(f"strategy {name}={raw}: expected {self.describe()}") from None
        low = -math.inf if self.low is None else self.low
        high = math.inf if self.high is None else self.high
        too_low = magnitude < low if self.low_inclusive else magnitude <= low
        too_high = magnitude > high if self.high_inclusive else magnitude >= high
        if too_low or too_high:
            raise BadInputError(f"strategy {name}={raw}: out of range; expected {self.describe()}")
        return value

    def search_space(self) -> dict[str, Any]:
        """The Optuna-style distribution the tuner samples this setting from."""
        if self.kind == "choice":
            return {"type": "categorical", "choices": list(self.choices)}
        kind = "int" if self.kind in ("int", "relative-int") else "float"
        low, high = self.tune if self.tune else (self.low, self.high)
        return {"type": kind, "low": low, "high": high, "log": self.log}


@dataclass(frozen=True)
class Strategy:
    name: str
    category: str
    summary: str
    helps_when: str
    hurts_when: str
    apply: Callable[[Recipe, Any], Recipe]
    setting: Setting | None = None
    notes: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def default(self) -> str | None:
        return self.setting.default if self.setting else None

    def canonical(self, value: Any) -> str:
        if self.setting is None:
            return self.name
        return f"{self.name}={value:+d}" if self.setting.kind == "relative-int" else f"{self.name}={value}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "category": self.category,
            "summary": self.summary,
            "helps_when": self.helps_when,
            "hurts_when": self.hurts_when,
            "default": self.default,
            "setting": self.setting.describe() if self.setting else None,
            "search_space": self.setting.search_space() if self.setting else None,
            "notes": self.notes,
        }


_REGISTRY: dict[str, Strategy] = {}


def register(strategy: Strategy) -> Strategy:
    if strategy.category not in CATEGORIES:
        raise ValueError(f"strategy {strategy.name}: category {strategy.category!r} not in {CATEGORIES}")
    if strategy.name in _REGISTRY:
        raise ValueError(f"strategy {strategy.name} is registered twice")
    _REGISTRY[strategy.name] = strategy
    return strategy


def get(name: str) -> Strategy:
    """The strategy called `name` (without its '=value'); unknown names list the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise BadInputError(f"unknown strategy {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def list_strategies(category: str | None = None) -> list[Strategy]:
    """Every registered strategy, or those of one category, in catalogue order."""
    if category is not None and category not in CATEGORIES:
        raise BadInputError(f"strategy category {category!r}: expected one of {', '.join(CATEGORIES)}")
    return [s for s in _REGISTRY.values() if category is None or s.category == category]


def parse_strategy(text: str) -> tuple[Strategy, Any]:
    """'dropout=0.3' -> (the dropout strategy, 0.3); a strategy's default fills a missing value."""
    name, sep, raw = text.strip().partition("=")
    strategy = get(name.strip())
    if strategy.setting is None:
        if sep:
            raise BadInputError(f"strategy {text}: {strategy.name} takes no value")
        return strategy, None
    return strategy, strategy.setting.parse(strategy.name, raw if sep else strategy.setting.default)


def split_list(strategies: str | list[str]) -> list[str]:
    items = strategies.split(",") if isinstance(strategies, str) else strategies
    return [item.strip() for item in items if item.strip()]


def apply_strategies(recipe: Recipe, strategies: str | list[str]) -> Recipe:
    """Apply strategies in order; the result records them in `recipe.strategies`."""
    for text in split_list(strategies):
        strategy, value = parse_strategy(text)
        recipe = strategy.apply(recipe, value)
        recipe = with_values(recipe, {"strategies": [*recipe.strategies, strategy.canonical(value)]})
    return recipe


def _set(**values: Any) -> Callable[[Recipe, Any], Recipe]:
    """A strategy that sets fixed recipe fields (dotted keys with '__' for '.')."""
    return lambda recipe, _: with_values(recipe, {k.replace("__", "."): v for k, v in values.items()}, "strategy")


def _set_value(key: str, convert: Callable[[Any], Any] = lambda v: v) -> Callable[[Recipe, Any], Recipe]:
    """A strategy that sets one recipe field to its value."""
    return lambda recipe, value: with_values(recipe, {key: convert(value)}, "strategy")


def _add(key: str) -> Callable[[Recipe, Any], Recipe]:
    def apply(recipe: Recipe, value: Any) -> Recipe:
        section, leaf = key.split(".") if "." in key else ("", key)
        current = getattr(getattr(recipe, section), leaf) if section else getattr(recipe, leaf)
        return with_values(recipe, {key: max(current + value, 0)}, "strategy")

    return apply


def _lr(recipe: Recipe, value: Any) -> Recipe:
    if value == "find":
        return with_values(recipe, {"optim.lr_find": True}, "strategy")
    return with_values(recipe, {"optim.lr": value, "optim.lr_find": False}, "strategy")


def _pretrained(recipe: Recipe, value: Any) -> Recipe:
    return with_values(recipe, {"model.pretrained": value}, "strategy")


class _PretrainedName(Setting):
    """Any non-empty name or path."""

    def parse(self, name: str, raw: str) -> Any:
        if not raw.strip():
            raise BadInputError(f"strategy {name}=: expected a backbone name (efficientnet_lite0) or a weights file")
        return raw.strip()

    def describe(self) -> str:
        return f"{'|'.join(list_backbones())} (offline), a torchvision or timm name, or a weights file"

    def search_space(self) -> dict[str, Any]:
        return {"type": "categorical", "choices": list_backbones()}


ORIENTATION = "orientation defines the class (left/right arrows, digits like 6 and 9, text)"
COLOUR = "colour defines the class (ripe/unripe fruit, traffic lights)"

for _strategy in (
    Strategy(
        "more-data",
        "data",
        "Train on a stratified fraction of the training set, to measure what data buys.",
        "compared across fractions: a rising learning curve says more data will help",
        "used alone: a fraction below 1 trains on less data and lowers accuracy",
        _set_value("data.train_fraction"),
        Setting("float", "0.5", 0.0, 1.0, low_inclusive=False),
    ),
    Strategy(
        "flip",
        "augmentation",
        "Random horizontal flip.",
        "the class does not depend on left and right (most photos); few training images",
        ORIENTATION,
        _set(augment__flip=True),
    ),
    Strategy(
        "vflip",
        "augmentation",
        "Random vertical flip.",
        "top and bottom carry no meaning (aerial, microscopy, texture images)",
        "gravity matters (most photos) or " + ORIENTATION,
        _set(augment__vflip=True),
    ),
    Strategy(
        "crop",
        "augmentation",
        "Random crop after zero padding (a random shift of up to N pixels).",
        "objects may sit anywhere; the model overfits to exact positions",
        "aggressive crops cut off small objects near the border",
        _set_value("augment.crop_padding"),
        Setting("int", "4", 1, 64),
    ),
    Strategy(
        "resized-crop",
        "augmentation",
        "Random crop of a share of the area (and aspect 3/4..4/3), resized back: scale augmentation.",
        "photos of objects at varying distances; fine-tuning a pretrained network",
        "small objects or fine detail near the border that a crop cuts away; very short training",
        _set_value("augment.resized_crop"),
        Setting("float", "0.35", 0.05, 1.0, high_inclusive=False, tune=(0.08, 0.8)),
    ),
    Strategy(
        "rotate",
        "augmentation",
        "Random rotation by up to N degrees.",
        "objects appear at any angle (aerial, cells, hand-held photos)",
        ORIENTATION,
        _set_value("augment.rotate"),
        Setting("float", "15", 0.0, 180.0, low_inclusive=False),
    ),
    Strategy(
        "color-jitter",
        "augmentation",
        "Random brightness, contrast and saturation of strength S.",
        "lighting and cameras vary between training and use",
        COLOUR,
        _set_value("augment.color_jitter"),
        Setting("float", "0.4", 0.0, 1.0, low_inclusive=False),
    ),
    Strategy(
        "whiten",
        "augmentation",
        "Input whitening: ZCA fitted on the training set, or per-image standardisation.",
        "pixels are strongly correlated and training is slow (ZCA); exposure varies from image to image (per-image)",
        "absolute brightness carries the class (per-image removes it); large images (ZCA needs "
        "channels x size^2 <= 4096)",
        _set_value("augment.whiten"),
        Setting("choice", "zca", choices=("zca", "per-image")),
    ),
    Strategy(
        "cutout",
        "augmentation",
        "Erase a random square (a share of the side) in every training image.",
        "the model relies on one small discriminative part; occlusion happens in use",
        "the whole class evidence is small and may be erased",
        _set_value("augment.cutout"),
        Setting("float", "0.25", 0.0, 1.0, low_inclusive=False),
    ),
    Strategy(
        "mixup",
        "augmentation",
        "Train on convex mixtures of image pairs and of their labels.",
        "overfitting with noisy or ambiguous labels; calibration matters",
        "few epochs (it slows fitting); tiny models that underfit",
        _set_value("augment.mixup"),
        Setting("float", "0.2", 0.0, 10.0, low_inclusive=False),
    ),
    Strategy(
        "cutmix",
        "augmentation",
        "Paste a box from another image; labels mix by area.",
        "overfitting; objects are large and partial views still show the class",
        "few epochs; small objects that the box may cover",
        _set_value("augment.cutmix"),
        Setting("float", "1.0", 0.0, 10.0, low_inclusive=False),
    ),
    Strategy(
        "randaugment",
        "augmentation",
        "RandAugment: N random ops per image at a fixed magnitude.",
        "overfitting on natural images with long training",
        "short training; classes defined by colour or orientation (it rotates, shears, recolours)",
        _set_value("augment.randaugment"),
        Setting("int", "2", 1, 6),
    ),
    Strategy(
        "trivialaugment",
        "augmentation",
        "TrivialAugment: one random op of random strength per image.",
        "overfitting on natural images; no budget to tune RandAugment",
        "short training; classes defined by colour or orientation",
        _set(augment__trivialaugment=True),
    ),
    Strategy(
        "size",
        "image",
        "Image side in pixels (8 to 512).",
        "detail is lost at the current size (small objects, fine textures)",
        "the budget is tight (cost grows with size squared); a model trained at one size and evaluated at "
        "another loses accuracy, so train and evaluate at the same size",
        _set_value("data.size"),
        Setting("int", "64", 8, 512, tune=(16, 256)),
    ),
    Strategy(
        "train-size",
        "image",
        "Train on smaller images than the model is tested on (train low, test high).",
        "with random-resized crops, objects look larger in training than at test: training at about 1/1.15 of "
        "the test size costs a quarter less and matches or beats training at full size (FixRes)",
        "without crops the shrink alone only removes detail",
        _set_value("augment.train_size"),
        Setting("int", "192", 8, 512, tune=(64, 256)),
    ),
    Strategy(
        "keep-aspect",
        "image",
        "Resize keeping the aspect ratio, padding the rest, instead of stretching.",
        "aspect ratios vary a lot and shape carries the class",
        "images are nearly square already (padding wastes pixels)",
        _set(data__resize="keep-aspect"),
    ),
    Strategy(
        "color",
        "image",
        "Colour space the model sees: gray, hsv or lab.",
        "gray: colour is irrelevant or misleading; hsv/lab: hue or lightness separates classes better",
        "gray: " + COLOUR,
        _set_value("data.color"),
        Setting("choice", "gray", choices=("gray", "hsv", "lab")),
    ),
    Strategy(
        "weight-decay",
        "regularisation",
        "L2 weight decay on weights (not on norms and biases).",
        "overfitting: training accuracy far above validation",
        "underfitting; too much decay shrinks the model into uselessness",
        _set_value("optim.weight_decay"),
        Setting("float", "5e-4", 0.0, 0.1, log=True, tune=(1e-5, 1e-2)),
    ),
    Strategy(
        "dropout",
        "regularisation",
        "Dropout before the classifier.",
        "overfitting with a large head",
        "underfitting or short training",
        _set_value("model.dropout"),
        Setting("float", "0.3", 0.0, 1.0, high_inclusive=False, tune=(0.0, 0.5)),
    ),
    Strategy(
        "batchnorm",
        "regularisation",
        "Batch normalisation after every convolution.",
        "deep plain nets train slowly or not at all; learning rate is hard to set",
        "very small batches (noisy statistics)",
        _set(model__norm="batch"),
    ),
    Strategy(
        "lrn",
        "regularisation",
        "Local response normalisation (AlexNet) instead of batch norm.",
        "reproducing classic architectures; very small batches",
        "it usually trains slower than batch norm",
        _set(model__norm="lrn"),
    ),
    Strategy(
        "label-smoothing",
        "regularisation",
        "Soften the one-hot targets by epsilon.",
        "overconfident predictions; noisy labels",
        "probabilities must be calibrated to the raw scores' scale",
        _set_value("optim.label_smoothing"),
        Setting("float", "0.1", 0.0, 1.0, high_inclusive=False, tune=(0.0, 0.3)),
    ),
    Strategy(
        "depth",
        "architecture",
        "Add (or remove) N conv blocks per stage.",
        "underfitting; subtle distinctions need more layers",
        "little data (overfits); deep plain nets need residual connections and batch norm to train",
        _add("model.blocks"),
        Setting("relative-int", "+2", 1, 8),
    ),
    Strategy(
        "residual",
        "architecture",
        "Skip connections around the extra blocks.",
        "deep nets (20+ layers) that stall or have vanishing gradients",
        "rarely; almost free",
        _set(model__residual=True),
    ),
    Strategy(
        "activation",
        "architecture",
        "Activation function.",
        "gelu/silu: smoother optimisation; relu: fast default",
        "sigmoid/tanh in deep nets: vanishing gradients",
        _set_value("model.activation"),
        Setting("choice", "gelu", choices=("relu", "gelu", "silu", "tanh", "sigmoid", "leaky_relu", "elu")),
    ),
    Strategy(
        "epochs",
        "optimisation",
        "Train N more (or fewer) epochs.",
        "validation accuracy still rises at the end of training",
        "overfitting already (validation falls while training rises); with too little data",
        _add("epochs"),
        Setting("relative-int", "+10", 1, 1000),
    ),
    Strategy(
        "lr",
        "optimisation",
        "Learning rate, or 'find' for a learning-rate range test.",
        "loss falls very slowly (too low) or jumps and diverges (too high)",
        "a value far from the range test's suggestion",
        _lr,
        Setting(
            "float-or-choice", "find", 0.0, 10.0, choices=("find",), log=True, low_inclusive=False, tune=(1e-3, 1.0)
        ),
    ),
    Strategy(
        "schedule",
        "optimisation",
        "Learning-rate schedule.",
        "cosine/onecycle: most fixed budgets; step: classic recipes",
        "constant rates end noisy",
        _set_value("schedule.name"),
        Setting("choice", "cosine", choices=("constant", "step", "cosine", "onecycle")),
    ),
    Strategy(
        "warmup",
        "optimisation",
        "Linear learning-rate warm-up over N epochs.",
        "large learning rates or batches blow up in the first steps",
        "very short runs (the warm-up eats the budget)",
        _set_value("schedule.warmup_epochs"),
        Setting("float", "1", 0.0, 100.0, low_inclusive=False),
    ),
    Strategy(
        "ema",
        "optimisation",
        "Evaluate an exponential moving average of the weights.",
        "validation accuracy is noisy from epoch to epoch",
        "very short runs with a slow decay (the average lags behind)",
        _set_value("optim.ema"),
        Setting("float", "0.999", 0.0, 1.0, low_inclusive=False, high_inclusive=False),
    ),
    Strategy(
        "batch-size",
        "optimisation",
        "Images per step.",
        "larger: faster epochs on parallel hardware; smaller: more updates on small data",
        "larger without a higher learning rate trains slower per epoch",
        _set_value("optim.batch_size"),
        Setting("int", "256", 1, 65536, log=True, tune=(16, 512)),
    ),
    Strategy(
        "loss",
        "optimisation",
        "Training loss: cross-entropy or focal.",
        "focal: class imbalance, many easy examples",
        "focal on balanced, clean data: usually no gain",
        _set_value("optim.loss"),
        Setting("choice", "focal", choices=("ce", "focal")),
    ),
    Strategy(
        "pretrained",
        "transfer",
        "Start from ImageNet weights (efficientnet_lite0/1/2 offline, hub names, files).",
        "few images of natural-looking classes",
        "images unlike photos (spectrograms, documents) may gain little; small inputs lose detail the "
        "backbone expects (it was trained at 224 px)",
        _pretrained,
        _PretrainedName("choice", "efficientnet_lite0"),
    ),
    Strategy(
        "finetune",
        "transfer",
        "With pretrained weights: linear probe, full fine-tune or gradual unfreezing.",
        "linear: very few images; gradual: moderate data, keeps early features",
        "linear: the new images differ much from ImageNet",
        _set_value("model.finetune"),
        Setting("choice", "gradual", choices=("linear", "full", "gradual")),
    ),
    Strategy(
        "head",
        "transfer",
        "With pretrained weights: the classifier on the backbone's features, linear or a small MLP (512 units).",
        "mlp: classes that are not linearly separable in the backbone's features (a probe that plateaus)",
        "mlp: very few images per class (more parameters to fit)",
        _set_value("model.head"),
        Setting("choice", "mlp", choices=("linear", "mlp")),
    ),
    Strategy(
        "tta",
        "evaluation",
        "Test-time augmentation: average the flip and small-shift views.",
        "the model was trained with flips and shifts",
        ORIENTATION + " (the mirrored view votes for the wrong class)",
        _set(tta=True),
    ),
):
    register(_strategy)
