"""Tracking in MLflow never costs a run: a server stopped in the middle of a session leaves liftlab's store
complete and says so once; without MLflow installed, --track says what to install."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from mlflow_server import mlflow_server, parent_run

from liftlab.config import Recipe, apply_overrides
from liftlab.errors import BadInputError
from liftlab.experiments.runner import Job
from liftlab.experiments.session import Session
from liftlab.experiments.store import RunStore, run_key
from liftlab.experiments.tracking import Tracker

TINY = ["data.size=12", "model.width=8", "epochs=2"]


def test_a_server_stopped_mid_session_loses_no_run_and_warns_once(tmp_path: Path) -> None:
    recipes = [apply_overrides(Recipe(), [*TINY, f"seed={seed}"]) for seed in range(3)]
    jobs = [Job(run_key("builtin:digits", r, {}), "builtin:digits", r.model_dump(mode="json")) for r in recipes]
    warnings: list[str] = []
    with mlflow_server() as server:
        tracker = Tracker.open(server.uri, warnings.append)
        tracker.start_parent("ablate", "a session the server leaves", {"data": "builtin:digits"})
        session = Session(RunStore.in_folder(tmp_path), workers=1, tracker=tracker)
        finished: list[str] = []

        def stop_after_the_first(record: object) -> None:
            finished.append(str(record))
            if len(finished) == 1:
                server.stop()  # the first run was logged; the next two find no server

        batch = session.run(jobs, on_done=stop_after_the_first)
        tracker.finish_parent({"done": 1.0}, {"liftlab.verdict": "none"}, [])
    assert len(batch.records) == 3 and batch.trained == 3
    assert {job.key for job in jobs} <= set(RunStore.in_folder(tmp_path).records()), "every run is in the store"
    assert len(warnings) == 1 and "liftlab's own store keeps every run" in warnings[0], warnings
    assert tracker.failed


def test_track_without_mlflow_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)  # as if the extra were not installed
    with pytest.raises(BadInputError, match=r"pip install 'liftlab\[track\]'"):
        Tracker.open("http://127.0.0.1:1", lambda message: None)


def test_an_ablation_and_tune_trials_appear_nested_with_their_figures(tmp_path: Path, tracking_server: str) -> None:
    import json

    from typer.testing import CliRunner

    from liftlab.cli import app
    from liftlab.records.tune import TrialSummary

    out = tmp_path / "ablation"
    settings = [arg for o in TINY for arg in ("--set", o)]
    command = ["ablate", "builtin:digits", "--strategies", "flip", "--combine", "none", "--seeds", "1", "--workers",
               "1", "--out", str(out), "--track", tracking_server, "--quiet", *settings]  # fmt: skip
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.output
    ablation = json.loads((out / "ablation.json").read_text())
    client, experiment_id, parent = parent_run(tracking_server, "ablate", out)
    flip = next(arm for arm in ablation["arms"] if arm["name"] == "flip")
    assert parent.data.metrics["flip.mean_test_acc"] == pytest.approx(flip["mean_test_acc"])
    assert parent.data.tags["liftlab.verdict.flip"] == flip["verdict"]
    assert {item.path for item in client.list_artifacts(parent.info.run_id)} == {"ablation.json", "report.html"}
    children = client.search_runs([experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sorted(child.data.tags["mlflow.runName"] for child in children) == [
        "baseline seed 0, 2 epochs", "flip seed 0, 2 epochs"]  # fmt: skip

    # a tune trial: its sampled setting, and the validation accuracy the pruner saw at each epoch
    tracker = Tracker.open(tracking_server, lambda message: pytest.fail(message))
    tracker.start_parent("tune", "a study", {"data": "builtin:digits"})
    trial = TrialSummary(4, "PRUNED", 0.5, {"lr": 0.05}, ("lr=0.05",), 2, 1.0, {"1": 0.4, "2": 0.5})
    tracker.log_trial(trial, {"epochs": 6})
    logged = client.search_runs([experiment_id], f"tags.mlflow.parentRunId = '{tracker.parent_id}'")[0]
    assert logged.data.params["trial.lr"] == "0.05" and logged.data.params["epochs"] == "6"
    history = client.get_metric_history(logged.info.run_id, "val_acc")
    assert [(point.step, point.value) for point in history] == [(1, 0.4), (2, 0.5)]
