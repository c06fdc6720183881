"""Typed, immutable records: the bottom layer (no torch) that every layer above reads instead of string
keys. `runs` (an epoch, a run), `diagnosis`, `ablation` and `improve`; each record has `to_json` (the
documented keys of the file it is written to) and `from_json`, which names the field that is missing or of
the wrong type. `FORMAT` is written into every record; a file without one is of format 1."""

from liftlab.records.ablation import AblationArm, AblationResult, FailedRun
from liftlab.records.diagnosis import CODES, SEVERITIES, Diagnosis, Finding, Recommendation
from liftlab.records.fields import FORMAT
from liftlab.records.improve import EnsembleChoice, Exported, ImproveResult, ProbeMemberChoice, RecipeResult, Step
from liftlab.records.runs import (
    EPOCH_CURVES,
    LEARNING_RATE,
    TRAIN_ACC,
    TRAIN_LOSS,
    VAL_ACC,
    VAL_LOSS,
    Epoch,
    EpochCurve,
    RunRecord,
    RunSummary,
    history_from_json,
)

__all__ = [
    "CODES",
    "EPOCH_CURVES",
    "FORMAT",
    "LEARNING_RATE",
    "SEVERITIES",
    "TRAIN_ACC",
    "TRAIN_LOSS",
    "VAL_ACC",
    "VAL_LOSS",
    "AblationArm",
    "AblationResult",
    "Diagnosis",
    "EnsembleChoice",
    "Epoch",
    "EpochCurve",
    "Exported",
    "FailedRun",
    "Finding",
    "ImproveResult",
    "ProbeMemberChoice",
    "RecipeResult",
    "Recommendation",
    "RunRecord",
    "RunSummary",
    "Step",
    "history_from_json",
]
