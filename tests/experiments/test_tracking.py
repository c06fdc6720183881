"""Tracking in MLflow never costs a run: a server stopped in the middle of a session leaves liftlab's store
complete and says so once; without MLflow installed, --track says what to install."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from mlflow_server import mlflow_server

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
