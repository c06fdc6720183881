"""Finished runs as immutable records in an Optuna storage: SQLite in the output folder by default,
any Optuna RDB URL (PostgreSQL for many machines) with --storage.

A run is identified by the content of what it trains: data, fully resolved recipe (seed included) and
budget. So a rerun of the same plan finds its runs, and a changed plan reuses every run it shares with
the old one. Records are written only when a run has finished, so a killed run leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from liftlab.config import Recipe
from liftlab.errors import BadInputError

STUDY = "liftlab-runs"
RECORD_FORMAT = 1


def run_key(spec: str, recipe: Recipe, budget: dict[str, Any]) -> str:
    """Content address of a run; `recipe.strategies` (a record of names) does not count."""
    content = recipe.model_dump(mode="json")
    content.pop("strategies", None)
    blob = json.dumps({"data": spec, "recipe": content, "budget": budget, "format": RECORD_FORMAT}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def redact(url: str) -> str:
    """A storage URL with its password replaced, for messages and records."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def scrub(text: str, url: str | None) -> str:
    """`text` with the password of `url` (if any) removed, wherever a driver may have echoed it."""
    if not url:
        return text
    text = text.replace(url, redact(url))
    password = _password(url)
    return text.replace(password, "***") if password else text


def cannot_open(url: str, error: Exception) -> BadInputError:
    """The error for a storage that failed to open: the URL redacted, the driver's message scrubbed."""
    return BadInputError(f"--storage {redact(url)}: cannot be opened ({scrub(str(error), url)})")


def _password(url: str) -> str | None:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).password
    except Exception:  # an unparsable URL has no password to find; redact() still applies
        return None


class RunStore:
    def __init__(self, url: str) -> None:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.url = url
        try:
            self.study = optuna.create_study(study_name=STUDY, storage=url, load_if_exists=True)
        except Exception as error:  # drivers raise their own types; all mean "cannot open"
            raise cannot_open(url, error) from None

    @classmethod
    def in_folder(cls, folder: Path) -> RunStore:
        folder.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{(folder / 'runs.db').resolve()}")

    def records(self) -> dict[str, dict[str, Any]]:
        """Every finished run (completed or failed for a recorded reason) by key."""
        found: dict[str, dict[str, Any]] = {}
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)):
            key = trial.user_attrs.get("run_key")
            record = trial.user_attrs.get("record")
            if key and record:
                found[key] = record
        return found

    def add(self, key: str, record: dict[str, Any]) -> None:
        trial = self.study.ask()
        trial.set_user_attr("run_key", key)
        trial.set_user_attr("record", record)
        if record.get("stopped_reason") or record.get("test_acc") is None:
            self.study.tell(trial, state=TrialState.FAIL)
        else:
            self.study.tell(trial, float(record["val_acc"]))
