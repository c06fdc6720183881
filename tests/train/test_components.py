from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from liftlab.config import DataConfig, Recipe, apply_overrides
from liftlab.data import load_data
from liftlab.models import build_model
from liftlab.train import fit
from liftlab.train.freezing import FineTuning, layer_groups
from liftlab.train.inference import Preprocess, predict_logits, tta_views
from liftlab.train.losses import classification_loss
from liftlab.train.lr_finder import lr_range_test

TINY = ["data.size=16", "model.width=8", "optim.batch_size=32", "epochs=2"]


@pytest.fixture(scope="module")
def shapes() -> Any:
    return load_data("builtin:shapes-few", DataConfig(size=16))


def test_cross_entropy_matches_torch_and_focal_downweights_easy_examples() -> None:
    logits = torch.tensor([[4.0, 0.0], [0.5, 0.0]])
    labels = torch.tensor([0, 0])
    ce = classification_loss(logits, labels, "ce")
    assert torch.allclose(ce, F.cross_entropy(logits, labels))
    per_image_ce = F.cross_entropy(logits, labels, reduction="none")
    focal = classification_loss(logits, labels, "focal", focal_gamma=2.0)
    p = F.softmax(logits, 1)[:, 0]
    assert torch.allclose(focal, ((1 - p) ** 2 * per_image_ce).mean())
    # the easy image (p=0.98) loses far more of its weight than the hard one (p=0.62)
    assert (1 - p[0]) ** 2 < 0.01 < (1 - p[1]) ** 2
    smoothed = classification_loss(logits, labels, "ce", label_smoothing=0.1)
    assert torch.allclose(smoothed, F.cross_entropy(logits, labels, label_smoothing=0.1))


def test_linear_probe_trains_only_the_classifier(shapes: Any) -> None:
    recipe = apply_overrides(Recipe(), [*TINY, "model.pretrained=efficientnet_lite0", "model.finetune=linear"])
    torch.manual_seed(0)
    before = {k: v.clone() for k, v in build_model(recipe.model, 3, 4).state_dict().items()}
    result = fit(recipe, shapes)
    after = result.model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"classifier.weight", "classifier.bias"}, "backbone weights and BN statistics stay fixed"


def test_gradual_unfreezing_opens_groups_over_epochs_with_lower_rates_for_early_layers() -> None:
    model = build_model(apply_overrides(Recipe(), ["model.pretrained=efficientnet_lite0"]).model, 3, 4)
    tuning = FineTuning(model, "gradual", pretrained=True, epochs=8)
    assert len(layer_groups(model, pretrained=True)) == 4
    assert [tuning.trainable_groups(e) for e in range(8)] == [1, 1, 2, 2, 3, 3, 4, 4]
    scales = [g["lr_scale"] for g in tuning.optimizer_groups(0.0)]
    assert scales == sorted(scales) and scales[-1] == 1.0 and scales[0] < 0.05
    tuning.begin_epoch(0)
    assert all(p.requires_grad for p in model.classifier.parameters())
    assert not any(p.requires_grad for p in model.conv_stem.parameters())
    assert not model.bn1.training, "frozen batch norms keep their statistics"
    tuning.begin_epoch(7)
    assert all(p.requires_grad for p in model.parameters())


def test_partial_finetune_keeps_the_earliest_group_and_its_statistics_fixed(shapes: Any) -> None:
    recipe = apply_overrides(Recipe(), [*TINY, "model.pretrained=efficientnet_lite0", "model.finetune=partial"])
    torch.manual_seed(0)
    model = build_model(recipe.model, 3, 4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert FineTuning(model, "partial", pretrained=True, epochs=2).trainable_groups(0) == 3
    after = fit(recipe, shapes).model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert not any(k.startswith(("conv_stem", "bn1")) for k in changed), "the stem is in the frozen group"
    assert {"classifier.weight", "conv_head.weight"} <= changed, "the late backbone and the head train"
    assert any(k.startswith("blocks.6") for k in changed)


def test_lr_range_test_suggests_a_rate_inside_the_sweep_and_leaves_the_model_alone(shapes: Any) -> None:
    recipe = apply_overrides(Recipe(), TINY)
    torch.manual_seed(0)
    model = build_model(recipe.model, 3, 4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    preprocess = Preprocess.fit(shapes.train.images, recipe)
    test = lr_range_test(model, shapes.train.images, shapes.train.labels, preprocess.on(torch.device("cpu")),
                         recipe, torch.float32)  # fmt: skip
    assert 1e-6 < test.suggestion < 1.0
    assert len(test.lrs) == len(test.losses) > 10
    assert all(a < b for a, b in zip(test.lrs, test.lrs[1:], strict=False))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize(
    ("overrides", "low", "high"),
    [(["optim.name=adamw", "optim.lr=1e-3"], 1e-6, 0.05), (["optim.units=per-1024", "optim.lr=10"], 0.05, 500.0)],
)
def test_lr_range_test_sweeps_in_the_recipes_optimizer_and_units(
    shapes: Any, overrides: list[str], low: float, high: float
) -> None:
    # AdamW rates live near 1e-3, per-1024 SGD rates near 10: each sweep is centred on its own scale, and its
    # suggestion goes back into optim.lr unchanged (a raw SGD sweep said about 0.1 for both)
    recipe = apply_overrides(Recipe(), [*TINY, *overrides])
    torch.manual_seed(0)
    model = build_model(recipe.model, 3, 4)
    preprocess = Preprocess.fit(shapes.train.images, recipe)
    test = lr_range_test(model, shapes.train.images, shapes.train.labels, preprocess.on(torch.device("cpu")),
                         recipe, torch.float32)  # fmt: skip
    assert test.lrs[0] == pytest.approx(recipe.optim.lr * 1e-4)
    assert low < test.suggestion < high


def test_lr_find_records_the_rate_it_used(shapes: Any) -> None:
    result = fit(apply_overrides(Recipe(), [*TINY, "optim.lr_find=true"]), shapes)
    assert 0 < result.extra["lr_found"] < 1
    assert result.history[0].lr <= result.extra["lr_found"]


def test_ema_evaluates_the_averaged_weights(shapes: Any) -> None:
    plain = fit(apply_overrides(Recipe(), TINY), shapes)
    averaged = fit(apply_overrides(Recipe(), [*TINY, "optim.ema=0.9"]), shapes)
    assert [r.train_loss for r in plain.history] == [r.train_loss for r in averaged.history]
    # same training trajectory, but the model returned and evaluated is the moving average
    pairs = zip(plain.model.state_dict().values(), averaged.model.state_dict().values(), strict=True)
    assert any(not torch.equal(a, b) for a, b in pairs)


def test_tta_averages_the_flip_and_shift_views(shapes: Any) -> None:
    result = fit(apply_overrides(Recipe(), TINY), shapes)
    images = shapes.val.images
    views = tta_views(images)
    assert len(views) == 6 and torch.equal(views[1][0], images.flip(3))
    assert sum(weight for _, weight in views) == 1.0
    # a shift mirrors the edge in: the shifted view's first row is the image's second row
    assert torch.equal(views[4][0][:, :, 1:, 1:], images[:, :, :-1, :-1])
    single = [
        weight * predict_logits(result.model, view, result.preprocess, torch.float32).exp() for view, weight in views
    ]
    result.preprocess.tta = True
    averaged = predict_logits(result.model, images, result.preprocess, torch.float32).exp()
    assert torch.allclose(averaged, torch.stack(single).sum(0), atol=1e-5)


def test_hsv_and_lab_colour_spaces_decode_known_colours() -> None:
    from PIL import Image

    from liftlab.data.images import to_array

    red = Image.new("RGB", (4, 4), (255, 0, 0))
    hsv = to_array(red, 4, "stretch", "hsv")[:, 0, 0]
    assert tuple(hsv) == (0, 255, 255)  # hue 0, full saturation and value
    lab = to_array(red, 4, "stretch", "lab")[:, 0, 0]
    # CIE L*a*b* of sRGB red is about (53.2, 80.1, 67.2); stored as L*2.55, a+128, b+128
    assert abs(int(lab[0]) - round(53.2 * 2.55)) <= 1
    assert abs(int(lab[1]) - 208) <= 1 and abs(int(lab[2]) - 195) <= 1


def test_shapes_sets_are_deterministic_and_colour_classes_share_their_luma() -> None:
    from liftlab.data.shapes import CLASS_COLOURS

    first = load_data("builtin:shapes-color", DataConfig())
    second = load_data("builtin:shapes-color", DataConfig())
    assert torch.equal(first.train.images, second.train.images)
    lumas = [
        float(c @ torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64).numpy()) for c in CLASS_COLOURS.values()
    ]
    assert max(lumas) - min(lumas) < 1.0
    assert not math.isclose(float(first.train.images.float().std()), 0.0)


def test_adamw_runs_fused_on_the_cpu_and_updates_as_the_per_tensor_loop_does() -> None:
    from liftlab.config import OptimConfig
    from liftlab.train.optimizer import make_optimizer

    torch.manual_seed(0)
    weights = [torch.randn(16, 8, requires_grad=True), torch.randn(8, requires_grad=True)]
    reference = [w.detach().clone().requires_grad_() for w in weights]
    start = [w.detach().clone() for w in weights]
    fused = make_optimizer([{"params": weights, "weight_decay": 0.05}], OptimConfig(name="adamw"), 1e-2)
    loop = torch.optim.AdamW([{"params": reference, "weight_decay": 0.05}], lr=1e-2, foreach=False)
    assert fused.defaults["fused"]
    for step in range(3):
        for params, optimizer in ((weights, fused), (reference, loop)):
            optimizer.zero_grad()
            (params[0].sum(0) * params[1] * (step + 1)).pow(2).sum().backward()
            optimizer.step()
    for got, expected, before in zip(weights, reference, start, strict=True):
        assert (got - before).abs().max() > 1e-3  # the steps moved the weights
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
