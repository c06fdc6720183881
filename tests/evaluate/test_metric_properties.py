"""Every metric equals scikit-learn's on random predictions (hypothesis draws them)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    log_loss,
    precision_recall_fscore_support,
    top_k_accuracy_score,
)

from liftlab.evaluate.metrics import CALIBRATION_BINS, calibration_bins, metric_arrays, summarise
from liftlab.evaluate.predictions_csv import Predictions


@st.composite
def random_predictions(draw: st.DrawFn) -> Predictions:
    k = draw(st.integers(2, 6))
    n = draw(st.integers(k, 80))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, k, n)
    y_true[:k] = np.arange(k)  # every class present, as top_k_accuracy_score needs
    proba = rng.dirichlet(np.full(k, draw(st.sampled_from([0.3, 1.0, 5.0]))), n)
    hard = draw(st.booleans())
    y_pred = rng.integers(0, k, n) if hard else proba.argmax(axis=1)
    return Predictions([f"c{i}" for i in range(k)], y_true, y_pred, proba, None, "hypothesis")


def _point(predictions: Predictions, top_k: int = 2) -> dict[str, np.ndarray]:
    return {
        name: values[0] for name, values in metric_arrays(predictions, np.ones((1, len(predictions))), top_k).items()
    }


@settings(max_examples=150, deadline=None)
@given(random_predictions())
def test_label_metrics_equal_scikit_learn(predictions: Predictions) -> None:
    y, p = predictions.y_true, predictions.y_pred
    labels = list(range(len(predictions.classes)))
    ours = _point(predictions)
    assert ours["accuracy"] == pytest.approx(accuracy_score(y, p))
    assert ours["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, p))
    np.testing.assert_array_equal(ours["confusion"], confusion_matrix(y, p, labels=labels))
    per_class = precision_recall_fscore_support(y, p, labels=labels, zero_division=0)
    for name, expected in zip(("precision", "recall", "f1"), per_class[:3], strict=True):
        np.testing.assert_allclose(ours[name], expected, atol=1e-12)
    for average in ("macro", "weighted"):
        expected = precision_recall_fscore_support(y, p, labels=labels, average=average, zero_division=0)
        for name, value in zip(("precision", "recall", "f1"), expected[:3], strict=True):
            assert ours[f"{average}_{name}"] == pytest.approx(value), (average, name)


@settings(max_examples=150, deadline=None)
@given(random_predictions(), st.integers(1, 4))
def test_probability_metrics_equal_scikit_learn(predictions: Predictions, k: int) -> None:
    assert predictions.proba is not None
    y, proba = predictions.y_true, predictions.proba
    labels = list(range(len(predictions.classes)))
    ours = _point(predictions, top_k=k)
    assert ours["log_loss"] == pytest.approx(log_loss(y, proba, labels=labels))
    if k < len(labels):
        score = proba[:, 1] if len(labels) == 2 else proba  # scikit-learn's binary form: the positive score
        assert ours[f"top_{k}_accuracy"] == pytest.approx(top_k_accuracy_score(y, score, k=k, labels=labels))
    else:
        assert f"top_{k}_accuracy" not in ours
    # Expected calibration error from scikit-learn's reliability curve of the top-label confidence.
    confidence, correct = proba.max(axis=1), proba.argmax(axis=1) == y
    accuracy_in_bin, confidence_in_bin = calibration_curve(correct, confidence, n_bins=CALIBRATION_BINS)
    counts = np.bincount(calibration_bins(confidence), minlength=CALIBRATION_BINS)
    expected = np.sum(np.abs(accuracy_in_bin - confidence_in_bin) * counts[counts > 0]) / len(y)
    assert ours["calibration_error"] == pytest.approx(expected)


@settings(max_examples=25, deadline=None)
@given(random_predictions())
def test_a_resample_is_the_metric_of_the_resampled_items(predictions: Predictions) -> None:
    """Weights are draw counts: metrics under weights equal scikit-learn's on the items repeated that often."""
    rng = np.random.default_rng(len(predictions))
    counts = rng.integers(0, 3, len(predictions))
    counts[0] += 1
    repeated = np.repeat(np.arange(len(predictions)), counts)
    ours = {name: v[0] for name, v in metric_arrays(predictions, counts[None].astype(float)).items()}
    assert ours["accuracy"] == pytest.approx(accuracy_score(predictions.y_true[repeated], predictions.y_pred[repeated]))
    assert predictions.proba is not None
    assert ours["log_loss"] == pytest.approx(
        log_loss(
            predictions.y_true[repeated], predictions.proba[repeated], labels=list(range(len(predictions.classes)))
        )
    )


def test_summary_has_every_metric_with_an_interval_around_it() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 300)
    proba = rng.dirichlet(np.ones(4), 300)
    proba[np.arange(300), y] += 0.3
    proba /= proba.sum(axis=1, keepdims=True)
    summary = summarise(Predictions(["a", "b", "c", "d"], y, proba.argmax(1), proba, None, "t"), resamples=200)
    expected = {"accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "log_loss", "calibration_error"}
    assert expected <= set(summary.metrics) and "top_2_accuracy" not in summary.metrics
    for estimate in [*summary.metrics.values(), *(m.recall for m in summary.per_class.values())]:
        assert estimate.low <= estimate.value <= estimate.high and estimate.high - estimate.low > 0
    assert sum(m.support for m in summary.per_class.values()) == 300
    assert sum(b.count for b in summary.reliability or ()) == 300
