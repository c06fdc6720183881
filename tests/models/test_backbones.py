"""The offline backbone registry: every entry loads its shipped ImageNet weights and knows its resolution."""

from __future__ import annotations

import pytest
import torch

from liftlab.config import ModelConfig
from liftlab.errors import BadInputError
from liftlab.models import backbones, build_model


def test_registry_lists_lite0_to_lite2_cheapest_first_with_their_native_sizes() -> None:
    assert backbones.list_backbones() == ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
    assert [backbones.get(n).native_size for n in backbones.list_backbones()] == [224, 240, 260]
    assert backbones.get("efficientnet-lite2") is backbones.get("efficientnet_lite2")
    assert backbones.list_backbones(lambda b: b.imagenet_top1 > 76) == ["efficientnet_lite1", "efficientnet_lite2"]


def test_unknown_backbone_lists_the_registered_ones() -> None:
    with pytest.raises(BadInputError, match=r"registered: efficientnet_lite0, efficientnet_lite1, efficientnet_lite2"):
        backbones.get("efficientnet_lite9")


@pytest.mark.parametrize("name", ["efficientnet_lite1", "efficientnet_lite2"])
def test_each_backbone_loads_its_shipped_weights_offline(name: str) -> None:
    import timm

    torch.manual_seed(0)
    model = build_model(ModelConfig(pretrained=name), in_channels=3, num_classes=5)
    fresh = timm.create_model(name, pretrained=False, num_classes=5)
    # the stem differs from a random initialisation: the shipped ImageNet weights were loaded
    assert not torch.equal(model.conv_stem.weight, fresh.conv_stem.weight)
    assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 5)


def test_mlp_head_replaces_the_classifier_and_needs_a_pretrained_model() -> None:
    model = build_model(ModelConfig(pretrained="efficientnet_lite0", head="mlp"), in_channels=3, num_classes=4)
    assert isinstance(model.classifier, torch.nn.Sequential)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 4)
    with pytest.raises(BadInputError, match=r"model\.head=mlp: a head other than linear needs model\.pretrained"):
        build_model(ModelConfig(head="mlp"), in_channels=3, num_classes=4)
