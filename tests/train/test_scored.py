"""The test split's probabilities kept beside a run's weights: reused only for the same images and weights."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from liftlab.cli import app
from liftlab.data.loading import load_data
from liftlab.train.saved import load_trained
from liftlab.train.scored import TEST_PROBABILITIES, keep_test_probabilities, kept_test_probabilities
from tests.conftest import colour_splits

runner = CliRunner()
SETTINGS = ["--set", "data.size=12", "--set", "model.width=8", "--set", "optim.batch_size=16", "--quiet"]


@pytest.fixture(scope="module")
def colours(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A folder with a test split, and a run trained on it (which scores the test split as it finishes)."""
    root = colour_splits(tmp_path_factory.mktemp("colours"), train=16, test=6, test_seed=500)
    run = root.parent / f"{root.name}-run"
    result = runner.invoke(app, ["train", str(root), "--epochs", "4", "--out", str(run), *SETTINGS])
    assert result.exit_code == 0, result.output
    return run, root


def _evaluated_accuracy(run: Path, root: Path, out: Path) -> float:
    result = runner.invoke(
        app, ["evaluate", "--model", str(run), "--data", str(root), "--no-corruptions", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    return float(json.loads((out / "evaluation.json").read_text())["metrics"]["accuracy"]["value"])


def test_a_scored_run_keeps_the_probabilities_the_model_gives_on_its_test_images(colours: tuple[Path, Path]) -> None:
    run, root = colours
    assert (run / TEST_PROBABILITIES).is_file()
    trained = load_trained(run)
    test = load_data(str(root), trained.recipe.data).test
    assert test is not None
    kept = kept_test_probabilities(run, test.images)
    assert kept is not None
    assert torch.allclose(kept, trained.probabilities(test.images), atol=1e-5)
    other = test.images.clone()
    other[0, 0, 0, 0] ^= 1  # one pixel's lowest bit: other images
    assert kept_test_probabilities(run, other) is None
    n, channels, height, width = test.images.shape
    same_bytes = test.images.reshape(n, 1, channels * height, width)  # the same bytes, other images
    assert kept_test_probabilities(run, same_bytes) is None


def test_evaluation_reuses_them_for_the_same_images_and_weights_only(
    colours: tuple[Path, Path], tmp_path: Path
) -> None:
    run, root = colours
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    true_accuracy = json.loads((copy / "metrics.json").read_text())["test_acc"]
    assert _evaluated_accuracy(copy, root, tmp_path / "eval-0") == pytest.approx(true_accuracy)
    # Kept probabilities that put every image in the wrong class, for these images and weights: the
    # evaluation reads them instead of running the network again, so it reports what they say.
    trained = load_trained(copy)
    test = load_data(str(root), trained.recipe.data).test
    assert test is not None
    wrong = torch.nn.functional.one_hot((test.labels + 1) % len(trained.classes), len(trained.classes)).float()
    keep_test_probabilities(copy, wrong, test.images)
    assert _evaluated_accuracy(copy, root, tmp_path / "eval-1") == 0.0
    # New weights (the same values, resaved with other metadata): the kept file is not theirs, so it is not read
    weights = {k: v.clone() for k, v in trained.model.state_dict().items()}
    save_file(weights, str(copy / "model.safetensors"), metadata={"resaved": "yes"})
    assert _evaluated_accuracy(copy, root, tmp_path / "eval-2") == pytest.approx(true_accuracy)


def test_an_unreadable_file_is_computed_again(colours: tuple[Path, Path], tmp_path: Path) -> None:
    run, root = colours
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / TEST_PROBABILITIES).write_bytes(b"not a safetensors file")
    trained = load_trained(copy)
    test = load_data(str(root), trained.recipe.data).test
    assert test is not None
    assert kept_test_probabilities(copy, test.images) is None
    true_accuracy = json.loads((copy / "metrics.json").read_text())["test_acc"]
    assert _evaluated_accuracy(copy, root, tmp_path / "eval") == pytest.approx(true_accuracy)
