"""`liftlab export`: a run folder (from scratch, a fine-tuned EfficientNet-Lite0, an ensemble) as ONNX and
TorchScript files whose probabilities match liftlab's own within the stated tolerance, that `liftlab predict`
reads back with the same classes; an export that cannot be made, or that would not match, writes nothing and
says why."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn
from typer.testing import CliRunner

from liftlab.cli import app
from liftlab.config import Recipe, apply_overrides
from liftlab.data.loading import load_data
from liftlab.errors import BadInputError
from liftlab.evaluate.predict import predict_images
from liftlab.train.export import TOLERANCE, export_predictor, export_run
from liftlab.train.exported import ExportedModel
from liftlab.train.run_folder import train_run
from liftlab.train.saved import TrainedModel, load_model

runner = CliRunner()
SCRATCH = ["data.size=16", "model.width=8", "epochs=1", "precision=fp32"]
TRASHNET = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "trashnet"


def _photos(folder: Path, spec: str, recipe: Recipe, count: int = 24) -> Path:
    """Test images of `spec` written as PNG files in class folders, as a user's photos would be."""
    data = load_data(spec, recipe.data)
    assert data.test is not None
    for index in range(min(count, len(data.test))):
        image = data.test.images[index].permute(1, 2, 0).squeeze(-1).numpy()
        target = folder / data.classes[int(data.test.labels[index])] / f"{index}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(target)
    return folder


def _same_classes_from_file_and_folder(model: Path, run: Path, photos: Path) -> None:
    from_file, _ = predict_images(model, [photos])
    from_run, _ = predict_images(run, [photos])
    assert list(from_file.y_pred) == list(from_run.y_pred)
    assert abs(from_file.proba - from_run.proba).max() <= TOLERANCE  # both fp32 here


@pytest.fixture(scope="module")
def scratch_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "digits"
    train_run("builtin:digits", apply_overrides(Recipe(), [*SCRATCH, "tta=true"]), out)
    return out


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_a_from_scratch_run_exports_and_predicts_the_classes_the_run_does(
    scratch_run: Path, tmp_path: Path, fmt: str
) -> None:
    suffix = ".onnx" if fmt == "onnx" else ".pt"
    result = runner.invoke(app, ["export", str(scratch_run), "--format", fmt, "--out", str(tmp_path / f"m{suffix}")])
    assert result.exit_code == 0, result.output
    described = json.loads((tmp_path / f"m{suffix}.json").read_text())
    assert described["parity"]["max_abs_difference"] <= TOLERANCE and described["parity"]["images"] == 32
    assert described["input"] == {"size": 16, "channels": 3, "color": "rgb", "resize": "stretch", "dtype": "uint8",
                                  "layout": "NCHW"}  # fmt: skip
    loaded = ExportedModel.load(tmp_path / f"m{suffix}")
    assert loaded.classes == [str(d) for d in range(10)] and loaded.record.format == fmt
    photos = _photos(tmp_path / "photos", "builtin:digits", apply_overrides(Recipe(), SCRATCH))
    _same_classes_from_file_and_folder(tmp_path / f"m{suffix}", scratch_run, photos)
    several = runner.invoke(app, ["predict", str(tmp_path / f"m{suffix}"), str(photos), "--no-familiarity"])
    assert several.exit_code == 0 and len(several.stdout.strip().splitlines()) == 24, several.output


def test_an_ensemble_of_networks_at_two_sizes_exports_with_its_average(tmp_path: Path) -> None:
    for name, size in (("small", 16), ("large", 24)):
        overrides = [*SCRATCH, f"data.size={size}", f"seed={size}"]
        train_run("builtin:shapes-few", apply_overrides(Recipe(), overrides), tmp_path / name)
    ensemble = tmp_path / "best"
    ensemble.mkdir()
    (ensemble / "ensemble.json").write_text(json.dumps({"members": ["../small", "../large"]}))
    for fmt, suffix in (("onnx", ".onnx"), ("torchscript", ".pt")):
        record = export_run(ensemble, fmt, tmp_path / f"best{suffix}")
        assert record.kind == "ensemble of 2 networks" and record.parity.max_abs_difference <= TOLERANCE
        assert record.input.size == 16, "the first member's size: the second member resizes inside the file"
    photos = _photos(tmp_path / "photos", "builtin:shapes-few", apply_overrides(Recipe(), SCRATCH))
    _same_classes_from_file_and_folder(tmp_path / "best.onnx", ensemble, photos)


def test_a_fine_tuned_efficientnet_lite0_run_exports_within_the_tolerance(tmp_path: Path) -> None:
    overrides = ["model.pretrained=efficientnet_lite0", "model.finetune=full", "data.size=32", "epochs=1",
                 "precision=fp32", "optim.batch_size=16"]  # fmt: skip
    train_run("builtin:shapes-few", apply_overrides(Recipe(), overrides), tmp_path / "lite0")
    for fmt, suffix in (("onnx", ".onnx"), ("torchscript", ".pt")):
        record = export_run(tmp_path / "lite0", fmt, tmp_path / f"lite0{suffix}", count=8)
        assert record.parity.max_abs_difference <= TOLERANCE, record.parity


class Unexportable(nn.Module):
    """A layer ONNX has no operator for (a running maximum), standing in for any such layer."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.cummax(images.flatten(1), dim=1).values[:, :10]


def test_a_network_that_cannot_be_exported_fails_clearly_and_writes_nothing(scratch_run: Path, tmp_path: Path) -> None:
    predictor = load_model(scratch_run)
    assert isinstance(predictor, TrainedModel)
    images = load_data("builtin:digits", predictor.recipe.data).val.images[:4]
    broken = replace(predictor, model=Unexportable())
    with pytest.raises(BadInputError, match="cannot be exported to onnx") as raised:
        export_predictor(broken, images, "onnx", tmp_path / "broken.onnx")
    assert "nothing was written" in str(raised.value) and not list(tmp_path.iterdir())
    with pytest.raises(BadInputError, match="differs from liftlab's predictor by") as raised:
        export_predictor(predictor, images, "torchscript", tmp_path / "strict.pt", tolerance=-1.0)
    assert not list(tmp_path.iterdir()), "a file that did not match is not left behind"
    with pytest.raises(BadInputError, match=r"should end in \.onnx"):
        export_run(scratch_run, "onnx", tmp_path / "model.pt")


@pytest.mark.skipif(not TRASHNET.is_dir(), reason="needs ../shared/datasets/trashnet")
def test_on_trashnet_photos_the_onnx_file_gives_the_classes_the_run_gives(tmp_path: Path) -> None:
    # a small fine-tune on TrashNet photos (a few per class), then its own test photos through both
    subset = tmp_path / "trashnet"
    for folder in sorted(TRASHNET.iterdir()):
        if folder.is_dir():
            (subset / folder.name).mkdir(parents=True)
            for photo in sorted(folder.iterdir())[:12]:
                shutil.copy(photo, subset / folder.name / photo.name)
    overrides = ["model.pretrained=efficientnet_lite0", "model.finetune=full", "data.size=64", "epochs=2",
                 "precision=fp32", "optim.batch_size=16", "tta=flip"]  # fmt: skip
    train_run(str(subset), apply_overrides(Recipe(), overrides), tmp_path / "run")
    record = export_run(tmp_path / "run", "onnx", tmp_path / "run.onnx", count=16)
    assert record.parity.max_abs_difference <= TOLERANCE
    # photos the run never saw: the next three of each class
    photos = [p for folder in sorted(TRASHNET.iterdir()) if folder.is_dir() for p in sorted(folder.iterdir())[12:15]]
    from_file, _ = predict_images(tmp_path / "run.onnx", photos)
    from_run, _ = predict_images(tmp_path / "run", photos)
    assert list(from_file.y_pred) == list(from_run.y_pred)
    assert abs(from_file.proba - from_run.proba).max() <= TOLERANCE
