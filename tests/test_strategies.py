from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from liftlab.cli import app
from liftlab.config import Recipe, apply_overrides, recipe_from_dict
from liftlab.data import load_data
from liftlab.errors import BadInputError
from liftlab.strategies import CATEGORIES, apply_strategies, get, list_strategies, parse_strategy
from liftlab.train import fit

# the strategy names the design lists (../shared/docs/design.md, Contracts)
DESIGN_NAMES = [
    "flip",
    "vflip",
    "crop",
    "rotate",
    "color-jitter",
    "whiten",
    "cutout",
    "mixup",
    "cutmix",
    "randaugment",
    "trivialaugment",
    "size",
    "keep-aspect",
    "color",
    "weight-decay",
    "dropout",
    "batchnorm",
    "lrn",
    "label-smoothing",
    "depth",
    "residual",
    "activation",
    "loss",
    "batch-size",
    "epochs",
    "lr",
    "schedule",
    "warmup",
    "ema",
    "tta",
    "pretrained",
    "more-data",
]
TINY_DATA = ["data.size=16", "model.width=8", "optim.batch_size=32", "epochs=1"]


def test_every_strategy_of_the_design_is_registered_with_metadata() -> None:
    names = {s.name for s in list_strategies()}
    assert set(DESIGN_NAMES) <= names
    for strategy in list_strategies():
        assert strategy.category in CATEGORIES
        assert strategy.summary and strategy.helps_when and strategy.hurts_when, strategy.name
        if strategy.setting is not None:
            assert strategy.setting.search_space().kind in ("float", "int", "categorical")
            parse_strategy(f"{strategy.name}={strategy.default}")  # the default parses


def test_list_filters_by_category() -> None:
    augmentations = list_strategies("augmentation")
    assert {"flip", "mixup", "whiten"} <= {s.name for s in augmentations}
    assert all(s.category == "augmentation" for s in augmentations)
    with pytest.raises(BadInputError, match="expected one of data, augmentation"):
        list_strategies("colour")


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(BadInputError) as caught:
        get("flipp")
    assert "flip" in str(caught.value) and "mixup" in str(caught.value)


@pytest.mark.parametrize(
    "text, message",
    [
        ("dropout=1.5", r"dropout=1.5: out of range; expected a number in \[0, 1\)"),
        ("size=4", r"an integer in \[8, 512\]"),
        ("color=purple", "one of gray, hsv, lab"),
        ("depth=3", r"\+N or -N"),
        ("flip=1", "takes no value"),
        ("lr=fast", "or find"),
    ],
)
def test_settings_are_validated_with_the_expected_range(text: str, message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        apply_strategies(Recipe(), text)


def test_strategies_apply_in_order_and_are_recorded() -> None:
    recipe = apply_strategies(Recipe(), "flip,crop,size=64,depth=+2,epochs=+5,lr=find,dropout=0.2")
    assert recipe.augment.flip and recipe.augment.crop_padding == 4 and recipe.data.size == 64
    assert (recipe.model.blocks, recipe.epochs, recipe.optim.lr_find, recipe.model.dropout) == (2, 15, True, 0.2)
    assert recipe.strategies == ["flip", "crop=4", "size=64", "depth=+2", "epochs=+5", "lr=find", "dropout=0.2"]
    assert Recipe().strategies == [], "strategies are pure: the input recipe is unchanged"


@pytest.mark.parametrize("strategy", [s.name for s in list_strategies()])
def test_every_strategy_applies_round_trips_and_trains_one_epoch(strategy: str, tmp_path: Path) -> None:
    base = apply_overrides(Recipe(), TINY_DATA)
    if strategy == "head":  # a head over a pretrained backbone's features: without one it is an error
        base = apply_overrides(base, ["model.pretrained=efficientnet_lite0"])
    recipe = apply_strategies(base, strategy if get(strategy).setting is None else f"{strategy}={_small(strategy)}")
    assert recipe != base or strategy in ("batchnorm",), "the strategy changes the recipe"
    path = tmp_path / "recipe.yaml"
    path.write_text(recipe.to_yaml())
    assert recipe_from_dict(yaml.safe_load(path.read_text())) == recipe
    data = load_data("builtin:shapes-few", recipe.data)
    result = fit(recipe, data)
    assert result.stopped_reason is None
    assert len(result.history) == recipe.epochs
    assert 0.0 <= result.history[-1].val_acc <= 1.0


def _small(name: str) -> str:
    """A setting that keeps the one-epoch test fast (sizes and epochs small)."""
    return {
        "size": "24",
        "epochs": "+1",
        "batch-size": "16",
        "depth": "+1",
        "more-data": "0.5",
        "train-size": "12",
    }.get(name, str(get(name).default))


def test_cli_train_with_strategies_records_them(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app, ["train", "builtin:shapes-few", "--strategies", "flip,crop=2,dropout=0.1", "--out", str(out),
              "--quiet", *[part for o in TINY_DATA for part in ("--set", o)]],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    written = yaml.safe_load((out / "recipe.yaml").read_text())
    assert written["strategies"] == ["flip", "crop=2", "dropout=0.1"]
    assert written["augment"]["flip"] is True and written["model"]["dropout"] == 0.1
    assert json.loads((out / "metrics.json").read_text())["strategies"] == written["strategies"]
    bad = CliRunner().invoke(app, ["train", "builtin:shapes-few", "--strategies", "dropout=1.5", "--out", str(out)])
    assert bad.exit_code == 2 and "[0, 1)" in bad.output


def test_cli_strategies_table_and_json() -> None:
    table = CliRunner().invoke(app, ["strategies"])
    assert table.exit_code == 0 and "color-jitter" in table.output
    as_json = json.loads(CliRunner().invoke(app, ["strategies", "--json"]).output)
    by_name = {s["name"]: s for s in as_json}
    assert by_name["dropout"]["search_space"] == {"type": "float", "low": 0.0, "high": 0.5, "log": False}
    assert by_name["rotate"]["hurts_when"].startswith("orientation defines the class")


def test_augment_preview_writes_a_grid_of_originals_and_augmented(tmp_path: Path) -> None:
    out = tmp_path / "grid.png"
    result = CliRunner().invoke(
        app, ["augment", "preview", "builtin:shapes-orientation", "--strategies", "flip,rotate=30",
              "--images", "4", "--rows", "2", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    picture = Image.open(out)
    # 4 columns x 3 rows of 32 px tiles, 2 px padding, upscaled 3x for people to see
    assert picture.size == ((4 * 34 + 2) * 3, (3 * 34 + 2) * 3)
