"""liftlab's runs mirrored into an MLflow tracking server (`--track URI` or LIFTLAB_TRACKING_URI), beside the
rest of a team's work. Each trained run becomes an MLflow run (the recipe flattened as parameters, every
epoch's losses and accuracies as metrics at their step, the seed, the split each metric is on, the data's
fingerprint), nested under one parent run per `ablate`, `improve` or `tune` invocation, which also gets the
verdict, the lift with its interval, report.html and the exported model.

liftlab's own store (runs.db, the run folders) stays the record: everything is logged after liftlab has kept
it, through MLflow's client (no global active run). A server that is down or refuses a write stops the
mirroring for the rest of the command with one warning; no run is lost and nothing is retried per epoch.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from liftlab.errors import BadInputError
from liftlab.records import EPOCH_CURVES, VAL_ACC, RunRecord, history_from_json
from liftlab.records.runs import RunMetrics
from liftlab.records.tune import TrialSummary

TRACKING_ENV = "LIFTLAB_TRACKING_URI"
EXPERIMENT = "liftlab"
SPLITS = "val_* on the validation split, test_* on the test split"
CLIENT_SETTINGS = {
    # a server that is down should cost seconds, once: MLflow's default retries back off for minutes
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
}
BATCH = 100
"""Parameters and metrics per `log_batch` call: MLflow's own limit on parameters in one batch."""


def key(name: str) -> str:
    """`name` as an MLflow key, which takes letters, digits and `_-. /` only (an arm named `crop=2,flip`).

    >>> key("crop=2,flip.delta")
    'crop_2_flip.delta'
    """
    return re.sub(r"[^A-Za-z0-9_\-. /]", "_", name)


def tracking_uri(option: str | None) -> str | None:
    """--track, else LIFTLAB_TRACKING_URI, else None (no tracking)."""
    return option or os.environ.get(TRACKING_ENV) or None


def flattened(values: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """A nested recipe as MLflow parameters: dotted keys (as `--set` names them), values as text.

    >>> flattened({"epochs": 3, "data": {"size": 32, "color": "rgb"}, "strategies": ["flip"]})
    {'epochs': '3', 'data.size': '32', 'data.color': 'rgb', 'strategies': '["flip"]'}
    """
    found: dict[str, str] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            found |= flattened(value, f"{prefix}{key}.")
        else:
            found[f"{prefix}{key}"] = value if isinstance(value, str) else json.dumps(value)
    return found


def epoch_metrics(record: RunRecord) -> list[tuple[str, float, int]]:
    """(name, value, step) of every epoch's losses, accuracies and learning rate, and the run's final scores."""
    found = []
    for epoch in record.history:
        for curve in EPOCH_CURVES:
            value = curve.of(epoch)
            if value is not None:
                found.append((curve.name, float(value), epoch.epoch))
    last = record.history[-1].epoch if record.history else 0
    for name, value in (("final_val_acc", record.val_acc), ("test_acc", record.test_acc), ("seconds", record.seconds)):
        if value is not None:
            found.append((name, float(value), last))
    return found


class Tracker:
    """One command's mirror into MLflow: a parent run, its children, and one warning if the server fails."""

    def __init__(self, client: Any, experiment_id: str, uri: str, warn: Callable[[str], None]) -> None:
        self.client = client
        self.experiment_id = experiment_id
        self.uri = uri
        self.warn = warn
        self.failed = False
        self.parent_id: str | None = None

    @classmethod
    def open(cls, uri: str, warn: Callable[[str], None], experiment: str = EXPERIMENT) -> Tracker:
        """A tracker writing to `uri`; the `track` extra is needed (a clear error without it). A server that
        cannot be reached gives a tracker that has failed already: the command runs, with one warning."""
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise BadInputError(
                "--track needs MLflow, which liftlab does not install by default: pip install 'liftlab[track]'"
            ) from None
        for name, value in CLIENT_SETTINGS.items():
            os.environ.setdefault(name, value)  # MLflow's client reads these per request; the user's own win
        tracker = cls(MlflowClient(tracking_uri=uri), "", uri, warn)
        found = tracker.guard(lambda: tracker.client.get_experiment_by_name(experiment))
        if not tracker.failed:
            made = found.experiment_id if found is not None else tracker.guard(
                lambda: tracker.client.create_experiment(experiment)
            )  # fmt: skip
            tracker.experiment_id = str(made or "")
        return tracker

    def guard(self, call: Callable[[], Any]) -> Any:
        """`call()`, unless tracking has failed; the first failure warns once and stops the mirroring."""
        if self.failed:
            return None
        try:
            return call()
        except Exception as error:  # MLflow raises its own, requests' and OS errors alike: all mean "not logged"
            self.failed = True
            reason = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
            self.warn(
                f"MLflow tracking at {self.uri} failed ({type(error).__name__}: {reason}); liftlab's own store keeps "
                "every run, and nothing more is sent to MLflow in this command"
            )
            return None

    def start_parent(self, command: str, name: str, params: Mapping[str, Any]) -> None:
        """The parent run of this invocation (`command`: ablate, improve or tune)."""
        tags = {"mlflow.runName": name, "liftlab.command": command}
        run = self.guard(lambda: self.client.create_run(self.experiment_id, tags=tags))
        if run is not None:
            self.parent_id = run.info.run_id
            self._log(self.parent_id, flattened(params), [])

    def log_run(self, record: RunRecord, recipe: Mapping[str, Any], spec: str, name: str | None = None) -> None:
        """One trained run, nested under the parent when there is one."""
        epochs = f", {recipe['epochs']} epochs" if "epochs" in recipe else ""  # a search trains arms at several
        label = name or f"{','.join(record.strategies) or 'baseline'} seed {record.seed}{epochs}"
        tags = {"mlflow.runName": label, "liftlab.key": record.key, "liftlab.seed": str(record.seed),
                "liftlab.data": spec, "liftlab.data_fingerprint": record.data_fingerprint, "liftlab.splits": SPLITS,
                "liftlab.stopped_reason": record.stopped_reason or ""}  # fmt: skip
        run = self._child(tags)
        if run is None:
            return
        self._log(run.info.run_id, flattened(recipe), epoch_metrics(record))
        status = "FAILED" if record.failed else "FINISHED"
        self.guard(lambda: self.client.set_terminated(run.info.run_id, status=status))

    def _child(self, tags: dict[str, str]) -> Any:
        """A new run with `tags`, nested under the parent when there is one (None when tracking failed)."""
        if self.parent_id is not None:
            tags = tags | {"mlflow.parentRunId": self.parent_id}
        return self.guard(lambda: self.client.create_run(self.experiment_id, tags=tags))

    def log_trial(self, trial: TrialSummary, base: Mapping[str, Any]) -> None:
        """One Optuna trial of `tune`: its sampled settings, the validation accuracy the pruner saw at each
        epoch, and its value, nested under the parent."""
        tags = {"mlflow.runName": f"trial {trial.number}", "liftlab.trial": str(trial.number),
                "liftlab.state": trial.state, "liftlab.splits": SPLITS}  # fmt: skip
        run = self._child(tags)
        if run is None:
            return
        params = flattened(base) | {f"trial.{name}": str(value) for name, value in trial.params.items()}
        params["strategies"] = json.dumps(list(trial.strategies))
        points = [(VAL_ACC.name, float(value), int(step)) for step, value in trial.intermediate.items()]
        if trial.value is not None:
            points.append(("value", float(trial.value), max((step for _, _, step in points), default=0)))
        self._log(run.info.run_id, params, points)
        status = "FINISHED" if trial.state in ("COMPLETE", "PRUNED") else "FAILED"
        self.guard(lambda: self.client.set_terminated(run.info.run_id, status=status))

    def finish_parent(
        self, metrics: Mapping[str, float | None], texts: Mapping[str, str], artifacts: Iterable[Path]
    ) -> None:
        """The invocation's verdict (`texts`, as tags), its figures (`metrics`) and files, then the parent ends."""
        if self.parent_id is None:
            return
        run_id = self.parent_id
        for name, text in texts.items():
            self.guard(partial(self.client.set_tag, run_id, key(name), text[:5000]))
        figures = [(key(name), float(value), 0) for name, value in metrics.items() if value is not None]
        self._log(run_id, {}, figures)
        for path in artifacts:
            if path.is_file():
                self.guard(partial(self.client.log_artifact, run_id, str(path)))
        self.guard(lambda: self.client.set_terminated(run_id))

    def _log(self, run_id: str, params: Mapping[str, str], metrics: list[tuple[str, float, int]]) -> None:
        from mlflow.entities import Metric, Param

        stamp = int(time.time() * 1000)
        entries = [Param(key(name), value[:6000]) for name, value in params.items()]
        for start in range(0, len(entries), BATCH):
            self.guard(partial(self.client.log_batch, run_id, params=entries[start : start + BATCH]))
        points = [Metric(name, value, stamp, step) for name, value, step in metrics]
        for start in range(0, len(points), BATCH * 10):  # MLflow takes 1,000 metrics a batch
            self.guard(partial(self.client.log_batch, run_id, metrics=points[start : start + BATCH * 10]))


def warn_on_stderr(message: str) -> None:
    print(f"liftlab: warning: {message}", file=sys.stderr, flush=True)


def start_tracking(
    uri: str | None, command: str, name: str, params: Mapping[str, Any], parent: bool = True
) -> Tracker | None:
    """The tracker of one `command` invocation with its parent run started (`parent`; `train`'s one run needs
    none), or None without a URI (--track, else LIFTLAB_TRACKING_URI)."""
    found = tracking_uri(uri)
    if found is None:
        return None
    tracker = Tracker.open(found, warn_on_stderr)
    if parent:
        tracker.start_parent(command, name, params)
    return tracker


def run_folder_record(folder: Path, metrics: RunMetrics) -> RunRecord:
    """A `train` run folder as the run record the tracker logs (its key: the folder)."""
    history = history_from_json(json.loads((folder / "history.json").read_text()), str(folder / "history.json"))
    return RunRecord(str(folder), metrics.seed, metrics.strategies, metrics.val_acc, metrics.test_acc, history,
                     metrics.seconds, stopped_reason=metrics.stopped_reason, dtype=metrics.dtype,
                     device=metrics.device, liftlab_version=metrics.liftlab_version,
                     data_fingerprint=metrics.data_fingerprint)  # fmt: skip
