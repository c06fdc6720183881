"""Images as points in a frozen pretrained backbone's feature space: what a linear probe trains on, what the data
review compares images by (label suspects, near-copies, outliers) and what says an image at prediction is
unlike the training data. Every forward pass goes through the content-keyed cache of `train/features.py`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from liftlab.config import DataConfig, ModelConfig, Recipe
from liftlab.data.cache import cache_root
from liftlab.models import build_model
from liftlab.models.backbones import DEFAULT_BACKBONE
from liftlab.models.zoo import RepeatChannels
from liftlab.train.features import FEATURE_BATCH, ExtractionRecord, FeatureCache, extract
from liftlab.train.fitted import resolve_device
from liftlab.train.inference import Preprocess
from liftlab.train.precision import Execution, choose_execution, time_forward

REVIEW_BACKBONE = DEFAULT_BACKBONE
"""The backbone the data review sees images through, whatever model the user trains: its ImageNet features
separate photographs' content well enough for nearest neighbours and linear heads, and its forward pass is the
cheapest of the registry's."""
REVIEW_SMALLEST_SIDE = 96
"""Images are shown to the review backbone at no less than this side: below it the stride-32 network's last
map is under 3x3 and the pretrained features degrade (as `experiments.improve.finetune_plan.UPSCALED_SMALLEST_SIDE`)."""
REVIEW_LARGEST_SIDE = 224
"""...and at no more than the backbone's native side: larger shows no more of what the features know."""


def review_side(native_short_side: float | None) -> int:
    """The side the review decodes images at: their own short side, within the range the backbone sees well,
    rounded to a multiple of 32 (the network's stride).

    >>> review_side(32), review_side(150), review_side(384), review_side(None)
    (96, 160, 224, 224)
    """
    side = REVIEW_LARGEST_SIDE if native_short_side is None else native_short_side
    side = min(max(side, REVIEW_SMALLEST_SIDE), REVIEW_LARGEST_SIDE)
    return int(round(side / 32) * 32)


def review_data_config(data: DataConfig, native_short_side: float | None) -> DataConfig:
    """`data` as the review sees it: the same splits (same fractions and seed), the whole training split, every
    image whole (stretched) in RGB at the review side, whatever size, shape and colour space the recipe trains
    in, so every arm of an experiment finds the same suspects."""
    return review_config_at(data, review_side(native_short_side)).model_copy(update={"train_fraction": 1.0})


def review_config_at(data: DataConfig, side: int) -> DataConfig:
    """`data` decoded as the review backbone sees it: whole images, stretched, RGB, at `side` px."""
    return data.model_copy(update={"size": side, "color": "rgb", "resize": "stretch"})


def _backbone(model: nn.Module) -> nn.Module:
    return model.model if isinstance(model, RepeatChannels) else model


@dataclass
class Embedder:
    """A frozen backbone with its input preparation, execution (precision, layout) and feature cache."""

    backbone: nn.Module
    prepare: Callable[[torch.Tensor], torch.Tensor]
    execution: Execution
    cache: FeatureCache
    cost: ExtractionRecord = field(default_factory=ExtractionRecord)

    @classmethod
    def of(cls, model: nn.Module, recipe: Recipe, preprocess: Preprocess, device: torch.device) -> Embedder:
        """The backbone of `model` (a pretrained recipe's network), fed as `preprocess` says, at the precision and
        layout measured fastest here for forward passes of this shape."""
        backbone = _backbone(model)
        transform = preprocess.on(device)
        size = recipe.data.size
        batch_shape = (FEATURE_BATCH, 3, size, size)
        # the timer times forward passes, so the class count (a training step's loss) plays no part
        execution = choose_execution(recipe.precision, recipe.memory_format, "off", backbone, batch_shape, 1, device,
                                     cache_root(), 0, timer=time_forward(backbone, batch_shape, device),
                                     purpose="features")  # fmt: skip
        backbone.to(memory_format=execution.layout)

        def prepare(batch: torch.Tensor) -> torch.Tensor:
            inputs = transform(batch.float() / 255.0)
            # a gray image is its one channel three times: what RepeatChannels does for the whole network
            inputs = inputs.repeat(1, 3 // inputs.shape[1], 1, 1) if inputs.shape[1] == 1 else inputs
            return inputs.contiguous(memory_format=execution.layout)

        cache = FeatureCache(cache_root() / "features" / f"{recipe.model.pretrained}-{execution.dtype}")
        return cls(backbone, prepare, execution, cache)

    @classmethod
    def for_review(cls, channels: int, size: int, device: str = "auto") -> Embedder:
        """The review backbone (REVIEW_BACKBONE) for images of `channels` decoded at `size` px."""
        recipe = Recipe(model=ModelConfig(pretrained=REVIEW_BACKBONE, finetune="linear"), data=DataConfig(size=size))
        torch_device = resolve_device(device)
        model = build_model(recipe.model, channels, 2).to(torch_device)
        preprocess = Preprocess.fit(torch.zeros((1, channels, size, size), dtype=torch.uint8), recipe)
        return cls.of(model, recipe, preprocess, torch_device)

    def __call__(
        self, images: torch.Tensor, views: int = 1, *, quiet: bool = True, label: str = "features"
    ) -> torch.Tensor:
        """(views, N, D) pooled features of uint8 `images` (view 0 the image, 1 its mirror, as `extract`)."""
        return extract(self.backbone, images, views, self.prepare, self.execution.torch_dtype, self.cache,
                       self.cost, quiet=quiet, label=label)  # fmt: skip
