"""`liftlab train --nproc 2`: one run in two processes (torchrun, gloo) matches a single process."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ARGS = ["builtin:digits", "--epochs", "6", "--set", "data.size=8", "--set", "precision=fp32", "--quiet"]


def train(out: Path, *extra: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "liftlab", "train", *ARGS, "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads((out / "metrics.json").read_text())


@pytest.mark.slow
def test_two_processes_match_one_within_noise(tmp_path: Path) -> None:
    single = train(tmp_path / "one")
    double = train(tmp_path / "two", "--nproc", "2")
    assert double["processes"] == 2 and "processes" not in single
    history = json.loads((tmp_path / "two" / "history.json").read_text())
    assert [r["epoch"] for r in history] == list(range(1, 7))
    # three standard errors of the difference of two accuracies on the same test images
    p, n = single["test_acc"], single["n_test"]
    assert abs(double["test_acc"] - single["test_acc"]) <= 3 * math.sqrt(2 * p * (1 - p) / n) + 1e-9
    assert double["n_train"] == single["n_train"], "both processes saw the whole training set between them"


def test_a_batch_that_does_not_split_evenly_is_refused(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "liftlab", "train", *ARGS, "--set", "optim.batch_size=127", "--nproc", "2"]
    done = subprocess.run([*command, "--out", str(tmp_path / "odd")], capture_output=True, text=True, timeout=600)
    assert done.returncode != 0
    assert "multiple of --nproc 2" in done.stdout + done.stderr
