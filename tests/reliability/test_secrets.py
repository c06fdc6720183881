"""Point 10: a storage URL with a password, through a failed connection and through a crash (the
database vanishing mid-run): the password appears in no output, traceback, report or record."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from pg_server import PASSWORD, postgres_server
from typer.testing import CliRunner

from liftlab.cli import app
from liftlab.config import Recipe, apply_overrides
from liftlab.experiments.tune import TuneSettings, create_study

runner = CliRunner()


@pytest.mark.parametrize("command", [["ablate", "builtin:digits", "--strategies", "flip"],
                                     ["tune", "builtin:digits"], ["worker", "--study", "s"]])  # fmt: skip
def test_a_failed_connection_never_shows_the_password(command: list[str], tmp_path: Path) -> None:
    url = f"postgresql://liftlab:{PASSWORD}@127.0.0.1:9/liftlab"  # nothing listens on port 9
    result = runner.invoke(app, [*command, "--out", str(tmp_path)] if command[0] != "worker" else command,
                           env={"LIFTLAB_STORAGE": url})  # fmt: skip
    assert result.exit_code == 2, result.output
    assert PASSWORD not in result.output and "***@" in result.output
    assert not any(PASSWORD in p.read_text(errors="ignore") for p in tmp_path.rglob("*") if p.is_file())


@pytest.mark.slow
def test_a_database_that_dies_mid_run_never_shows_the_password(tmp_path: Path) -> None:
    base = apply_overrides(Recipe(), ["data.size=8", "model.width=8", "data.color=gray", "epochs=40"])
    with postgres_server() as url:
        create_study("builtin:digits", base, TuneSettings(trials=50, study="dies", storage=url, pruner="none"),
                     tmp_path)  # fmt: skip
        worker = subprocess.Popen([sys.executable, "-m", "liftlab", "worker", "--study", "dies"],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  env={**os.environ, "LIFTLAB_STORAGE": url})  # fmt: skip
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            trials = optuna.load_study(study_name="dies", storage=url).get_trials(deepcopy=False)
            if any(t.state == TrialState.RUNNING and t.user_attrs.get("epochs_trained", 0) >= 1 for t in trials):
                break
            time.sleep(0.5)
    # leaving the block stopped the server at once, while the worker was training
    output = worker.communicate(timeout=300)[0]
    assert worker.returncode != 0, "the worker fails when its database is gone"
    assert "Traceback" in output or "error" in output.lower(), output[-2000:]
    assert PASSWORD not in output
