"""The record of `liftlab evaluate`: one model's metrics with their bootstrap intervals, the business view, and
what else was measured (the model and data it came from, images the model finds unfamiliar, robustness), or
two models compared item by item. `evaluate/` builds it, the CLI prints it, the reports draw it, and its
`to_json` is evaluation.json (optional sections are left out when they were not measured, as before these
classes existed)."""

from __future__ import annotations

from dataclasses import dataclass, field

from liftlab.records.fields import JsonObject, fields_json
from liftlab.records.runs import LeakFreeAccuracy


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its bootstrap 95% interval (percentile method)."""

    value: float
    low: float
    high: float

    @property
    def ci95(self) -> tuple[float, float]:
        return self.low, self.high

    def negated(self) -> Estimate:
        """The estimate of minus the quantity (a gain from a cost): the interval's ends swap."""
        return Estimate(-self.value, -self.high, -self.low)

    def to_json(self) -> JsonObject:
        return {"value": self.value, "ci95": [self.low, self.high]}


@dataclass(frozen=True)
class ClassMetrics:
    """One class's precision, recall and F1 with their intervals, and its count among the items."""

    precision: Estimate
    recall: Estimate
    f1: Estimate
    support: int

    def to_json(self) -> JsonObject:
        return fields_json(self)


@dataclass(frozen=True)
class ReliabilityBin:
    """One confidence bin of the reliability diagram: its bounds, its items, their mean confidence and accuracy."""

    low: float
    high: float
    count: int
    confidence: float
    accuracy: float

    def to_json(self) -> JsonObject:
        return fields_json(self)


@dataclass(frozen=True)
class MetricSummary:
    """Every metric of a set of predictions with 95% bootstrap intervals: overall (by metric name: accuracy,
    balanced_accuracy, macro_f1, top_k_accuracy, log_loss, ... as the predictions allow), per class, the
    confusion matrix (rows: true class; counts and row shares) and, with probabilities, the reliability bins."""

    n_items: int
    classes: tuple[str, ...]
    resamples: int
    seed: int
    metrics: dict[str, Estimate]
    per_class: dict[str, ClassMetrics]
    confusion_counts: tuple[tuple[int, ...], ...]
    confusion_normalised: tuple[tuple[float, ...], ...]
    reliability: tuple[ReliabilityBin, ...] | None = None

    @property
    def accuracy(self) -> Estimate:
        return self.metrics["accuracy"]

    def to_json(self) -> JsonObject:
        record: JsonObject = {
            "n_items": self.n_items,
            "classes": list(self.classes),
            "resamples": self.resamples,
            "seed": self.seed,
            "metrics": {name: estimate.to_json() for name, estimate in self.metrics.items()},
            "per_class": {name: metrics.to_json() for name, metrics in self.per_class.items()},
            "confusion_matrix": {
                "counts": [list(row) for row in self.confusion_counts],
                "normalised": [list(row) for row in self.confusion_normalised],
            },
        }
        if self.reliability is not None:
            record["reliability"] = [row.to_json() for row in self.reliability]
        return record


@dataclass(frozen=True)
class PrecisionRecallCurve:
    """One class against the rest: precision and recall along the thresholds (thinned) and average precision."""

    precision: tuple[float, ...]
    recall: tuple[float, ...]
    average_precision: float

    def to_json(self) -> JsonObject:
        return fields_json(self)


@dataclass(frozen=True)
class Contacts:
    """Items to act on for `goal` successes at the precision measured (`value`), and its 95% interval."""

    goal: float
    value: int | None
    ci95: tuple[int | None, int | None]

    def to_json(self) -> JsonObject:
        return fields_json(self)


@dataclass(frozen=True)
class Decision:
    """One decision rule of the business view: the model's own decisions ("model"), the cheapest under the cost
    matrix ("min_expected_cost"), or a threshold rule on the target class (its `threshold`, where it was chosen,
    or `reachable=False` when no threshold satisfies it). Its figures are those the question asked for."""

    name: str
    threshold: float | None
    accuracy: Estimate | None = None
    precision: Estimate | None = None
    recall: Estimate | None = None
    precision_in_use: Estimate | None = None  # at the target share met in use, when one was given
    expected_cost: Estimate | None = None
    expected_gain: Estimate | None = None
    contacts: Contacts | None = None
    target_share: float | None = None
    reachable: bool | None = None  # None for the rules without a threshold
    chosen_on: str | None = None

    def to_json(self) -> JsonObject:
        record: JsonObject = {"name": self.name, "threshold": self.threshold}
        figures = (("accuracy", self.accuracy), ("precision", self.precision), ("recall", self.recall),
                   ("precision_in_use", self.precision_in_use), ("expected_cost", self.expected_cost),
                   ("expected_gain", self.expected_gain), ("contacts", self.contacts))  # fmt: skip
        record |= {name: figure.to_json() for name, figure in figures if figure is not None}
        if self.target_share is not None:
            record["target_share"] = self.target_share
        if self.reachable is not None:
            record["reachable"] = self.reachable
            record["chosen_on"] = self.chosen_on
        return record


@dataclass(frozen=True)
class BusinessView:
    """The business question's answers: the target class, the goal, the cost file, and each decision rule."""

    target: str | None
    goal: float | None
    cost_file: str | None
    cost_kind: str | None
    decisions: tuple[Decision, ...]

    def to_json(self) -> JsonObject:
        return fields_json(self)


@dataclass(frozen=True)
class UnusableFile:
    path: str
    reason: str

    def to_json(self) -> JsonObject:
        return fields_json(self)


@dataclass(frozen=True)
class ClassMatch:
    """Classes matched by name between a model and data: the model's classes the data lacks, the data's classes
    the model cannot score, and how many items those are."""

    missing_classes: tuple[str, ...]
    extra_classes: tuple[str, ...]
    items_of_extra_classes: int

    def to_json(self) -> JsonObject:
        return fields_json(self)


@dataclass(frozen=True)
class ModelSource:
    """Which run folder was scored, on which data and split, how its classes matched, and a warning when the
    images differ in size from those it was trained on."""

    run: str
    data: str
    split: str
    matching: ClassMatch
    resolution_warning: str | None = None

    def to_json(self) -> JsonObject:
        return (
            {"run": self.run, "data": self.data, "split": self.split}
            | self.matching.to_json()
            | {"resolution_warning": self.resolution_warning}
        )


@dataclass(frozen=True)
class UnfamiliarExample:
    item: str
    outlier_score: float

    def to_json(self) -> JsonObject:
        return fields_json(self)


@dataclass(frozen=True)
class Unfamiliar:
    """The scored images farther from the training images than the threshold set on validation, or why there is
    no such check (`available=False` and `reason`)."""

    available: bool
    reason: str | None = None
    split: str | None = None
    images: int = 0
    flagged: int = 0
    share: float = 0.0
    threshold: float | None = None
    validation_flagged: float | None = None
    examples: tuple[UnfamiliarExample, ...] = ()

    def to_json(self) -> JsonObject:
        if not self.available:
            return {"available": False, "reason": self.reason}
        return {"available": True, "split": self.split, "images": self.images, "flagged": self.flagged,
                "share": self.share, "threshold": self.threshold, "validation_flagged": self.validation_flagged,
                "examples": [example.to_json() for example in self.examples]}  # fmt: skip


@dataclass(frozen=True)
class CorruptionCurves:
    """Accuracy clean and under each corruption at each severity, and the mean over every corrupted copy."""

    clean: float
    severities: tuple[int, ...]
    accuracy: dict[str, tuple[float, ...]]
    mean_corrupted: float | None

    def to_json(self) -> JsonObject:
        return fields_json(self)


@dataclass(frozen=True)
class ShiftedData:
    """The model on every image of another data set with the same class names: its accuracy with the interval."""

    data: str
    n_items: int
    accuracy: Estimate | None
    unusable_files: tuple[UnusableFile, ...]
    matching: ClassMatch

    def to_json(self) -> JsonObject:
        return fields_json(self, skip=("matching",)) | self.matching.to_json()


@dataclass(frozen=True)
class Robustness:
    corruptions: CorruptionCurves | None = None
    shifted: tuple[ShiftedData, ...] = ()

    def to_json(self) -> JsonObject:
        record: JsonObject = {}
        if self.corruptions is not None:
            record["corruptions"] = self.corruptions.to_json()
        if self.shifted:
            record["shifted"] = [data.to_json() for data in self.shifted]
        return record


@dataclass(frozen=True)
class Evaluation:
    """One model's evaluation: evaluation.json. `model`, `unusable_files`, `unfamiliar` and `robustness` are
    there when a run folder was scored on data; `leak_free` where every test image was scored
    (`leak_free_measured`), None when no test image has a copy in training."""

    source: str
    summary: MetricSummary
    precision_recall: dict[str, PrecisionRecallCurve]
    business: BusinessView | None = None
    model: ModelSource | None = None
    unusable_files: tuple[UnusableFile, ...] | None = None
    leak_free: LeakFreeAccuracy | None = None
    leak_free_measured: bool = False  # whether `leak_free` was asked for (every test image scored)
    unfamiliar: Unfamiliar | None = None
    robustness: Robustness | None = None

    @property
    def accuracy(self) -> Estimate:
        return self.summary.accuracy

    @property
    def corruptions(self) -> CorruptionCurves | None:
        return self.robustness.corruptions if self.robustness is not None else None

    def to_json(self) -> JsonObject:
        record: JsonObject = {"source": self.source} | self.summary.to_json()
        record["precision_recall"] = {name: curve.to_json() for name, curve in self.precision_recall.items()}
        if self.business is not None:
            record["business"] = self.business.to_json()
        if self.model is not None:
            record["model"] = self.model.to_json()
        if self.unusable_files is not None:
            record["unusable_files"] = [file.to_json() for file in self.unusable_files]
        if self.leak_free_measured:
            record["leak_free"] = None if self.leak_free is None else self.leak_free.to_json()
        if self.unfamiliar is not None:
            record["unfamiliar"] = self.unfamiliar.to_json()
        robustness = self.robustness.to_json() if self.robustness is not None else {}
        if robustness:  # only what was measured
            record["robustness"] = robustness
        return record


@dataclass(frozen=True)
class MetricDifference:
    """One metric of model A, of model B, and B - A, each with its paired bootstrap interval."""

    a: Estimate
    b: Estimate
    b_minus_a: Estimate

    def to_json(self) -> JsonObject:
        return fields_json(self)


@dataclass(frozen=True)
class PairedMcNemar:
    """McNemar's test of B against A on the same items."""

    b_only_right: int
    a_only_right: int
    p_value: float

    def to_json(self) -> JsonObject:
        return fields_json(self)


@dataclass(frozen=True)
class Comparison:
    """Model B against model A on the same items: every metric as B - A with paired intervals, McNemar's test,
    and the contacts each needs for the goal when one was asked."""

    a: str
    b: str
    n_items: int
    differences: dict[str, MetricDifference]
    mcnemar: PairedMcNemar
    contacts: dict[str, Contacts] | None = None

    def to_json(self) -> JsonObject:
        record = fields_json(self, skip=("contacts",))
        if self.contacts is not None:
            record["contacts"] = {label: contacts.to_json() for label, contacts in self.contacts.items()}
        return record


@dataclass(frozen=True)
class ComparedEvaluation:
    """`evaluate --compare A B`: the comparison and each model's own evaluation."""

    comparison: Comparison
    models: dict[str, Evaluation] = field(default_factory=dict)  # "a" and "b"

    def to_json(self) -> JsonObject:
        return fields_json(self)
