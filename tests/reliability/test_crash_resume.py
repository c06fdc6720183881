"""Point 1: a `train` run SIGKILLed at five points, then resumed with `--resume`, ends with the weights,
history and test accuracy of an uninterrupted run (CPU, within 1e-6).

The kill comes from inside the process at a chosen call (killing_cli.py): the n-th optimizer step, the
epoch's totals, validation, the checkpoint's state file half written, the metrics record half written.
`ablate` and `improve` are killed at the level of runs (during a run, while its record is stored, while a
result file is written) and rerun: `ablate` ends identical to an uninterrupted run; `improve`, whose
search cuts by elapsed time, reuses every finished run unchanged and says that it resumed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from optuna.trial import TrialState
from safetensors.torch import load_file

from liftlab.experiments.store import SCORED_AFTER, RunStore

DATA = "builtin:digits"
EPOCHS = 4
BATCH = 64
STEPS_PER_EPOCH = 1437 // BATCH  # digits: 1,797 images, 80% train; only full batches are stepped
# Every kind of randomness a resume must restore: flips, crops, dropout, the shuffle, and an EMA of weights.
# The layout is fixed, not timed (`auto`), so the comparison rests on no timing verdict: layouts round differently.
SETTINGS = ["data.size=8", "model.width=8", "precision=fp32", f"optim.batch_size={BATCH}", "augment.flip=true",
            "augment.crop_padding=1", "model.dropout=0.2", "optim.ema=0.9", "memory_format=channels_last"]  # fmt: skip

KILLING_CLI = str(Path(__file__).with_name("killing_cli.py"))

# (point, the call at which the child dies, the epoch of the checkpoint the resume starts from): the first
# four inside epoch 2 of 4, so the resume starts from epoch 1's checkpoint; the record after the last epoch.
POINTS = [
    ("step", STEPS_PER_EPOCH + STEPS_PER_EPOCH // 2, 1),
    ("epoch-end", 2, 1),
    ("validation", 2, 1),
    ("checkpoint", 2, 1),
    ("record:metrics.json", 1, EPOCHS),
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
    killed = subprocess.run([sys.executable, KILLING_CLI, point, str(at), *_train(out)], capture_output=True, text=True)
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


def _stored(out: Path) -> dict[str, dict[str, object]]:
    """Finished runs in the folder's run store, by key, as trained (a search run that became a final one is
    stored once more with its test scores; those are left out); fails if any run was trained twice."""
    trials = RunStore.in_folder(out).study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))
    trained = [t for t in trials if not t.user_attrs.get(SCORED_AFTER)]
    keys = [t.user_attrs["run_key"] for t in trained]
    assert len(keys) == len(set(keys)), "a finished run was trained and stored again"
    return {t.user_attrs["run_key"]: t.user_attrs["record"] for t in trained}


def _killed(point: str, at: int, arguments: list[str]) -> None:
    killed = subprocess.run([sys.executable, KILLING_CLI, point, str(at), *arguments], capture_output=True, text=True)
    assert killed.returncode == -9, f"not killed at {point}: {killed.stderr[-2000:]}"


ABLATE = ["ablate", DATA, "--strategies", "flip,crop=2", "--seeds", "2", "--epochs", "3", "--workers", "1",
          "--set", "data.size=8", "--set", "model.width=8", "--set", "precision=fp32", "--quiet"]  # fmt: skip
ABLATE_RUNS = 8  # baseline, flip, crop=2, flip+crop=2 x 2 seeds
ABLATE_STEPS = 3 * (1437 // 128)  # optimizer steps of one run

# The ablation is killed again and again on its way, each time further on: during its third run, while
# storing a run's record, while writing ablation.json, while writing report.html.
ABLATE_KILLS = [("step", 2 * ABLATE_STEPS + ABLATE_STEPS // 2), ("store", 2), ("record:ablation.json", 1),
                ("record:report.html", 1)]  # fmt: skip


def test_a_killed_ablation_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    whole = _liftlab([*ABLATE, "--out", str(tmp_path / "whole")])
    assert whole.returncode == 0, whole.stderr
    out = tmp_path / "killed"
    arguments = [*ABLATE, "--out", str(out)]
    before: dict[str, dict[str, object]] = {}
    for point, at in ABLATE_KILLS:
        _killed(point, at, arguments)
        if point == "step":  # the third run was killed in its second epoch: its first epoch is kept
            assert [json.loads(p.read_text())["epoch"] for p in out.glob("checkpoints/*/latest.json")] == [1]
        stored = _stored(out)
        assert {key: stored[key] for key in before} == before, f"{point}: a finished run's record changed"
        assert len(stored) >= len(before)
        before = stored
    assert len(before) == ABLATE_RUNS, "every run was finished before the last two kills"

    resumed = _liftlab(arguments)
    assert resumed.returncode == 0, resumed.stderr
    assert f"trained 0 run(s), reused {ABLATE_RUNS}" in resumed.stdout
    assert _stored(out) == before
    # the run killed mid-training continued from its epoch 1, the run killed while its record was stored
    # from its last epoch (3); the finished runs' checkpoints are gone
    assert sorted(r["resumed_from_epoch"] for r in before.values() if r["resumed_from_epoch"]) == [1, 3]  # type: ignore[type-var]
    assert not list(out.glob("checkpoints/*/epoch-*"))
    assert json.loads((out / "ablation.json").read_text()) == json.loads(
        (tmp_path / "whole" / "ablation.json").read_text()
    )
    assert (out / "report.html").read_text() == (tmp_path / "whole" / "report.html").read_text()


def _improve(out: Path) -> list[str]:
    return ["improve", DATA, "--budget", "2m", "--workers", "1", "--set", "epochs=4", "--set", "data.size=16",
            "--set", "model.width=8", "--out", str(out), "--quiet"]  # fmt: skip


@pytest.mark.slow
def test_a_killed_improve_reuses_every_finished_run_and_says_it_resumed(tmp_path: Path) -> None:
    out = tmp_path / "improve"
    # Killed from outside once four run folders exist (somewhere inside a later run), then from inside
    # while storing the second run it finishes after that.
    process = subprocess.Popen([sys.executable, "-m", "liftlab", *_improve(out)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 240
    while len(list(out.glob("runs/*/metrics.json"))) < 4 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert process.poll() is None, "improve finished before it could be interrupted"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    first = _stored(out)
    assert len(first) >= 3 and not (out / "improve.json").exists()
    json.loads((out / "plan.json").read_text())  # the plan is a complete document
    _killed("store", 2, _improve(out))
    second = _stored(out)
    assert {key: second[key] for key in first} == first and len(second) == len(first) + 1

    rerun = _liftlab(_improve(out))
    assert rerun.returncode == 0, rerun.stderr
    assert "resumed" in rerun.stdout and "reused unchanged" in rerun.stdout
    final = _stored(out)
    assert {key: final[key] for key in second} == second, "a finished run's record changed"
    assert any(record["resumed_from_epoch"] for record in final.values()), "the run whose storing was killed resumed"
    result = json.loads((out / "improve.json").read_text())
    assert result["resumed"]["runs_found"] == len(second) and result["resumed"]["exact"] is False
    assert result["runs_reused"] >= len(second) and len(final) == len(second) + result["runs_trained"]
    assert "continued an earlier, interrupted invocation" in (out / "report.html").read_text()
