"""Every finding code: one record that must trigger it and one where it must stay silent."""

from __future__ import annotations

import pytest

from liftlab.data.check import CheckReport
from liftlab.diagnose.audit import AuditResult, audit_findings
from liftlab.diagnose.findings import (
    curve_findings,
    data_findings,
    gradient_findings,
    healthy_unless,
)
from liftlab.diagnose.learning_curve import LearningCurve, learning_curve_findings
from liftlab.diagnose.lr import LrCheck, lr_findings
from liftlab.records import CODES, Epoch, Finding


def history(train: list[float], val: list[float], loss: list[float] | None = None) -> list[Epoch]:
    loss = loss or [1.0 - 0.1 * i for i in range(len(train))]
    return [Epoch(i + 1, loss[i], t, 1 - v, v, 0.1) for i, (t, v) in enumerate(zip(train, val, strict=True))]


def norms(*per_layer: float) -> list[Epoch]:
    """A one-epoch history with these gradient norms, input to output."""
    return [Epoch(1, 1.0, 0.5, 1.0, 0.5, 0.1, grad_norms=per_layer)]


def codes(findings: list[Finding]) -> set[str]:
    return {f.code for f in findings}


def test_overfitting_scales_with_the_level() -> None:
    assert "OVERFITTING" in codes(curve_findings(history([0.9, 0.99, 1.0], [0.85, 0.88, 0.89]), 10, None))
    # a 6-point gap at a low level is not overfitting: validation error is not far above training error
    assert "OVERFITTING" not in codes(curve_findings(history([0.6, 0.7, 0.76], [0.6, 0.68, 0.70]), 10, None))


def test_underfitting_is_relative_to_chance() -> None:
    assert "UNDERFITTING" in codes(curve_findings(history([0.3, 0.4, 0.45], [0.3, 0.4, 0.45]), 10, None))
    assert "UNDERFITTING" not in codes(curve_findings(history([0.8, 0.9, 0.95], [0.8, 0.9, 0.94]), 10, None))
    # 0.8 with 2 classes (chance 0.5) is underfitting; with 10 classes it is not
    assert "UNDERFITTING" in codes(curve_findings(history([0.7, 0.78, 0.8], [0.7, 0.78, 0.8]), 2, None))


def test_slow_convergence_when_validation_still_rises() -> None:
    rising = history([0.5, 0.7, 0.8, 0.85, 0.9, 0.95], [0.5, 0.6, 0.7, 0.8, 0.86, 0.92])
    assert "SLOW_CONVERGENCE" in codes(curve_findings(rising, 10, None))
    flat = history([0.9, 0.95, 0.96, 0.97, 0.97, 0.97], [0.9, 0.93, 0.94, 0.94, 0.94, 0.94])
    assert "SLOW_CONVERGENCE" not in codes(curve_findings(flat, 10, None))


def test_diverged_on_non_finite_or_exploding_loss() -> None:
    assert codes(curve_findings([], 10, "non-finite loss (nan) at epoch 1, step 5")) == {"DIVERGED"}
    exploding = history([0.1, 0.1, 0.1], [0.1, 0.1, 0.1], loss=[2.3, 8.0, 40.0])
    assert "DIVERGED" in codes(curve_findings(exploding, 10, None))
    assert "DIVERGED" not in codes(curve_findings(history([0.5, 0.8, 0.9], [0.5, 0.8, 0.9]), 10, None))


def test_gradient_findings() -> None:
    vanishing = norms(1e-9, 1e-6, 1e-3, 0.5)
    assert codes(gradient_findings(vanishing)) == {"VANISHING_GRADIENTS"}
    exploding = norms(10.0, 50.0, 5e4, 2.0)
    assert "EXPLODING_GRADIENTS" in codes(gradient_findings(exploding))
    healthy = norms(0.3, 0.6, 0.9, 1.1)
    assert gradient_findings(healthy) == []


def test_data_findings() -> None:
    check = CheckReport("photos", ["a", "b"], {}, 10.0, {}, duplicates_across=[["train:a.png", "test:b.png"]])
    assert codes(data_findings(check)) == {"CLASS_IMBALANCE", "DUPLICATES_ACROSS_SPLITS"}
    assert data_findings(CheckReport("photos", ["a", "b"], {}, 1.2, {})) == []


def _lr_check(recipe_lr: float, confirmed: float) -> LrCheck:
    return LrCheck(recipe_lr, {"min_over_10": confirmed}, confirmed, confirmed)


def test_lr_findings_need_a_confirmed_rate_far_away() -> None:
    assert codes(lr_findings(_lr_check(5.0, 0.05))) == {"LR_TOO_HIGH"}
    assert codes(lr_findings(_lr_check(1e-4, 0.05))) == {"LR_TOO_LOW"}
    assert lr_findings(_lr_check(0.05, 0.08)) == []  # close: no finding
    unconfirmed = LrCheck(5.0, {"min_over_10": 0.05}, 0.05, confirmed_lr=5.0)  # the suggestion did not win
    assert lr_findings(unconfirmed) == []


def test_more_data_helps_from_a_rising_learning_curve() -> None:
    sizes = [100, 200, 400, 800]
    rising = LearningCurve.from_points(sizes, [[1 - (0.05 + 3 * n**-0.5) + d for d in (-0.005, 0.005)] for n in sizes])
    assert codes(learning_curve_findings(rising, 0.9)) == {"MORE_DATA_HELPS"}
    flat = LearningCurve.from_points(sizes, [[0.9 + d, 0.9 - d] for d in (0.004, 0.003, 0.004, 0.003)])
    assert learning_curve_findings(flat, 0.9) == []


def test_audit_flags_only_what_it_measured_as_label_changing() -> None:
    result = AuditResult(0.05, {"flip": 0.5, "crop": 0.08}, ["flip"])
    findings = audit_findings(result, frozenset({"flip"}))
    assert codes(findings) == {"AUGMENTATION_CHANGES_LABEL"} and findings[0].severity == "warning"
    assert audit_findings(AuditResult(0.05, {"flip": 0.06}, [])) == []
    assert audit_findings(result)[0].severity == "info", "advice only when the recipe does not use it"


def test_healthy_only_without_warnings() -> None:
    assert codes(healthy_unless([])) == {"HEALTHY"}
    warning = Finding("OVERFITTING", "warning", "m")
    assert "HEALTHY" not in codes(healthy_unless([warning]))
    assert "HEALTHY" in codes(healthy_unless([Finding("SLOW_CONVERGENCE", "info", "m")]))


def test_codes_are_the_design_contract() -> None:
    assert set(CODES) == {
        "OVERFITTING", "UNDERFITTING", "LR_TOO_HIGH", "LR_TOO_LOW", "DIVERGED", "VANISHING_GRADIENTS",
        "EXPLODING_GRADIENTS", "SLOW_CONVERGENCE", "MORE_DATA_HELPS", "CLASS_IMBALANCE",
        "DUPLICATES_ACROSS_SPLITS", "AUGMENTATION_CHANGES_LABEL", "RESOLUTION_TOO_LOW", "FROM_SCRATCH_ON_PHOTOS",
        "LABEL_ISSUES", "NEAR_COPIES_ACROSS_SPLITS", "HEALTHY",
    }  # fmt: skip
    with pytest.raises(ValueError):
        Finding("NOT_A_CODE", "info", "m")


def test_healthy_beside_advice_does_not_claim_that_nothing_was_found() -> None:
    alone = healthy_unless([])
    assert [f.code for f in alone] == ["HEALTHY"] and alone[0].message.startswith("no problem found")
    advice = Finding("SLOW_CONVERGENCE", "info", "validation accuracy was still rising")
    beside = healthy_unless([advice])[-1]
    assert beside.code == "HEALTHY" and "no problem found" not in beside.message
    assert "advice above: SLOW_CONVERGENCE" in beside.message
    assert healthy_unless([Finding("OVERFITTING", "warning", "gap")])[-1].code == "OVERFITTING"


def _summary(label_issues: int, reviewed: int = 1000, held_out: int = 0) -> dict[str, object]:
    noise = [{"name": "cat", "images": 500, "issues": label_issues, "estimated_noise": 0.08},
             {"name": "dog", "images": 500, "issues": 0, "estimated_noise": 0.01}]  # fmt: skip
    return {"reviewed": reviewed, "label_issues": label_issues, "outliers": 10, "near_copies": held_out,
            "pairs_with_held_out": held_out, "leaking_pairs": held_out, "examples": [], "class_noise": noise,
            "confused": [], "near_copy_rule": "rule", "needs": {}, "out_of_fold_accuracy": 0.9,
            "seconds": 1.0}  # fmt: skip


def test_label_issues_from_two_percent_recommend_dropping_about_that_share() -> None:
    from liftlab.config import Recipe
    from liftlab.diagnose.advisor import recommend
    from liftlab.diagnose.findings import LABEL_ISSUE_SHARE, review_findings

    assert not review_findings(_summary(int(LABEL_ISSUE_SHARE * 1000) - 1))
    found = review_findings(_summary(50))
    assert codes(found) == {"LABEL_ISSUES"} and "most in cat" in found[0].message
    strategies = [r.strategy for r in recommend(found, Recipe(), [], None)]
    assert strategies == ["drop-suspect-labels=0.05", "relabel-suspects=0.9"]


def test_near_copies_of_held_out_images_recommend_dedupe() -> None:
    from liftlab.config import Recipe
    from liftlab.diagnose.advisor import recommend
    from liftlab.diagnose.findings import review_findings

    found = review_findings(_summary(0, held_out=3))
    assert codes(found) == {"NEAR_COPIES_ACROSS_SPLITS"}
    assert [r.strategy for r in recommend(found, Recipe(), [], None)] == ["dedupe-splits"]
