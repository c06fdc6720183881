"""Point 1: a `train` run SIGKILLed at five points, then resumed with `--resume`, ends with the weights,
history and test accuracy of an uninterrupted run (CPU, within 1e-6).

The kill comes from inside the child process at a chosen call (the n-th optimizer step, the epoch's
totals, validation, the checkpoint's state file half written, the metrics record half written), so each
case dies exactly where it says. The child wraps liftlab's functions before running the CLI; nothing in
liftlab knows about the test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

DATA = "builtin:digits"
EPOCHS = 4
BATCH = 64
STEPS_PER_EPOCH = 1437 // BATCH  # digits: 1,797 images, 80% train; only full batches are stepped
# Every kind of randomness a resume must restore: flips, crops, dropout, the shuffle, and an EMA of weights.
SETTINGS = ["data.size=8", "model.width=8", "precision=fp32", f"optim.batch_size={BATCH}", "augment.flip=true",
            "augment.crop_padding=1", "model.dropout=0.2", "optim.ema=0.9"]  # fmt: skip

CHILD = """
import io, os, signal, sys
import torch
from liftlab import io as liftlab_io
from liftlab.cli import app
from liftlab.train import distributed, loop

point, at = sys.argv[1], int(sys.argv[2])
calls = 0


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def killing_on_call(function):
    def wrapper(*args, **kwargs):
        global calls
        calls += 1
        if calls == at:
            die()
        return function(*args, **kwargs)
    return wrapper


if point == "mid-epoch":  # before the at-th optimizer step: lr_at is called once per step
    loop.lr_at = killing_on_call(loop.lr_at)
elif point == "end-of-epoch":  # every step of the epoch done, its totals not yet read
    distributed.sum_across = killing_on_call(distributed.sum_across)
elif point == "validation":
    loop.evaluate = killing_on_call(loop.evaluate)
elif point == "checkpoint":  # weights of the new checkpoint written, its state file half written
    real_save = torch.save

    def half_save(obj, path, *args, **kwargs):
        global calls
        calls += str(path).endswith("state.pt")
        if calls != at:
            return real_save(obj, path, *args, **kwargs)
        buffer = io.BytesIO()
        real_save(obj, buffer)
        with open(path, "wb") as stream:
            stream.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
            stream.flush()
            os.fsync(stream.fileno())
        die()

    torch.save = half_save
elif point == "record":  # the run's metrics.json half written to its temporary file
    real_atomic_write = liftlab_io.atomic_write

    def half_write(path, write):
        if path.name != "metrics.json":
            return real_atomic_write(path, write)

        def write_half(tmp):
            write(tmp)
            content = tmp.read_bytes()
            tmp.write_bytes(content[: len(content) // 2])
            die()

        return real_atomic_write(path, write_half)

    liftlab_io.atomic_write = half_write
sys.argv = ["liftlab", *sys.argv[3:]]
app(prog_name="liftlab")
"""

# (point, the call at which the child dies, the epoch of the checkpoint the resume starts from): the first
# four inside epoch 2 of 4, so the resume starts from epoch 1's checkpoint; the record after the last epoch.
POINTS = [
    ("mid-epoch", STEPS_PER_EPOCH + STEPS_PER_EPOCH // 2, 1),
    ("end-of-epoch", 2, 1),
    ("validation", 2, 1),
    ("checkpoint", 2, 1),
    ("record", 1, EPOCHS),
]


def _train(out: Path, *extra: str) -> list[str]:
    arguments = ["train", DATA, "--epochs", str(EPOCHS), "--out", str(out), "--quiet", *extra]
    for setting in SETTINGS:
        arguments += ["--set", setting]
    return arguments


def _liftlab(arguments: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "liftlab", *arguments], capture_output=True, text=True)


def _history(out: Path) -> list[dict[str, float]]:
    timings = ("seconds", "train_seconds")
    return [{k: v for k, v in r.items() if k not in timings} for r in json.loads((out / "history.json").read_text())]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("crash") / "uninterrupted"
    done = _liftlab(_train(out))
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.parametrize(("point", "at", "from_epoch"), POINTS, ids=[point for point, *_ in POINTS])
def test_a_run_killed_and_resumed_equals_an_uninterrupted_one(
    point: str, at: int, from_epoch: int, uninterrupted: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    killed = subprocess.run([sys.executable, "-c", CHILD, point, str(at), *_train(out)], capture_output=True, text=True)
    assert killed.returncode == -9, f"the child was not killed at {point}: {killed.stderr[-2000:]}"
    assert not (out / "metrics.json").exists(), "killed before the run's results were complete"

    resumed = _liftlab(_train(out, "--resume"))
    assert resumed.returncode == 0, resumed.stderr
    assert "it ends as an uninterrupted run would" in resumed.stdout

    expected, found = load_file(str(uninterrupted / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert expected.keys() == found.keys()
    for name in expected:
        assert torch.allclose(expected[name], found[name], rtol=0, atol=1e-6), f"{point}: {name} differs"
    history, reference_history = _history(out), _history(uninterrupted)
    assert len(history) == len(reference_history) == EPOCHS
    for record, reference_record in zip(history, reference_history, strict=True):
        assert record == pytest.approx(reference_record, abs=1e-6)
    metrics = json.loads((out / "metrics.json").read_text())
    reference = json.loads((uninterrupted / "metrics.json").read_text())
    assert metrics["test_acc"] == pytest.approx(reference["test_acc"], abs=1e-6)
    assert metrics["resumed"] == [{"from_epoch": from_epoch, "exact": True}]
    assert metrics["images_per_second"] > 0, "the throughput counts the epochs before the crash"
