"""One experiment session: the run store, the runner and the ledger of what this invocation trained.

`ablate`, `improve` and `tune`'s repeats all ask the same thing of it: here are jobs (content-addressed
runs); give me their records, from the store where they are done, else trained, and remember which was
which. One place decides reuse, records a finished run before its checkpoints go, and counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from liftlab.experiments.capacity import machine_capacity
from liftlab.experiments.runner import Job, run_jobs
from liftlab.experiments.store import RunStore
from liftlab.experiments.tracking import Tracker
from liftlab.records import RunRecord
from liftlab.train.run_folder import score_run_folder


@dataclass
class Ledger:
    """Keys this invocation trained, found already done (each once), and trained on from a killed run's
    checkpoint."""

    trained: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Batch:
    """What one `Session.run` call returned: records by key, and how many it trained and reused."""

    records: dict[str, RunRecord]
    trained: int
    reused: int


def always(record: RunRecord) -> bool:
    return True


class Session:
    def __init__(self, store: RunStore, workers: int | None = None, tracker: Tracker | None = None) -> None:
        self.store = store
        self.tracker = tracker  # each run trained here is mirrored to MLflow after the store keeps it
        self.capacity = machine_capacity().with_workers(workers)  # measured once per machine, then cached
        self.workers = self.capacity.workers
        self.records = store.records()
        self.ledger = Ledger()
        self.found_at_start = len(self.records)

    def run(
        self,
        jobs: list[Job],
        reusable: Callable[[RunRecord], bool] = always,
        on_done: Callable[[RunRecord], None] = lambda record: None,
    ) -> Batch:
        """Records of `jobs` (one per distinct key): a stored one where `reusable(record)`, else trained
        (in parallel workers), stored as it finishes and passed to `on_done`."""
        wanted: dict[str, Job] = {}
        to_train: list[Job] = []
        for job in jobs:
            if job.key in wanted:
                continue
            wanted[job.key] = job
            stored = self.records.get(job.key)
            if stored is None or not reusable(stored):  # decided once per key
                to_train.append(job)
            elif job.key not in self.ledger.reused and job.key not in self.ledger.trained:
                self.ledger.reused.append(job.key)
        reused = len(wanted) - len(to_train)

        def finished(record: RunRecord) -> None:
            self.keep(record)
            self.ledger.trained.append(record.key)
            if record.resumed_from_epoch is not None:
                self.ledger.resumed.append(record.key)
            if self.tracker is not None:
                self.tracker.log_run(record, wanted[record.key].recipe, wanted[record.key].spec)
            on_done(record)

        run_jobs(to_train, min(self.workers, len(to_train)) if to_train else 1, finished)
        return Batch({key: self.records[key] for key in wanted}, len(to_train), reused)

    def keep(self, record: RunRecord, scored_after: bool = False) -> None:
        self.store.add(record, scored_after)
        self.records[record.key] = record

    def scored_on_test(self, record: RunRecord, folder: Path, spec: str) -> RunRecord:
        """`record` with test predictions: as stored when it has them, else its saved model scored now (a
        search run that becomes a final one), and the scored record kept in the store."""
        if record.scored_on_test or record.failed:
            return record
        labels, predictions = score_run_folder(folder, spec)
        scored = record.with_test(labels, predictions)
        self.keep(scored, scored_after=True)
        return scored
