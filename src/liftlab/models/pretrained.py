"""Pretrained backbones: the offline registry (EfficientNet-Lite0/1/2, `models/backbones.py`), hub names
where there is a network, local files."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from liftlab.errors import BadInputError
from liftlab.models import backbones


def _offline(name: str) -> nn.Module:
    """A registered backbone with its shipped ImageNet weights (and ImageNet's 1,000-class classifier)."""
    import timm

    backbone = backbones.get(name)
    model = timm.create_model(backbone.architecture, pretrained=False, num_classes=1000)
    source = torch.load(backbone.weights_path(), map_location="cpu", weights_only=True)
    target = model.state_dict()
    if len(source) != len(target):
        raise BadInputError(f"pretrained={name}: expected {len(target)} tensors, found {len(source)}")
    mapped = {}
    for (src_name, tensor), (dst_name, expected) in zip(source.items(), target.items(), strict=True):
        if tensor.shape != expected.shape:
            raise BadInputError(
                f"pretrained={name}: tensor {src_name} has shape {tuple(tensor.shape)}, "
                f"expected {tuple(expected.shape)} for {dst_name}"
            )
        mapped[dst_name] = tensor
    model.load_state_dict(mapped)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            # TensorFlow's epsilon, which these weights were trained with (timm's default is 1e-5);
            # measured on cifar10-small, 50 images per class at 128 px: linear probe 0.67 vs 0.65.
            module.eps = 1e-3
    return model


def _architecture(name: str, num_classes: int) -> nn.Module:
    import timm
    import torchvision.models as tv_models

    if name in tv_models.list_models(module=tv_models):
        return tv_models.get_model(name, weights=None, num_classes=num_classes)
    if name in timm.list_models():
        return timm.create_model(name, pretrained=False, num_classes=num_classes)
    raise BadInputError(f"model.name {name!r}: not a torchvision or timm architecture")


def _from_file(path: Path, architecture: str, num_classes: int) -> nn.Module:
    if architecture == "convnet":
        raise BadInputError(
            f"pretrained={path}: set model.name to the file's architecture (a torchvision or timm name)"
        )
    model = _architecture(architecture, num_classes)
    try:
        if path.suffix == ".safetensors":
            loaded: Any = load_file(str(path))
        else:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError, SafetensorError) as error:
        raise BadInputError(f"pretrained={path}: cannot be read as weights ({error})") from None
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict):
        raise BadInputError(f"pretrained={path}: expected a mapping of tensor names to tensors")
    weights: dict[str, torch.Tensor] = loaded
    own = model.state_dict()
    usable = {k: v for k, v in weights.items() if k in own and own[k].shape == v.shape}
    if len(usable) < len(own) // 2:
        raise BadInputError(
            f"pretrained={path}: only {len(usable)} of {len(own)} tensors match {architecture}; wrong architecture?"
        )
    model.load_state_dict(usable, strict=False)  # the classifier of another class count stays fresh
    return model


def _from_hub(name: str) -> nn.Module:
    import timm
    import torchvision.models as tv_models

    try:
        if name in tv_models.list_models(module=tv_models):
            return tv_models.get_model(name, weights="DEFAULT")
        if name in timm.list_models(pretrained=True) or name in timm.list_models():
            return timm.create_model(name, pretrained=True)
    except (OSError, RuntimeError, ValueError) as error:
        raise BadInputError(
            f"pretrained={name}: the weights could not be downloaded ({error}). Offline, use "
            f"pretrained={'|'.join(backbones.list_backbones())} (shipped with liftlab's dependencies) or a "
            "local weights file."
        ) from None
    raise BadInputError(
        f"pretrained={name}: unknown; expected one of {', '.join(backbones.list_backbones())}, a torchvision or "
        "timm name, or a weights file"
    )


def build_pretrained(name: str, architecture: str, num_classes: int) -> nn.Module:
    """A pretrained network with a fresh classifier for `num_classes`."""
    path = Path(name).expanduser()
    if path.is_file():
        return _from_file(path, architecture, num_classes)
    model = _offline(name) if backbones.is_registered(name) else _from_hub(name)
    return replace_classifier(model, num_classes)


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def input_normalisation(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel (mean, std) in [0, 1] units that the backbone `name` was trained with."""
    if backbones.is_registered(name):
        # EfficientNet-Lite was trained on [-1, 1] inputs; measured on cifar10-small (50 per class,
        # 128 px, linear probe): 0.67 with these against 0.62 with ImageNet's statistics.
        return (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
    try:
        import timm

        config = timm.get_pretrained_cfg(name)
        if config is not None:
            return tuple(config.mean), tuple(config.std)
    except (RuntimeError, ValueError, KeyError):
        pass
    return IMAGENET_MEAN, IMAGENET_STD


def classifier_of(model: nn.Module) -> nn.Module:
    """The final classification layer (timm's get_classifier, else the last Linear)."""
    get_classifier = getattr(model, "get_classifier", None)
    if callable(get_classifier):
        head = get_classifier()
        if isinstance(head, nn.Module):
            return head
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise BadInputError(f"{type(model).__name__}: no Linear classifier found to replace")
    return linears[-1]


def replace_classifier(model: nn.Module, num_classes: int) -> nn.Module:
    reset = getattr(model, "reset_classifier", None)
    if callable(reset):
        reset(num_classes)
        return model
    old = classifier_of(model)
    for parent in model.modules():
        for child_name, child in parent.named_children():
            if child is old and isinstance(old, nn.Linear):
                setattr(parent, child_name, nn.Linear(old.in_features, num_classes))
                return model
    raise BadInputError(f"{type(model).__name__}: cannot replace the classifier")
