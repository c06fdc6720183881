"""The catalogue of remedies: one `Strategy` per entry, given by keyword, registered in catalogue order when
this module is imported (the package imports it); the data remedies come first, from `data_remedies`."""

from __future__ import annotations

from typing import Any

from liftlab.config import Recipe, with_values
from liftlab.errors import BadInputError
from liftlab.models.backbones import list_backbones
from liftlab.records.tune import SearchSpace
from liftlab.strategies.appliers import add_to, set_fields, set_value
from liftlab.strategies.data_remedies import DATA_REMEDIES
from liftlab.strategies.registry import Setting, Strategy, register


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

    def search_space(self) -> SearchSpace:
        return SearchSpace("categorical", tuple(list_backbones()))


ORIENTATION = "orientation defines the class (left/right arrows, digits like 6 and 9, text)"
COLOUR = "colour defines the class (ripe/unripe fruit, traffic lights)"

for _strategy in (
    *DATA_REMEDIES,
    Strategy(
        name="flip",
        category="augmentation",
        summary="Random horizontal flip.",
        helps_when="the class does not depend on left and right (most photos); few training images",
        hurts_when=ORIENTATION,
        apply=set_fields(augment__flip=True),
    ),
    Strategy(
        name="vflip",
        category="augmentation",
        summary="Random vertical flip.",
        helps_when="top and bottom carry no meaning (aerial, microscopy, texture images)",
        hurts_when="gravity matters (most photos) or " + ORIENTATION,
        apply=set_fields(augment__vflip=True),
    ),
    Strategy(
        name="crop",
        category="augmentation",
        summary="Random crop after zero padding (a random shift of up to N pixels).",
        helps_when="objects may sit anywhere; the model overfits to exact positions",
        hurts_when="aggressive crops cut off small objects near the border",
        apply=set_value("augment.crop_padding"),
        setting=Setting(kind="int", default="4", low=1, high=64),
    ),
    Strategy(
        name="resized-crop",
        category="augmentation",
        summary="Random crop of a share of the area (and aspect 3/4..4/3), resized back: scale augmentation.",
        helps_when="photos of objects at varying distances; fine-tuning a pretrained network",
        hurts_when="small objects or fine detail near the border that a crop cuts away; very short training",
        apply=set_value("augment.resized_crop"),
        setting=Setting(kind="float", default="0.35", low=0.05, high=1.0, high_inclusive=False, tune=(0.08, 0.8)),
    ),
    Strategy(
        name="rotate",
        category="augmentation",
        summary="Random rotation by up to N degrees.",
        helps_when="objects appear at any angle (aerial, cells, hand-held photos)",
        hurts_when=ORIENTATION,
        apply=set_value("augment.rotate"),
        setting=Setting(kind="float", default="15", low=0.0, high=180.0, low_inclusive=False),
    ),
    Strategy(
        name="color-jitter",
        category="augmentation",
        summary="Random brightness, contrast and saturation of strength S.",
        helps_when="lighting and cameras vary between training and use",
        hurts_when=COLOUR,
        apply=set_value("augment.color_jitter"),
        setting=Setting(kind="float", default="0.4", low=0.0, high=1.0, low_inclusive=False),
    ),
    Strategy(
        name="whiten",
        category="augmentation",
        summary="Input whitening: ZCA fitted on the training set, or per-image standardisation.",
        helps_when="pixels are strongly correlated and training is slow (ZCA); exposure varies from image to image "
        "(per-image)",
        hurts_when="absolute brightness carries the class (per-image removes it); large images (ZCA needs "
        "channels x size^2 <= 4096)",
        apply=set_value("augment.whiten"),
        setting=Setting(kind="choice", default="zca", choices=("zca", "per-image")),
    ),
    Strategy(
        name="cutout",
        category="augmentation",
        summary="Erase a random square (a share of the side) in every training image.",
        helps_when="the model relies on one small discriminative part; occlusion happens in use",
        hurts_when="the whole class evidence is small and may be erased",
        apply=set_value("augment.cutout"),
        setting=Setting(kind="float", default="0.25", low=0.0, high=1.0, low_inclusive=False),
    ),
    Strategy(
        name="mixup",
        category="augmentation",
        summary="Train on convex mixtures of image pairs and of their labels.",
        helps_when="overfitting with noisy or ambiguous labels; calibration matters",
        hurts_when="few epochs (it slows fitting); tiny models that underfit",
        apply=set_value("augment.mixup"),
        setting=Setting(kind="float", default="0.2", low=0.0, high=10.0, low_inclusive=False),
    ),
    Strategy(
        name="cutmix",
        category="augmentation",
        summary="Paste a box from another image; labels mix by area.",
        helps_when="overfitting; objects are large and partial views still show the class",
        hurts_when="few epochs; small objects that the box may cover",
        apply=set_value("augment.cutmix"),
        setting=Setting(kind="float", default="1.0", low=0.0, high=10.0, low_inclusive=False),
    ),
    Strategy(
        name="randaugment",
        category="augmentation",
        summary="RandAugment: N random ops per image at a fixed magnitude.",
        helps_when="overfitting on natural images with long training",
        hurts_when="short training; classes defined by colour or orientation (it rotates, shears, recolours)",
        apply=set_value("augment.randaugment"),
        setting=Setting(kind="int", default="2", low=1, high=6),
    ),
    Strategy(
        name="trivialaugment",
        category="augmentation",
        summary="TrivialAugment: one random op of random strength per image.",
        helps_when="overfitting on natural images; no budget to tune RandAugment",
        hurts_when="short training; classes defined by colour or orientation",
        apply=set_fields(augment__trivialaugment=True),
    ),
    Strategy(
        name="size",
        category="image",
        summary="Image side in pixels (8 to 512).",
        helps_when="detail is lost at the current size (small objects, fine textures)",
        hurts_when="the budget is tight (cost grows with size squared); a model trained at one size and evaluated at "
        "another loses accuracy, so train and evaluate at the same size",
        apply=set_value("data.size"),
        setting=Setting(kind="int", default="64", low=8, high=512, tune=(16, 256)),
    ),
    Strategy(
        name="train-size",
        category="image",
        summary="Train on smaller images than the model is tested on (train low, test high).",
        helps_when="with random-resized crops, objects look larger in training than at test: training at about "
        "1/1.15 of the test size costs a quarter less and matches or beats training at full size (FixRes)",
        hurts_when="without crops the shrink alone only removes detail",
        apply=set_value("augment.train_size"),
        setting=Setting(kind="int", default="192", low=8, high=512, tune=(64, 256)),
    ),
    Strategy(
        name="keep-aspect",
        category="image",
        summary="Resize keeping the aspect ratio, padding the rest, instead of stretching.",
        helps_when="aspect ratios vary a lot and shape carries the class",
        hurts_when="images are nearly square already (padding wastes pixels)",
        apply=set_fields(data__resize="keep-aspect"),
    ),
    Strategy(
        name="color",
        category="image",
        summary="Colour space the model sees: gray, hsv or lab.",
        helps_when="gray: colour is irrelevant or misleading; hsv/lab: hue or lightness separates classes better",
        hurts_when="gray: " + COLOUR,
        apply=set_value("data.color"),
        setting=Setting(kind="choice", default="gray", choices=("gray", "hsv", "lab")),
    ),
    Strategy(
        name="weight-decay",
        category="regularisation",
        summary="L2 weight decay on weights (not on norms and biases).",
        helps_when="overfitting: training accuracy far above validation",
        hurts_when="underfitting; too much decay shrinks the model into uselessness",
        apply=set_value("optim.weight_decay"),
        setting=Setting(kind="float", default="5e-4", low=0.0, high=0.1, log=True, tune=(1e-5, 1e-2)),
    ),
    Strategy(
        name="dropout",
        category="regularisation",
        summary="Dropout before the classifier.",
        helps_when="overfitting with a large head",
        hurts_when="underfitting or short training",
        apply=set_value("model.dropout"),
        setting=Setting(kind="float", default="0.3", low=0.0, high=1.0, high_inclusive=False, tune=(0.0, 0.5)),
    ),
    Strategy(
        name="batchnorm",
        category="regularisation",
        summary="Batch normalisation after every convolution.",
        helps_when="deep plain nets train slowly or not at all; learning rate is hard to set",
        hurts_when="very small batches (noisy statistics)",
        apply=set_fields(model__norm="batch"),
    ),
    Strategy(
        name="lrn",
        category="regularisation",
        summary="Local response normalisation (AlexNet) instead of batch norm.",
        helps_when="reproducing classic architectures; very small batches",
        hurts_when="it usually trains slower than batch norm",
        apply=set_fields(model__norm="lrn"),
    ),
    Strategy(
        name="label-smoothing",
        category="regularisation",
        summary="Soften the one-hot targets by epsilon.",
        helps_when="overconfident predictions; noisy labels",
        hurts_when="probabilities must be calibrated to the raw scores' scale",
        apply=set_value("optim.label_smoothing"),
        setting=Setting(kind="float", default="0.1", low=0.0, high=1.0, high_inclusive=False, tune=(0.0, 0.3)),
    ),
    Strategy(
        name="depth",
        category="architecture",
        summary="Add (or remove) N conv blocks per stage.",
        helps_when="underfitting; subtle distinctions need more layers",
        hurts_when="little data (overfits); deep plain nets need residual connections and batch norm to train",
        apply=add_to("model.blocks"),
        setting=Setting(kind="relative-int", default="+2", low=1, high=8),
    ),
    Strategy(
        name="residual",
        category="architecture",
        summary="Skip connections around the extra blocks.",
        helps_when="deep nets (20+ layers) that stall or have vanishing gradients",
        hurts_when="rarely; almost free",
        apply=set_fields(model__residual=True),
    ),
    Strategy(
        name="activation",
        category="architecture",
        summary="Activation function.",
        helps_when="gelu/silu: smoother optimisation; relu: fast default",
        hurts_when="sigmoid/tanh in deep nets: vanishing gradients",
        apply=set_value("model.activation"),
        setting=Setting(
            kind="choice", default="gelu", choices=("relu", "gelu", "silu", "tanh", "sigmoid", "leaky_relu", "elu")
        ),
    ),
    Strategy(
        name="epochs",
        category="optimisation",
        summary="Train N more (or fewer) epochs.",
        helps_when="validation accuracy still rises at the end of training",
        hurts_when="overfitting already (validation falls while training rises); with too little data",
        apply=add_to("epochs"),
        setting=Setting(kind="relative-int", default="+10", low=1, high=1000),
    ),
    Strategy(
        name="lr",
        category="optimisation",
        summary="Learning rate, or 'find' for a learning-rate range test.",
        helps_when="loss falls very slowly (too low) or jumps and diverges (too high)",
        hurts_when="a value far from the range test's suggestion",
        apply=_lr,
        setting=Setting(
            kind="float-or-choice",
            default="find",
            low=0.0,
            high=10.0,
            choices=("find",),
            log=True,
            low_inclusive=False,
            tune=(1e-3, 1.0),
        ),
    ),
    Strategy(
        name="schedule",
        category="optimisation",
        summary="Learning-rate schedule.",
        helps_when="cosine/onecycle: most fixed budgets; step: classic recipes",
        hurts_when="constant rates end noisy",
        apply=set_value("schedule.name"),
        setting=Setting(kind="choice", default="cosine", choices=("constant", "step", "cosine", "onecycle")),
    ),
    Strategy(
        name="warmup",
        category="optimisation",
        summary="Linear learning-rate warm-up over N epochs.",
        helps_when="large learning rates or batches blow up in the first steps",
        hurts_when="very short runs (the warm-up eats the budget)",
        apply=set_value("schedule.warmup_epochs"),
        setting=Setting(kind="float", default="1", low=0.0, high=100.0, low_inclusive=False),
    ),
    Strategy(
        name="ema",
        category="optimisation",
        summary="Evaluate an exponential moving average of the weights.",
        helps_when="validation accuracy is noisy from epoch to epoch",
        hurts_when="very short runs with a slow decay (the average lags behind)",
        apply=set_value("optim.ema"),
        setting=Setting(kind="float", default="0.999", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False),
    ),
    Strategy(
        name="batch-size",
        category="optimisation",
        summary="Images per step.",
        helps_when="larger: faster epochs on parallel hardware; smaller: more updates on small data",
        hurts_when="larger without a higher learning rate trains slower per epoch",
        apply=set_value("optim.batch_size"),
        setting=Setting(kind="int", default="256", low=1, high=65536, log=True, tune=(16, 512)),
    ),
    Strategy(
        name="loss",
        category="optimisation",
        summary="Training loss: cross-entropy or focal.",
        helps_when="focal: class imbalance, many easy examples",
        hurts_when="focal on balanced, clean data: usually no gain",
        apply=set_value("optim.loss"),
        setting=Setting(kind="choice", default="focal", choices=("ce", "focal")),
    ),
    Strategy(
        name="pretrained",
        category="transfer",
        summary="Start from ImageNet weights (efficientnet_lite0/1/2 offline, hub names, files).",
        helps_when="few images of natural-looking classes",
        hurts_when="images unlike photos (spectrograms, documents) may gain little; small inputs lose detail the "
        "backbone expects (it was trained at 224 px)",
        apply=_pretrained,
        setting=_PretrainedName(kind="choice", default="efficientnet_lite0"),
    ),
    Strategy(
        name="finetune",
        category="transfer",
        summary="With pretrained weights: linear probe, partial (earliest third frozen), full fine-tune or gradual "
        "unfreezing.",
        helps_when="linear: very few images; partial: a short budget (a third less per step); gradual: moderate "
        "data, keeps early features",
        hurts_when="linear: the new images differ much from ImageNet",
        apply=set_value("model.finetune"),
        setting=Setting(kind="choice", default="gradual", choices=("linear", "partial", "full", "gradual")),
    ),
    Strategy(
        name="head",
        category="transfer",
        summary="With pretrained weights: the classifier on the backbone's features, linear or a small MLP "
        "(512 units).",
        helps_when="mlp: classes that are not linearly separable in the backbone's features (a probe that plateaus)",
        hurts_when="mlp: very few images per class (more parameters to fit)",
        apply=set_value("model.head"),
        setting=Setting(kind="choice", default="mlp", choices=("linear", "mlp")),
    ),
    Strategy(
        name="tta",
        category="evaluation",
        summary="Test-time augmentation: average the flip and small-shift views.",
        helps_when="the model was trained with flips and shifts",
        hurts_when=ORIENTATION + " (the mirrored view votes for the wrong class)",
        apply=set_fields(tta=True),
    ),
):
    register(_strategy)
