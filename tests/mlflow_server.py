"""A private, throwaway MLflow tracking server for the tests that need one: `mlflow server` on 127.0.0.1, a
free port, a SQLite backend and an artifact folder in a temporary folder, stopped (its whole process group)
when the context ends or by `stop()`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

START_S = 90.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class MlflowServer:
    uri: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@contextmanager
def mlflow_server() -> Iterator[MlflowServer]:
    with tempfile.TemporaryDirectory(prefix="liftlab-mlflow-") as folder:
        root = Path(folder)
        port = _free_port()
        command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{root / 'db.sqlite'}",
                   "--default-artifact-root", str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
                   "--workers", "1"]  # fmt: skip
        log = (root / "server.log").open("wb")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        server = MlflowServer(f"http://127.0.0.1:{port}", process)
        try:
            deadline = time.monotonic() + START_S
            while True:
                try:
                    with urllib.request.urlopen(f"{server.uri}/health", timeout=2) as answer:
                        if answer.status == 200:
                            break
                except OSError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mlflow server did not start: {(root / 'server.log').read_text()[-2000:]}")
                time.sleep(0.2)
            yield server
        finally:
            server.stop()
            log.close()


def parent_run(uri: str, command: str, out: Path) -> tuple[Any, str, Any]:
    """(client, experiment id, the parent run) of the `command` invocation that wrote `out`, read back from `uri`."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("liftlab")
    assert experiment is not None, "no liftlab experiment in the tracking server"
    parents = client.search_runs([experiment.experiment_id], f"tags.`liftlab.command` = '{command}'")
    return client, experiment.experiment_id, next(run for run in parents if run.data.params.get("out") == str(out))
