"""The built-in `fast` recipe: its pieces (units, groups, lookahead, whitening bias) and the whole."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from liftlab.config import DataConfig, OptimConfig, apply_overrides, load_recipe, preset
from liftlab.data import load_data
from liftlab.errors import BadInputError
from liftlab.models import build_model
from liftlab.records import Epoch
from liftlab.train import fit
from liftlab.train.averaging import Lookahead, slow_weight
from liftlab.train.optimizer import parameter_groups, torch_rates

# the fast recipe at 16 px on digits: small enough for a test, everything switched on
SMALL = ["data.size=16", "model.width=16", "optim.batch_size=64", "epochs=12", "precision=fp32"]


class Interrupt(Exception):
    pass


@pytest.fixture(scope="module")
def digits() -> Any:
    return load_data("builtin:digits", DataConfig(size=16))


def test_per_1024_units_do_not_depend_on_the_batch_size() -> None:
    config = OptimConfig(units="per-1024", lr=11.5, weight_decay=0.0153, momentum=0.85)
    lr_512, wd_512 = torch_rates(config, 512, config.lr)
    lr_1024, wd_1024 = torch_rates(config, 1024, config.lr)
    assert lr_1024 == pytest.approx(2 * lr_512), "twice the examples per step, twice the step"
    # decay per step = lr x wd is proportional to the batch too, and independent of lr itself
    assert lr_1024 * wd_1024 == pytest.approx(2 * lr_512 * wd_512)
    higher = OptimConfig(units="per-1024", lr=23.0, weight_decay=0.0153, momentum=0.85)
    lr_hi, wd_hi = torch_rates(higher, 1024, higher.lr)
    assert lr_hi * wd_hi == pytest.approx(lr_1024 * wd_1024), "decoupled from the learning rate"
    assert torch_rates(OptimConfig(lr=0.1, weight_decay=5e-4), 1024, 0.1) == (0.1, 5e-4), "batch units unchanged"


def test_norm_biases_get_their_own_rate_and_every_weight_decays_per_1024() -> None:
    recipe = preset("fast")
    model = build_model(recipe.model.model_copy(update={"width": 8}), 3, 10)
    groups = [{"params": list(model.parameters()), "weight_decay": 0.0, "lr_scale": 1.0}]
    split = parameter_groups(groups, model, recipe.optim, weight_decay=0.01)
    by_scale = {group["lr_scale"]: group for group in split}
    assert set(by_scale) == {1.0, 64.0}
    assert all(p.ndim == 1 for p in by_scale[64.0]["params"]) and len(by_scale[64.0]["params"]) == 6
    assert by_scale[1.0]["weight_decay"] == 0.01 and by_scale[64.0]["weight_decay"] == pytest.approx(0.01 / 64)


def test_lookahead_ends_on_the_slow_weights() -> None:
    model = torch.nn.Linear(2, 1)
    lookahead = Lookahead(model)
    start = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    lookahead.after_step(model, 3, 10)  # not a multiple of 5: nothing happens
    assert torch.equal(model.weight, start + 1.0)
    lookahead.after_step(model, 5, 10)
    pulled = start + (1 - slow_weight(5, 10))  # the slow copy moved most of the way to the weights
    assert torch.allclose(model.weight, pulled)
    with torch.no_grad():
        model.weight.add_(1.0)
    lookahead.after_step(model, 9, 10)
    lookahead.after_step(model, 10, 10)
    assert torch.allclose(model.weight, lookahead.slow["weight"])


def test_fast_recipe_learns_digits_and_its_whitening_bias_freezes(digits: Any) -> None:
    recipe = apply_overrides(preset("fast"), SMALL)
    result = fit(recipe, digits)
    # measured 0.97; 0.9 leaves room for another machine's arithmetic
    assert result.val_acc is not None and result.val_acc >= 0.9
    frozen = fit(apply_overrides(recipe, ["model.whiten_bias_epochs=0"]), digits)
    assert torch.count_nonzero(frozen.model.state_dict()["stem.bias"]) == 0, "a bias that never trains stays 0"
    assert torch.count_nonzero(result.model.state_dict()["stem.bias"]) > 0


def test_fast_recipe_resumes_to_the_same_weights(digits: Any, tmp_path: Path) -> None:
    recipe = apply_overrides(preset("fast"), [*SMALL, "epochs=4"])
    uninterrupted = fit(recipe, digits)

    def crash(epoch: int, record: Epoch) -> None:
        if epoch == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        fit(recipe, digits, checkpoint_dir=tmp_path, callbacks=[crash])
    resumed = fit(recipe, digits, checkpoint_dir=tmp_path, resume=True)
    keys = ("train_loss", "train_acc", "val_acc")
    assert [[getattr(r, k) for k in keys] for r in resumed.history] == [
        [getattr(r, k) for k in keys] for r in uninterrupted.history
    ]
    for (name, a), (_, b) in zip(
        resumed.model.state_dict().items(), uninterrupted.model.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name


def test_presets_load_by_name_and_unknown_names_list_them(tmp_path: Path) -> None:
    assert load_recipe("fast").optim.units == "per-1024"
    with pytest.raises(BadInputError, match=r"built-in: .*\bfast\b"):
        preset("fastest")
    with pytest.raises(BadInputError, match="cannot be read"):
        load_recipe(tmp_path / "missing.yaml")
