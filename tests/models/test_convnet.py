from __future__ import annotations

import pytest
import torch
from torch import nn

from liftlab.config import ModelConfig
from liftlab.errors import BadInputError
from liftlab.models import build_model


@pytest.mark.parametrize("size", [8, 17, 32, 64])
@pytest.mark.parametrize("norm", ["batch", "lrn", "none"])
def test_convnet_output_shape_for_any_size_and_norm(size: int, norm: str) -> None:
    model = build_model(ModelConfig(width=8, norm=norm), in_channels=3, num_classes=5)
    assert model(torch.zeros(2, 3, size, size)).shape == (2, 5)


def test_depth_residual_activation_and_dropout_change_the_network() -> None:
    plain = build_model(ModelConfig(width=8), 1, 3)
    deeper = build_model(ModelConfig(width=8, blocks=2), 1, 3)
    assert sum(isinstance(m, nn.Conv2d) for m in deeper.modules()) == 3 + 3 * 2 * 2
    assert sum(isinstance(m, nn.Conv2d) for m in plain.modules()) == 3
    gelu = build_model(ModelConfig(width=8, activation="gelu", dropout=0.5), 1, 3)
    assert any(isinstance(m, nn.GELU) for m in gelu.modules())
    assert any(isinstance(m, nn.Dropout) and m.p == 0.5 for m in gelu.modules())
    assert any(isinstance(m, nn.LocalResponseNorm) for m in build_model(ModelConfig(norm="lrn"), 3, 3).modules())


def test_residual_block_passes_the_input_through() -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(width=8, blocks=1, residual=True, norm="none"), 3, 3)
    block = model.features[2]
    for parameter in block.parameters():
        nn.init.zeros_(parameter)
    x = torch.rand(1, 8, 4, 4)
    assert torch.allclose(block(x), torch.relu(x))


def test_torchvision_architecture_by_name_accepts_gray_input() -> None:
    model = build_model(ModelConfig(name="resnet18"), in_channels=1, num_classes=4)
    assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 4)


def test_unknown_architecture_lists_known_names() -> None:
    with pytest.raises(BadInputError, match="resnet18"):
        build_model(ModelConfig(name="resnet9000"), 3, 10)
