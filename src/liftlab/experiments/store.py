"""Finished runs as immutable records in an Optuna storage: SQLite in the output folder by default,
any Optuna RDB URL (PostgreSQL for many machines) with --storage.

A run is identified by the content of what it trains: data, fully resolved recipe (seed included) and
budget. So a rerun of the same plan finds its runs, and a changed plan reuses every run it shares with
the old one. Records are written only when a run has finished, so a killed run leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy.exc
from optuna.trial import TrialState

from liftlab.config import Recipe
from liftlab.records import RunRecord
from liftlab.redaction import cannot_open, redact

STUDY = "liftlab-runs"
RECORD_FORMAT = 1
OPEN_ATTEMPTS = 5
SCORED_AFTER = "scored_after_training"
"""Marks a record stored again for a run scored on the test split after it trained (the later one wins)."""


def run_key(spec: str, recipe: Recipe, budget: dict[str, Any]) -> str:
    """Content address of a run; `recipe.strategies` (a record of names) does not count."""
    content = recipe.model_dump(mode="json")
    content.pop("strategies", None)
    blob = json.dumps({"data": spec, "recipe": content, "budget": budget, "format": RECORD_FORMAT}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


class RunStore:
    def __init__(self, url: str) -> None:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.url = url
        for attempt in range(OPEN_ATTEMPTS):
            try:
                self.study = optuna.create_study(study_name=STUDY, storage=url, load_if_exists=True)
                break
            except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError) as error:
                # Two processes opening a new storage at once (tune workers, a reader polling a fresh
                # runs.db) both create its schema; the loser's insert of the schema version fails, or finds
                # the file locked. The schema is complete a moment later: open it again.
                if attempt == OPEN_ATTEMPTS - 1:
                    raise cannot_open(url, error) from None
                time.sleep(0.2 * (attempt + 1))
            except Exception as error:  # drivers raise their own types; all mean "cannot open"
                raise cannot_open(url, error) from None

    @classmethod
    def in_folder(cls, folder: Path) -> RunStore:
        folder.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{(folder / 'runs.db').resolve()}")

    def records(self) -> dict[str, RunRecord]:
        """Every finished run (completed or failed for a recorded reason) by key; where a key was recorded
        twice (a run scored on the test split after it trained), the later record."""
        found: dict[str, RunRecord] = {}
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)):
            key = trial.user_attrs.get("run_key")
            record = trial.user_attrs.get("record")
            if key and record:
                found[key] = RunRecord.from_json(record, f"{redact(self.url)}: run {key}")
        return found

    def add(self, record: RunRecord, scored_after: bool = False) -> None:
        """Store a finished run (`scored_after`: the same run again, now with its test scores)."""
        trial = self.study.ask()
        trial.set_user_attr("run_key", record.key)
        trial.set_user_attr("record", record.to_json())
        if scored_after:
            trial.set_user_attr(SCORED_AFTER, True)
        if record.val_acc is None or record.failed:  # `failed` includes no val_acc; the test first narrows the type
            self.study.tell(trial, state=TrialState.FAIL)
        else:
            self.study.tell(trial, float(record.val_acc))
