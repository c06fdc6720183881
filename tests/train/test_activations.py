from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from liftlab.config import DataConfig, Recipe, apply_overrides
from liftlab.data import load_data
from liftlab.models import build_model
from liftlab.models.split import Bottom, Top
from liftlab.train import fit
from liftlab.train.activations import on_activations
from liftlab.train.checkpoint import load_checkpoint
from liftlab.train.inference import evaluate

PARTIAL = [
    "data.size=32", "optim.batch_size=16", "epochs=3", "model.pretrained=efficientnet_lite0",
    "model.finetune=partial", "optim.name=adamw", "optim.lr=1e-3", "precision=fp32",
]  # fmt: skip


@pytest.fixture(scope="module")
def shapes() -> Any:
    return load_data("builtin:shapes-few", DataConfig(size=32))


def _without_seconds(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in record.items() if k not in ("seconds", "train_seconds")} for record in history]


def test_the_network_on_an_image_is_its_top_on_its_bottoms_output() -> None:
    recipe = apply_overrides(Recipe(), PARTIAL)
    model = build_model(recipe.model, 3, 4).eval()
    images = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model(images), Top(model)(Bottom(model)(images)), atol=1e-5)


def test_which_recipes_train_on_cached_activations() -> None:
    recipe = apply_overrides(Recipe(), PARTIAL)
    model = build_model(recipe.model, 3, 4)
    assert on_activations(recipe, model)
    full = apply_overrides(recipe, ["model.finetune=full"])
    assert not on_activations(full, build_model(full.model, 3, 4))
    assert not on_activations(apply_overrides(recipe, ["augment.mixup=0.2"]), model), "mixup mixes images"
    scratch = apply_overrides(Recipe(), ["model.finetune=partial"])
    assert not on_activations(scratch, build_model(scratch.model, 3, 4)), "a from-scratch net has no frozen bottom"


def test_partial_finetune_on_cached_views_trains_the_top_and_keeps_the_bottom(shapes: Any) -> None:
    recipe = apply_overrides(Recipe(), [*PARTIAL, "augment.flip=true", "epochs=6"])
    torch.manual_seed(0)
    before = {k: v.clone() for k, v in build_model(recipe.model, 3, 4).state_dict().items()}
    result = fit(recipe, shapes)
    cache = result.extra["activations"]
    assert cache["views"] == 8 and cache["shape"] == [40, 4, 4], cache  # 40 channels at an eighth of 32 px
    after = result.model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert not any(k.startswith(("conv_stem", "bn1", "blocks.0", "blocks.1", "blocks.2")) for k in changed)
    assert {"classifier.weight", "conv_head.weight", "blocks.3.0.conv_pw.weight"} <= changed
    first, last = result.history[0]["train_acc"], result.history[-1]["train_acc"]
    assert last > max(0.45, first + 0.2), "the top learns the shapes from the cached views"
    # validation runs the whole network on the images: its score is the returned model's
    _, val_acc, _ = evaluate(result.model, shapes.val, result.preprocess, torch.float32, 64)
    assert val_acc == result.val_acc


def test_a_resumed_run_on_cached_views_equals_an_uninterrupted_one(shapes: Any, tmp_path: Path) -> None:
    recipe = apply_overrides(Recipe(), [*PARTIAL, "augment.flip=true", "augment.resized_crop=0.35"])
    uninterrupted = fit(recipe, shapes)

    class Interrupt(Exception):
        pass

    def crash_after_first_epoch(epoch: int, record: dict[str, Any]) -> None:
        if epoch == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        fit(recipe, shapes, checkpoint_dir=tmp_path / "ckpt", callbacks=[crash_after_first_epoch])
    saved = load_checkpoint(tmp_path / "ckpt")
    assert saved is not None and saved[1]["epoch"] == 1
    resumed = fit(recipe, shapes, checkpoint_dir=tmp_path / "ckpt", resume=True)
    assert _without_seconds(resumed.history) == _without_seconds(uninterrupted.history)
    for (name, a), (_, b) in zip(
        resumed.model.state_dict().items(), uninterrupted.model.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
