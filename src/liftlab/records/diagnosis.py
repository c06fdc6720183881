"""The record of a diagnosis: findings (a stable code, a severity, a message and the evidence, after
Lightning's EarlyStoppingReason), ranked recommendations, the baseline's curves and what each check
measured. `diagnose` builds it, `diagnosis.json` is its `to_json`, `improve` and the report read it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from liftlab.errors import BadInputError
from liftlab.records.fields import FORMAT, NUMBER, as_object, check_format, fields_json, plain, strings_of, value_of
from liftlab.records.runs import Epoch, history_from_json

CODES = (
    "LABEL_ISSUES",
    "NEAR_COPIES_ACROSS_SPLITS",
    "OVERFITTING",
    "UNDERFITTING",
    "LR_TOO_HIGH",
    "LR_TOO_LOW",
    "DIVERGED",
    "VANISHING_GRADIENTS",
    "EXPLODING_GRADIENTS",
    "SLOW_CONVERGENCE",
    "MORE_DATA_HELPS",
    "CLASS_IMBALANCE",
    "DUPLICATES_ACROSS_SPLITS",
    "AUGMENTATION_CHANGES_LABEL",
    "RESOLUTION_TOO_LOW",
    "FROM_SCRATCH_ON_PHOTOS",
    "HEALTHY",
)
SEVERITIES = ("info", "warning", "severe")


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"finding code {self.code!r} not in {CODES}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity {self.severity!r} not in {SEVERITIES}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, record: Any, where: str = "finding") -> Finding:
        """A finding from its JSON object; an unknown code or severity is named with the known ones.

        >>> Finding.from_json({"code": "OVERFITTING", "severity": "warning", "message": "m"}).code
        'OVERFITTING'
        """
        record = as_object(record, where)
        code = value_of(record, "code", (str,), where)
        severity = value_of(record, "severity", (str,), where)
        if code not in CODES:
            raise BadInputError(f"{where}: field 'code' {code!r} is not a finding code; known: {', '.join(CODES)}")
        if severity not in SEVERITIES:
            raise BadInputError(f"{where}: field 'severity' {severity!r}: expected one of {', '.join(SEVERITIES)}")
        evidence = value_of(record, "evidence", (dict,), where, optional=True) or {}
        return cls(code, severity, value_of(record, "message", (str,), where), evidence)


@dataclass(frozen=True)
class Recommendation:
    strategy: str
    reason: str
    expected_effect: str
    finding: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, record: Any, where: str = "recommendation") -> Recommendation:
        record = as_object(record, where)
        return cls(*(value_of(record, name, (str,), where) for name in ("strategy", "reason", "expected_effect",
                                                                         "finding")))  # fmt: skip


# the checks' own records, kept as their JSON objects (each check's module documents its keys)
CHECKS = ("learning_curve", "lr_range_test", "resolution_probe", "augmentation_audit", "data_review")


@dataclass(frozen=True)
class Diagnosis:
    """What `liftlab diagnose` found about one recipe on one data set.

    `baseline_history` is the diagnosed run's curves; a check that did not run (skipped for time, or not
    made for this kind of model) is None and named in `skipped_for_time` when time was the reason.
    """

    data: str
    recipe: dict[str, Any]
    findings: tuple[Finding, ...]
    recommendations: tuple[Recommendation, ...]
    baseline_history: tuple[Epoch, ...]
    baseline_val_acc: float | None
    baseline_stopped_reason: str | None
    data_check: dict[str, Any]
    target: float | None = None
    learning_curve: dict[str, Any] | None = None
    lr_range_test: dict[str, Any] | None = None
    resolution_probe: dict[str, Any] | None = None
    augmentation_audit: dict[str, Any] | None = None
    data_review: dict[str, Any] | None = None  # `diagnose.review.review_summary`: the data review's counts
    skipped_for_time: tuple[str, ...] = ()
    # where the diagnosed recipe came from: the user's recipe, or liftlab's data profile and its reasons
    baseline_source: tuple[str, ...] = ()
    liftlab_version: str = ""

    @property
    def codes(self) -> list[str]:
        return [finding.code for finding in self.findings]

    @property
    def baseline_seconds(self) -> float:
        """The diagnosed run's training time (its epochs' seconds)."""
        return sum(epoch.seconds or 0.0 for epoch in self.baseline_history)

    @property
    def flagged_augmentations(self) -> list[str]:
        """Augmentations the audit found to change the label (demoted, not removed, by `improve`)."""
        return list((self.augmentation_audit or {}).get("flagged") or [])

    def to_json(self) -> dict[str, Any]:
        baseline = {"history": plain(self.baseline_history), "val_acc": self.baseline_val_acc,
                    "stopped_reason": self.baseline_stopped_reason}  # fmt: skip
        kept = fields_json(self, skip=("baseline_history", "baseline_val_acc", "baseline_stopped_reason"))
        return kept | {"baseline": baseline, "format": FORMAT}

    @classmethod
    def from_json(cls, record: Any, where: str = "diagnosis.json") -> Diagnosis:
        record = as_object(record, where)
        check_format(record, where)
        baseline = as_object(value_of(record, "baseline", (dict,), where), f"{where}: baseline")
        checks = {name: value_of(record, name, (dict,), where, optional=True) for name in CHECKS}
        return cls(
            data=value_of(record, "data", (str,), where),
            recipe=value_of(record, "recipe", (dict,), where),
            findings=tuple(Finding.from_json(f, f"{where}: findings[{i}]")
                           for i, f in enumerate(value_of(record, "findings", (list,), where))),
            recommendations=tuple(Recommendation.from_json(r, f"{where}: recommendations[{i}]")
                                  for i, r in enumerate(value_of(record, "recommendations", (list,), where))),
            baseline_history=history_from_json(value_of(baseline, "history", (list,), f"{where}: baseline"),
                                               f"{where}: baseline.history"),
            baseline_val_acc=value_of(baseline, "val_acc", NUMBER, f"{where}: baseline", optional=True),
            baseline_stopped_reason=value_of(baseline, "stopped_reason", (str,), f"{where}: baseline", optional=True),
            data_check=value_of(record, "data_check", (dict,), where),
            target=value_of(record, "target", NUMBER, where, optional=True),
            skipped_for_time=strings_of(record, "skipped_for_time", where),
            baseline_source=strings_of(record, "baseline_source", where),
            liftlab_version=value_of(record, "liftlab_version", (str,), where, optional=True) or "",
            **checks,
        )  # fmt: skip
