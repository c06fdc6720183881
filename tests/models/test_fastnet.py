"""The `fast` net's pieces do what their names promise."""

from __future__ import annotations

import torch

from liftlab.config import ModelConfig
from liftlab.models import FastNet, build_model, fit_to_data
from liftlab.models.fastnet import BiasNorm, PatchWhitening, conv3x3


def test_patch_whitening_decorrelates_2x2_patches() -> None:
    generator = torch.Generator().manual_seed(0)
    # strongly correlated neighbouring pixels and channels, like natural images
    base = torch.randn(400, 1, 17, 17, generator=generator)
    smooth = torch.nn.functional.avg_pool2d(base, 3, stride=1, padding=1)
    images = torch.cat([smooth, 0.8 * smooth + 0.2 * torch.randn(smooth.shape, generator=generator), smooth], 1)
    stem = PatchWhitening(3)
    stem.fit(images)
    with torch.no_grad():
        out = torch.nn.functional.conv2d(images, stem.weight)  # the filters alone, without the bias
    half = out[:, : stem.out_channels // 2].permute(1, 0, 2, 3).flatten(1)
    covariance = half @ half.T / half.shape[1]
    strong = torch.diag(covariance) > 0.5  # directions with variance well above the eps floor
    assert strong.sum() >= 8
    sub = covariance[strong][:, strong]
    assert torch.allclose(sub, torch.eye(len(sub)), atol=0.1), "whitened patches have identity covariance"
    assert torch.equal(stem.weight[12:], -stem.weight[:12]), "filters come in +/- pairs"


def test_identity_init_passes_the_input_through() -> None:
    conv = conv3x3(4, 6, identity_init=True)
    x = torch.randn(2, 4, 5, 5)
    assert torch.allclose(conv(x)[:, :4], x)
    assert not torch.allclose(conv3x3(4, 6, identity_init=False)(x)[:, :4], x)


def test_norm_learns_biases_only_unless_asked() -> None:
    assert [name for name, _ in BiasNorm(8, learn_weight=False).named_parameters()] == ["bias"]
    assert {name for name, _ in BiasNorm(8, learn_weight=True).named_parameters()} == {"bias", "weight"}


def test_the_whitening_kernel_is_a_buffer_fitted_from_data() -> None:
    model = build_model(ModelConfig(name="fast", width=8), in_channels=3, num_classes=10)
    assert isinstance(model, FastNet)
    assert "stem.weight" in model.state_dict() and "stem.weight" not in dict(model.named_parameters())
    fit_to_data(model, lambda n: torch.randn(min(n, 50), 3, 16, 16))
    assert model.state_dict()["stem.weight"].abs().sum() > 0
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert model(torch.randn(2, 3, 16, 16)).shape == (2, 10), "any input size from 16 px"
    plain = build_model(ModelConfig(name="fast", width=8, whiten_stem=False), 3, 10)
    assert "stem.weight" in dict(plain.named_parameters()), "the ablation learns an ordinary first conv"
