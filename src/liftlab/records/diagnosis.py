"""The record of a diagnosis: findings (a stable code, a severity, a message and the evidence, after
Lightning's EarlyStoppingReason), ranked recommendations, the baseline's curves and what each check
measured. `diagnose` builds it, `diagnosis.json` is its `to_json`, `improve` and the report read it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from liftlab.errors import BadInputError
from liftlab.records.fields import (
    FORMAT,
    NUMBER,
    JsonObject,
    as_object,
    bounds_of,
    check_format,
    fields_json,
    plain,
    strings_of,
    value_of,
)
from liftlab.records.html import percent, section, table
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
    evidence: JsonObject = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"finding code {self.code!r} not in {CODES}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity {self.severity!r} not in {SEVERITIES}")

    def to_json(self) -> JsonObject:
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

    def to_json(self) -> JsonObject:
        return asdict(self)

    @classmethod
    def from_json(cls, record: Any, where: str = "recommendation") -> Recommendation:
        record = as_object(record, where)
        return cls(*(value_of(record, name, (str,), where) for name in ("strategy", "reason", "expected_effect",
                                                                         "finding")))  # fmt: skip


@dataclass(frozen=True)
class ImagesForTarget:
    """Training images the learning curve predicts for `target` accuracy (None: not reachable by data alone),
    with its 95% interval, and whether that lies far beyond the sizes measured (`out_of_range`)."""

    target: float
    images: float | None
    ci95: tuple[float | None, float | None]
    reachable_by_data_alone: bool
    out_of_range: bool

    def to_json(self) -> JsonObject:
        return fields_json(self)

    @classmethod
    def from_json(cls, record: Any, where: str) -> ImagesForTarget:
        record = as_object(record, where)
        return cls(
            float(value_of(record, "target", NUMBER, where)),
            value_of(record, "images", NUMBER, where, optional=True),
            bounds_of(record, "ci95", where),
            bool(value_of(record, "reachable_by_data_alone", (bool,), where, optional=True)),
            bool(value_of(record, "out_of_range", (bool,), where, optional=True)),
        )


@dataclass(frozen=True)
class LearningCurveRecord:
    """The baseline's validation accuracy at each training-set size (one value per seed), the fitted power law
    error = a + b n^-c (None when it did not fit), the images it predicts for the target, what it was measured
    on (`scope`) and why it has no interval where it has none (`interval`)."""

    sizes: tuple[int, ...]
    val_acc: tuple[tuple[float, ...], ...]
    fit: tuple[float, float, float] | None
    scope: str
    interval: str | None = None
    images_for_target: ImagesForTarget | None = None

    def to_json(self) -> JsonObject:
        found = fields_json(self, skip=("fit",))
        return found | {"fit": None if self.fit is None else dict(zip(("a", "b", "c"), self.fit, strict=True))}

    @classmethod
    def from_json(cls, record: Any, where: str) -> LearningCurveRecord:
        record = as_object(record, where)
        fit = value_of(record, "fit", (dict,), where, optional=True)
        target = value_of(record, "images_for_target", (dict,), where, optional=True)
        return cls(
            tuple(value_of(record, "sizes", (list,), where)),
            tuple(tuple(float(v) for v in row) for row in value_of(record, "val_acc", (list,), where)),
            None if fit is None else (float(fit["a"]), float(fit["b"]), float(fit["c"])),
            value_of(record, "scope", (str,), where, optional=True) or "",
            value_of(record, "interval", (str,), where, optional=True),
            ImagesForTarget.from_json(target, f"{where}: images_for_target") if target else None,
        )


# the other checks' own records, kept as their JSON objects (each check's module documents its keys)
CHECKS = ("lr_range_test", "resolution_probe", "augmentation_audit", "data_review")


@dataclass(frozen=True)
class Diagnosis:
    """What `liftlab diagnose` found about one recipe on one data set.

    `baseline_history` is the diagnosed run's curves; a check that did not run (skipped for time, or not
    made for this kind of model) is None and named in `skipped_for_time` when time was the reason.
    """

    data: str
    recipe: JsonObject
    findings: tuple[Finding, ...]
    recommendations: tuple[Recommendation, ...]
    baseline_history: tuple[Epoch, ...]
    baseline_val_acc: float | None
    baseline_stopped_reason: str | None
    data_check: JsonObject
    target: float | None = None
    learning_curve: LearningCurveRecord | None = None
    lr_range_test: JsonObject | None = None
    resolution_probe: JsonObject | None = None
    augmentation_audit: JsonObject | None = None
    data_review: JsonObject | None = None  # `diagnose.review.review_summary`: the data review's counts
    skipped_for_time: tuple[str, ...] = ()
    # where the diagnosed recipe came from: the user's recipe, or liftlab's data profile and its reasons
    baseline_source: tuple[str, ...] = ()
    liftlab_version: str = ""

    @property
    def codes(self) -> list[str]:
        return [finding.code for finding in self.findings]

    def _repr_html_(self) -> str:
        """Findings and recommendations as tables, for a Jupyter cell."""
        findings = table(["code", "severity", "message"], [(f.code, f.severity, f.message) for f in self.findings])
        remedies = table(["remedy", "why", "expected"],
                         [(r.strategy, r.reason, r.expected_effect) for r in self.recommendations])  # fmt: skip
        baseline = f"baseline validation accuracy {percent(self.baseline_val_acc)}"
        return section(f"Diagnosis of {self.data}: {baseline}", findings, remedies)

    @property
    def baseline_seconds(self) -> float:
        """The diagnosed run's training time (its epochs' seconds)."""
        return sum(epoch.seconds or 0.0 for epoch in self.baseline_history)

    @property
    def flagged_augmentations(self) -> list[str]:
        """Augmentations the audit found to change the label (demoted, not removed, by `improve`)."""
        return list((self.augmentation_audit or {}).get("flagged") or [])

    def to_json(self) -> JsonObject:
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
        curve = value_of(record, "learning_curve", (dict,), where, optional=True)
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
            learning_curve=LearningCurveRecord.from_json(curve, f"{where}: learning_curve") if curve else None,
            skipped_for_time=strings_of(record, "skipped_for_time", where),
            baseline_source=strings_of(record, "baseline_source", where),
            liftlab_version=value_of(record, "liftlab_version", (str,), where, optional=True) or "",
            **checks,
        )  # fmt: skip
