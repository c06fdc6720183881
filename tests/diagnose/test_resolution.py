"""The resolution finding on known-answer data: classes that live in detail 16 px destroys, and classes
that do not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from liftlab.config import Recipe, apply_overrides
from liftlab.data import load_data
from liftlab.data.check import check_data
from liftlab.diagnose.advisor import recommend
from liftlab.diagnose.resolution import (
    PROBE_MIN_STEPS,
    from_scratch_findings,
    measure_resolution,
    probe_size,
    resolution_findings,
)

NATIVE = 96
RECIPE = ["data.size=16", "model.width=8", "optim.batch_size=16", "epochs=8", "precision=fp32"]


def _stripes(rng: np.random.Generator, vertical: bool) -> np.ndarray:
    """Grey stripes of period 4 px at a random phase: invisible once 6 pixels become one."""
    phase = rng.integers(0, 4)
    wave = ((np.arange(NATIVE) + phase) % 4 < 2).astype(float)
    pattern = np.tile(wave, (NATIVE, 1)) if vertical else np.tile(wave[:, None], (1, NATIVE))
    image = 0.5 + 0.35 * (pattern - 0.5) + rng.normal(0, 0.05, (NATIVE, NATIVE))
    return np.repeat((np.clip(image, 0, 1) * 255).astype(np.uint8)[:, :, None], 3, axis=2)


def _blob(rng: np.random.Generator, red: bool) -> np.ndarray:
    image = np.full((NATIVE, NATIVE, 3), 128, dtype=float) + rng.normal(0, 10, (NATIVE, NATIVE, 3))
    top, left = rng.integers(10, 50, 2)
    image[top : top + 36, left : left + 36] = (200, 40, 40) if red else (40, 40, 200)
    return np.clip(image, 0, 255).astype(np.uint8)


def _folder(root: Path, make: object, per_class: int = 100) -> Path:
    rng = np.random.default_rng(0)
    for label, name in enumerate(("a", "b")):
        for i in range(per_class):
            path = root / name / f"{i:03d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(make(rng, bool(label))).save(path)  # type: ignore[operator]
    return root


def _probe(folder: Path) -> tuple[list, float]:
    recipe = apply_overrides(Recipe(), RECIPE)
    native = check_data(str(folder)).image_size["short_side"]["median"]
    larger = probe_size(native, recipe.data.size)
    assert larger == 64
    data = load_data(str(folder), recipe.data)
    probe = measure_resolution(str(folder), recipe, data, native, larger)
    return resolution_findings(probe), native


def test_fires_when_the_class_lives_in_detail_the_size_destroys(tmp_path: Path) -> None:
    findings, native = _probe(_folder(tmp_path / "stripes", _stripes))
    assert native == NATIVE
    assert [f.code for f in findings] == ["RESOLUTION_TOO_LOW"]
    evidence = findings[0].evidence
    assert evidence["val_acc_at_probe_size"] > evidence["val_acc_at_size"] + 0.15
    assert (evidence["native_short_side"], evidence["size"], evidence["probe_size"]) == (NATIVE, 16, 64)
    # 160 training images at batch 16 make 10 steps an epoch: half the recipe's 8 epochs would be 40 steps, an
    # undertrained comparison; both sizes train the same PROBE_MIN_STEPS steps instead
    assert evidence["steps"] >= PROBE_MIN_STEPS and evidence["epochs"] > 4
    assert f"{evidence['steps']} optimizer steps" in findings[0].message
    advice = recommend(findings, apply_overrides(Recipe(), RECIPE), [], None)
    assert [r.strategy for r in advice] == ["size=64"]


def test_silent_when_the_class_survives_the_small_size(tmp_path: Path) -> None:
    findings, _ = _probe(_folder(tmp_path / "blobs", _blob))
    assert findings == []


@pytest.mark.parametrize(("native", "size", "expected"), [(288, 32, 128), (288, 224, None), (60, 32, None),
                                                          (500, 128, 224), (None, 32, None)])  # fmt: skip
def test_probe_size_only_when_far_below_native(native: float | None, size: int, expected: int | None) -> None:
    assert probe_size(native, size) == expected


@pytest.mark.parametrize(
    ("native", "overrides", "fires"),
    [(400, [], True), (400, ["data.size=224"], False), (400, ["model.pretrained=efficientnet_lite0"], False),
     (64, [], False), (None, [], False)],
)  # fmt: skip
def test_a_from_scratch_recipe_far_below_photographs_is_advised_a_pretrained_start(
    native: float | None, overrides: list[str], fires: bool
) -> None:
    recipe = apply_overrides(Recipe(), overrides)
    findings = from_scratch_findings(native, recipe)
    assert [f.code for f in findings] == (["FROM_SCRATCH_ON_PHOTOS"] if fires else [])
    if fires:
        advice = [r.strategy for r in recommend(findings, recipe, [], None)]
        assert advice == ["pretrained=efficientnet_lite0", "size=224"], "the data profile's start, at native size"
