from __future__ import annotations

from pathlib import Path

import pytest

from liftlab.config import Recipe, apply_overrides, load_recipe, valid_keys
from liftlab.errors import BadInputError


def test_overrides_are_typed_and_leave_the_original_alone() -> None:
    base = Recipe()
    changed = apply_overrides(base, ["optim.lr=0.2", "epochs=7", "augment.flip=false", "model.norm=lrn"])
    assert (changed.optim.lr, changed.epochs, changed.augment.flip, changed.model.norm) == (
        0.2,
        7,
        False,
        "lrn",
    )
    assert base.optim.lr == 0.05


def test_unknown_key_lists_the_valid_ones() -> None:
    with pytest.raises(BadInputError) as caught:
        apply_overrides(Recipe(), ["optim.learning_rate=0.1"])
    assert "optim.learning_rate" in str(caught.value)
    assert "optim.lr" in str(caught.value) and "data.size" in str(caught.value)


@pytest.mark.parametrize(
    "override, field",
    [
        ("model.dropout=1.5", "model.dropout"),
        ("data.size=4", "data.size"),
        ("model.norm=group", "model.norm"),
    ],
)
def test_out_of_range_values_name_the_field_and_the_value(override: str, field: str) -> None:
    with pytest.raises(BadInputError) as caught:
        apply_overrides(Recipe(), [override])
    message = str(caught.value)
    assert field in message and override.split("=")[1] in message


def test_override_needs_key_and_value() -> None:
    with pytest.raises(BadInputError, match="key=value"):
        apply_overrides(Recipe(), ["epochs"])


def test_recipe_yaml_round_trips_and_errors_name_the_file(tmp_path: Path) -> None:
    recipe = apply_overrides(Recipe(), ["optim.name=adamw", "schedule.name=onecycle"])
    path = tmp_path / "recipe.yaml"
    path.write_text(recipe.to_yaml())
    assert load_recipe(path) == recipe
    path.write_text("optim:\n  lr: [1, 2]\n")
    with pytest.raises(BadInputError, match=r"recipe\.yaml: field 'optim\.lr'"):
        load_recipe(path)
    path.write_text("optim: {lr: 0.1}\nmodell: {}\n")
    with pytest.raises(BadInputError, match=r"unknown recipe key.*modell"):
        load_recipe(path)
    with pytest.raises(BadInputError, match="cannot be read"):
        load_recipe(tmp_path / "missing.yaml")


def test_valid_keys_cover_every_section() -> None:
    keys = valid_keys()
    assert {
        "data.size",
        "model.residual",
        "optim.label_smoothing",
        "schedule.warmup_epochs",
        "epochs",
    } <= set(keys)


def test_switch_words_stay_words_on_the_command_line_and_in_a_recipe_file(tmp_path: Path) -> None:
    # YAML 1.1 reads off/on/yes as booleans: compile=off must mean the word, a bool field still takes yes
    recipe = apply_overrides(Recipe(), ["compile=off", "augment.flip=yes"])
    assert (recipe.compile, recipe.augment.flip) == ("off", True)
    path = tmp_path / "recipe.yaml"
    path.write_text("compile: on\nepochs: 2\n")
    assert load_recipe(path).compile == "on"
