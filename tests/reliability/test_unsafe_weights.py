"""Point 7: a pickle whose unpickling would run code, fed to every path that loads weights.

liftlab reads weights only as safetensors or with `torch.load(weights_only=True)`; each path must
refuse the file with a clear error (exit 2 from the CLI), and the payload must never run.
"""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from liftlab.cli import app

runner = CliRunner()
TINY = ["--set", "data.size=8", "--set", "model.width=8", "--set", "data.color=gray", "--quiet"]


class Payload:
    """Unpickling this calls os.system, which would create the sentinel file."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.sentinel}",)


def write_payload(path: Path, sentinel: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps({"weights": Payload(sentinel)}))
    return path


@pytest.fixture
def trained(tmp_path: Path) -> Path:
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "builtin:digits", "--epochs", "2", "--out", str(out), *TINY])
    assert result.exit_code == 0, result.output
    return out


def test_the_payload_really_runs_when_unpickled_unsafely(tmp_path: Path) -> None:
    sentinel = tmp_path / "ran"
    pickle.loads(write_payload(tmp_path / "evil.pt", sentinel).read_bytes())  # the control: unsafe loading
    assert sentinel.exists()


def test_resume_refuses_a_poisoned_checkpoint(trained: Path, tmp_path: Path) -> None:
    sentinel = tmp_path / "ran"
    for state in (trained / "checkpoint").glob("epoch-*/state.pt"):
        write_payload(state, sentinel)
    result = runner.invoke(app, ["train", "builtin:digits", "--epochs", "2", "--out", str(trained), "--resume", *TINY])
    assert result.exit_code == 2, result.output
    assert "cannot be read" in result.output and "remove it to start over" in result.output
    assert not sentinel.exists()


def test_resume_refuses_poisoned_checkpoint_weights(trained: Path, tmp_path: Path) -> None:
    sentinel = tmp_path / "ran"
    for weights in (trained / "checkpoint").glob("epoch-*/weights.safetensors"):
        write_payload(weights, sentinel)
    result = runner.invoke(app, ["train", "builtin:digits", "--epochs", "2", "--out", str(trained), "--resume", *TINY])
    assert result.exit_code == 2 and "cannot be read" in result.output
    assert not sentinel.exists()


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".bin", ".safetensors"])
def test_pretrained_weights_file_is_refused(tmp_path: Path, suffix: str) -> None:
    sentinel = tmp_path / "ran"
    evil = write_payload(tmp_path / f"evil{suffix}", sentinel)
    model = ["--set", f"model.pretrained={evil}", "--set", "model.name=resnet18"]
    out = ["--out", str(tmp_path / "out")]
    result = runner.invoke(app, ["train", "builtin:digits", "--epochs", "1", *out, *model, *TINY])
    assert result.exit_code == 2, result.output
    assert "cannot be read as weights" in result.output
    assert not sentinel.exists()


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_a_run_folder_with_poisoned_weights_is_refused(trained: Path, tmp_path: Path, command: str) -> None:
    sentinel = tmp_path / "ran"
    poisoned = tmp_path / "poisoned"
    shutil.copytree(trained, poisoned)
    write_payload(poisoned / "model.safetensors", sentinel)
    images = tmp_path / "images"
    images.mkdir()
    from PIL import Image

    Image.new("L", (8, 8), 128).save(images / "a.png")
    args = (
        [str(poisoned), str(images)] if command == "predict" else ["--model", str(poisoned), "--data", "builtin:digits"]
    )
    result = runner.invoke(app, [command, *args])
    assert result.exit_code == 2, result.output
    assert "cannot be loaded" in result.output
    assert not sentinel.exists()
