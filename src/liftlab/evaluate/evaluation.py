"""`liftlab evaluate`: metrics with intervals, the business view, model comparison and robustness, as one record."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve

from liftlab.errors import BadInputError
from liftlab.evaluate.cost import CostMatrix, cheapest_decisions, expected_cost
from liftlab.evaluate.metrics import (
    confusion,
    estimates,
    label_metrics,
    metric_arrays,
    resampled_arrays,
    summarise,
)
from liftlab.evaluate.predictions_csv import Predictions
from liftlab.evaluate.thresholds import Rule, choose_threshold, contacts_needed, decisions_at, precision_at
from liftlab.records.evaluation import (
    BusinessView,
    Comparison,
    Contacts,
    Decision,
    Estimate,
    Evaluation,
    MetricDifference,
    PairedMcNemar,
    PrecisionRecallCurve,
)
from liftlab.stats import mcnemar

PR_CURVE_POINTS = 100
"""Points kept per precision-recall curve in evaluation.json: enough to draw it, small enough to read."""


@dataclass(frozen=True)
class BusinessQuestion:
    """What the business asks: a cost matrix, a target class, a goal ("50 sales") and threshold rules."""

    cost: CostMatrix | None = None
    target: str | None = None
    goal: float | None = None
    rules: tuple[Rule, ...] = ()
    # the target class's share of the items the model will meet in use, when it differs from the test split's
    target_share: float | None = None

    def __post_init__(self) -> None:
        if self.target is None and (self.goal is not None or self.rules or self.target_share is not None):
            raise BadInputError(
                "--goal, --target-share and threshold rules need --target-class NAME (the class you act on)"
            )
        if self.target_share is not None and not 0 < self.target_share < 1:
            raise BadInputError(f"--target-share: expected a share in (0, 1), found {self.target_share}")
        if self.goal is not None and not self.goal > 0:
            raise BadInputError(f"--goal: expected a positive number of successes, found {self.goal}")

    @property
    def asked(self) -> bool:
        return self.cost is not None or self.target is not None


@dataclass(frozen=True)
class Settings:
    """Bootstrap resamples and their seed, and k of the top-k accuracy."""

    resamples: int = 1000
    seed: int = 0
    top_k: int = 5

    def __post_init__(self) -> None:
        if self.resamples < 100:
            raise BadInputError(f"--resamples: expected at least 100 for a 95% interval, found {self.resamples}")


@dataclass(frozen=True)
class ModelChecks:
    """What `evaluate --model` measures beside the metrics: accuracy under common corruptions, on other data
    sets with the same class names (`shifted`), and which scored images are unfamiliar to the model."""

    corruptions: bool = True
    shifted: tuple[str, ...] = ()
    familiarity: bool = True


def _contacts(goal: float, precision: Estimate) -> Contacts:
    """Contacts for `goal` at `precision`: the interval's ends swap (a higher precision needs fewer)."""
    high_precision, low_precision = contacts_needed(goal, precision.high), contacts_needed(goal, precision.low)
    return Contacts(goal, contacts_needed(goal, precision.value), (high_precision, low_precision))


def decision_record(
    predictions: Predictions,
    name: str,
    threshold: float | None,
    question: BusinessQuestion,
    settings: Settings,
) -> Decision:
    """Accuracy, the target's precision and recall, expected cost and contacts of one decision rule."""
    k = len(predictions.classes)
    target = predictions.class_index(question.target, "--target-class") if question.target else None
    costs = question.cost.aligned(predictions.classes) if question.cost else None

    def compute(weights: np.ndarray) -> dict[str, np.ndarray]:
        matrix = confusion(predictions.y_true, predictions.y_pred, k, weights)
        metrics = label_metrics(matrix)
        values = {"accuracy": metrics["accuracy"]}
        if target is not None:
            values |= {"precision": metrics["precision"][:, target], "recall": metrics["recall"][:, target]}
            if question.target_share is not None:
                values["precision_in_use"] = precision_at_share(matrix, target, question.target_share)
        if costs is not None:
            values["expected_cost"] = expected_cost(matrix, costs)
        return values

    point, resampled = resampled_arrays(compute, len(predictions), settings.resamples, settings.seed)
    found = {metric: estimates(point[metric], resampled[metric])[0] for metric in point}
    gain = found["expected_cost"].negated() if question.cost is not None and question.cost.kind == "gain" else None
    contacts = None
    if question.goal is not None and "precision" in found:
        # contacts at the precision expected in use when the class mix there is given
        contacts = _contacts(question.goal, found.get("precision_in_use", found["precision"]))
    return Decision(name, threshold, accuracy=found["accuracy"], precision=found.get("precision"),
                    recall=found.get("recall"), precision_in_use=found.get("precision_in_use"),
                    expected_cost=found.get("expected_cost"), expected_gain=gain, contacts=contacts,
                    target_share=question.target_share)  # fmt: skip


def precision_at_share(matrix: np.ndarray, target: int, share: float) -> np.ndarray:
    """The target's precision where a `share` of the items are of the target class: recall and false-positive
    rate do not depend on the class mix, precision does (share x recall over share x recall + (1 - share) x
    false-positive rate). `matrix` is (B, true, predicted).

    >>> matrix = np.array([[[80.0, 20.0], [10.0, 90.0]]])  # true 0: 20 called 1; true 1: 90 of 100 found
    >>> round(float(precision_at_share(matrix, 1, 0.5)[0]), 3), round(float(precision_at_share(matrix, 1, 0.05)[0]), 3)
    (0.818, 0.191)
    """
    positives = matrix[:, target, :].sum(axis=1)
    negatives = matrix.sum(axis=(1, 2)) - positives
    recall = np.divide(matrix[:, target, target], positives, out=np.zeros_like(positives), where=positives > 0)
    false_positives = matrix[:, :, target].sum(axis=1) - matrix[:, target, target]
    false_rate = np.divide(false_positives, negatives, out=np.zeros_like(negatives), where=negatives > 0)
    return precision_at(share, recall, false_rate)


CHOSEN_ON_SAME = "the evaluated items (optimistic: chosen and reported on the same items)"


def business_view(
    predictions: Predictions,
    question: BusinessQuestion,
    settings: Settings,
    choose_on: Predictions | None = None,
    choose_on_name: str = "validation split",
) -> BusinessView:
    """The model's own decisions, the cheapest decisions under the cost matrix, and each threshold rule.

    A rule's threshold is chosen on `choose_on` (other items of the same classes, such as the validation
    split) and reported on `predictions`: chosen and reported on the same items, a "precision >= 0.9"
    threshold meets 0.9 on new items far less often than it claims (`chosen_on` says which happened).
    """
    rows = [decision_record(predictions, "model", None, question, settings)]
    costs = question.cost.aligned(predictions.classes) if question.cost else None
    if costs is not None and predictions.proba is not None:
        cheapest = replace(predictions, y_pred=cheapest_decisions(predictions.proba, costs))
        rows.append(decision_record(cheapest, "min_expected_cost", None, question, settings))
    for rule in question.rules:
        if predictions.proba is None:
            raise BadInputError(f"{predictions.source}: threshold rules need one probability column per class")
        assert question.target is not None  # BusinessQuestion requires a target with rules
        target = predictions.class_index(question.target, "--target-class")
        basis = choose_on if choose_on is not None and choose_on.proba is not None else predictions
        chosen_on = choose_on_name if basis is not predictions else CHOSEN_ON_SAME
        threshold = choose_threshold(basis, target, rule, costs, question.target_share)
        if threshold is None:
            rows.append(Decision(rule.label, None, reachable=False, chosen_on=chosen_on))
            continue
        chosen = replace(predictions, y_pred=decisions_at(predictions.proba, target, threshold))
        decision = decision_record(chosen, rule.label, threshold, question, settings)
        rows.append(replace(decision, reachable=True, chosen_on=chosen_on))
    cost = question.cost
    return BusinessView(question.target, question.goal, cost.source if cost else None, cost.kind if cost else None,
                        tuple(rows))  # fmt: skip


def precision_recall_curves(predictions: Predictions) -> dict[str, PrecisionRecallCurve]:
    """One-vs-rest precision-recall curve and average precision per class (scikit-learn), thinned for plotting."""
    if predictions.proba is None:
        return {}
    curves: dict[str, PrecisionRecallCurve] = {}
    for i, name in enumerate(predictions.classes):
        positive = predictions.y_true == i
        if not positive.any():
            continue
        precision, recall, _ = precision_recall_curve(positive, predictions.proba[:, i])
        keep = np.unique(np.linspace(0, len(precision) - 1, min(len(precision), PR_CURVE_POINTS)).astype(int))
        curves[name] = PrecisionRecallCurve(
            tuple(precision[keep].tolist()),
            tuple(recall[keep].tolist()),
            float(average_precision_score(positive, predictions.proba[:, i])),
        )
    return curves


def evaluate_predictions(
    predictions: Predictions,
    question: BusinessQuestion | None = None,
    settings: Settings | None = None,
    choose_on: Predictions | None = None,
    choose_on_name: str = "validation split",
) -> Evaluation:
    """The evaluation record of one model's predictions (the body of evaluation.json); threshold rules are
    chosen on `choose_on` when given (see `business_view`)."""
    settings = settings or Settings()
    if len(predictions) == 0:
        raise BadInputError(f"{predictions.source}: no predictions to evaluate")
    summary = summarise(predictions, settings.resamples, settings.seed, settings.top_k)
    business = None
    if question is not None and question.asked:
        business = business_view(predictions, question, settings, choose_on, choose_on_name)
    return Evaluation(predictions.source, summary, precision_recall_curves(predictions), business)


def align(a: Predictions, b: Predictions) -> Predictions:
    """`b` reordered to pair item by item with `a` (by `id` when both have one), checked to share labels."""
    if a.ids and b.ids:
        only_a, only_b = sorted(set(a.ids) - set(b.ids)), sorted(set(b.ids) - set(a.ids))
        if only_a or only_b:
            raise BadInputError(
                f"--compare: the files do not hold the same items: {len(only_a)} id(s) only in {a.source} "
                f"(first {only_a[:3]}), {len(only_b)} only in {b.source} (first {only_b[:3]})"
            )
        position = {item: i for i, item in enumerate(b.ids)}
        order = np.array([position[item] for item in a.ids])
        b = replace(
            b,
            y_true=b.y_true[order],
            y_pred=b.y_pred[order],
            proba=None if b.proba is None else b.proba[order],
            ids=list(a.ids),
        )
    elif len(a) != len(b):
        raise BadInputError(
            f"--compare: {a.source} has {len(a)} rows and {b.source} {len(b)}; give both the same items "
            "(add an 'id' column to pair rows by item)"
        )
    differ = np.flatnonzero(a.y_true != b.y_true)
    if differ.size:
        item = a.ids[differ[0]] if a.ids else f"row {differ[0] + 1}"
        raise BadInputError(
            f"--compare: y_true differs for {differ.size} item(s), first {item}: {a.source} says "
            f"{a.classes[a.y_true[differ[0]]]!r}, {b.source} says {b.classes[b.y_true[differ[0]]]!r}"
        )
    return b


SCALAR_SKIP = ("precision", "recall", "f1", "confusion")


def compare_predictions(
    a: Predictions, b: Predictions, question: BusinessQuestion | None = None, settings: Settings | None = None
) -> Comparison:
    """Model B against model A on the same items: every metric and the cost, as B - A with paired intervals."""
    settings = settings or Settings()
    b = align(a, b)
    costs = question.cost.aligned(a.classes) if question and question.cost else None
    target = a.class_index(question.target, "--target-class") if question and question.target else None

    def compute(weights: np.ndarray) -> dict[str, np.ndarray]:
        values: dict[str, np.ndarray] = {}
        for label, predictions in (("a", a), ("b", b)):
            arrays = metric_arrays(predictions, weights, settings.top_k)
            values |= {f"{label}:{m}": v for m, v in arrays.items() if m not in SCALAR_SKIP}
            if costs is not None:
                values[f"{label}:expected_cost"] = expected_cost(arrays["confusion"], costs)
            if target is not None:
                values[f"{label}:target_precision"] = arrays["precision"][:, target]
                values[f"{label}:target_recall"] = arrays["recall"][:, target]
        for metric in [key[2:] for key in values if key.startswith("a:") and f"b:{key[2:]}" in values]:
            values[f"delta:{metric}"] = values[f"b:{metric}"] - values[f"a:{metric}"]
        return values

    point, resampled = resampled_arrays(compute, len(a), settings.resamples, settings.seed)
    found = {name: estimates(point[name], resampled[name])[0] for name in point}
    metrics = sorted({name.split(":", 1)[1] for name in found})
    differences = {m: MetricDifference(found[f"a:{m}"], found[f"b:{m}"], found[f"delta:{m}"]) for m in metrics}
    test = mcnemar([b.y_pred == b.y_true], [a.y_pred == a.y_true])
    contacts = None
    if question is not None and question.goal is not None and target is not None:
        goal = question.goal
        contacts = {label: _contacts(goal, found[f"{label}:target_precision"]) for label in ("a", "b")}
    mcnemar_test = PairedMcNemar(test.arm_only_right, test.baseline_only_right, test.p_value)
    return Comparison(a.source, b.source, len(a), differences, mcnemar_test, contacts)
