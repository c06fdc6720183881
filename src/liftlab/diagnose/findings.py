"""Findings: a stable code, a severity, a message a person can act on, and the evidence (numbers and
the plot they come from). Modelled on Lightning's EarlyStoppingReason.

The rules here read records only (histories, data checks, audits); they never train anything.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from liftlab.data.check import CheckReport
from liftlab.records import TRAIN_ACC, VAL_ACC, Epoch, Finding


def chance_level(num_classes: int) -> float:
    return 1.0 / max(num_classes, 1)


# Thresholds, each a share of the distance between chance and perfect accuracy, so that they mean
# the same for 2 classes as for 100.
UNDERFIT_SHARE = 0.65  # training accuracy below chance + 65% of the way to 1 is underfitting
OVERFIT_ERROR_RATIO = 2.0  # validation error over twice the training error ...
OVERFIT_MIN_GAP = 0.05  # ... and at least 5 points apart
SLOW_GAIN = 0.03  # validation accuracy still rising this much over the last third of training


def curve_findings(history: Sequence[Epoch], num_classes: int, stopped_reason: str | None) -> list[Finding]:
    """OVERFITTING, UNDERFITTING, SLOW_CONVERGENCE and DIVERGED from one run's curves."""
    if stopped_reason or any(not math.isfinite(r.train_loss) for r in history):
        return [Finding("DIVERGED", "severe", f"training diverged: {stopped_reason or 'non-finite loss'}",
                        {"stopped_reason": stopped_reason, "plot": "curves"})]  # fmt: skip
    if not history:
        return []
    first, last = history[0], history[-1]
    chance = chance_level(num_classes)
    if last.train_loss > 1.5 * max(first.train_loss, math.log(num_classes)):
        return [Finding("DIVERGED", "severe", "the training loss grew far above where it started",
                        {"first_train_loss": first.train_loss, "last_train_loss": last.train_loss,
                         "plot": "curves"})]  # fmt: skip
    findings: list[Finding] = []
    train_acc = max(r.train_acc or 0.0 for r in history[-max(1, len(history) // 3) :])
    last_train, val_acc = last.train_acc or 0.0, last.val_acc
    underfit_level = chance + UNDERFIT_SHARE * (1 - chance)
    if train_acc < underfit_level:
        findings.append(Finding(
            "UNDERFITTING", "warning",
            f"the model does not fit even its training data: training accuracy {train_acc:.3f} "
            f"(below {underfit_level:.3f}, where chance is {chance:.3f})",
            {"train_acc": train_acc, "threshold": underfit_level, "chance": chance, "plot": "curves"},
        ))  # fmt: skip
    if val_acc is None:  # the last epoch was not validated: nothing compares the two curves
        return findings
    train_error, val_error = 1 - last_train, 1 - val_acc
    if val_error > OVERFIT_ERROR_RATIO * train_error + 0.01 and last_train - val_acc > OVERFIT_MIN_GAP:
        best_val_loss_epoch = min(history, key=lambda r: math.inf if r.val_loss is None else r.val_loss).epoch
        findings.append(Finding(
            "OVERFITTING", "warning",
            f"training accuracy {last_train:.3f} but validation {val_acc:.3f}: "
            + (f"the validation error is {val_error / train_error:.1f}x the training error" if train_error > 1e-3
               else "the training images are all learnt while validation errs"),
            {TRAIN_ACC.name: last_train, VAL_ACC.name: val_acc, "train_error": train_error,
             "val_error": val_error, "best_val_loss_epoch": best_val_loss_epoch, "plot": "curves"},
        ))  # fmt: skip
    window = max(1, len(history) // 3)
    earlier = history[-1 - window].val_acc if len(history) >= 3 else None
    if earlier is not None:
        gain = val_acc - earlier
        if gain > SLOW_GAIN and not any(f.code == "OVERFITTING" for f in findings):
            findings.append(Finding(
                "SLOW_CONVERGENCE", "info",
                f"validation accuracy was still rising at the end (+{gain:.3f} over the last {window} epochs): "
                "more epochs or a better schedule would likely help",
                {"gain_last_third": gain, "epochs": len(history), "plot": "curves"},
            ))  # fmt: skip
    return findings


VANISHING_RATIO = 1e-3  # first-layer gradient norm below 1/1000 of the last layer's
EXPLODING_NORM = 1e3


def gradient_findings(history: Sequence[Epoch]) -> list[Finding]:
    """VANISHING_GRADIENTS and EXPLODING_GRADIENTS from per-layer gradient norms (input to output)."""
    norms = [norms for norms in (r.grad_norms for r in history) if norms]
    if not norms:
        return []
    first_epoch = norms[0]
    findings = []
    worst = max(max(epoch) for epoch in norms)
    if not math.isfinite(worst) or worst > EXPLODING_NORM:
        findings.append(Finding(
            "EXPLODING_GRADIENTS", "severe",
            f"gradient norms reach {worst:.3g} (above {EXPLODING_NORM:g}): clip gradients, lower the learning "
            "rate, or add batch norm",
            {"max_grad_norm": worst, "plot": "gradients"},
        ))  # fmt: skip
    input_side, output_side = first_epoch[0], first_epoch[-1]
    ratio = input_side / output_side if output_side > 0 else math.inf
    if output_side > 0 and ratio < VANISHING_RATIO:
        findings.append(Finding(
            "VANISHING_GRADIENTS", "severe",
            f"the first layer's gradients are {ratio:.2g} of the last layer's: early layers barely learn "
            "(residual connections, batch norm, or ReLU-like activations help)",
            {"first_layer_norm": input_side, "last_layer_norm": output_side, "ratio": ratio,
             "per_layer": first_epoch, "plot": "gradients"},
        ))  # fmt: skip
    return findings


IMBALANCE_RATIO = 3.0


def data_findings(check: CheckReport) -> list[Finding]:
    """CLASS_IMBALANCE and DUPLICATES_ACROSS_SPLITS from a `data check` report."""
    findings = []
    ratio = check.imbalance_ratio
    if ratio is not None and ratio >= IMBALANCE_RATIO:
        findings.append(Finding(
            "CLASS_IMBALANCE", "warning",
            f"the largest class has {ratio:.1f}x the images of the smallest: accuracy hides the small classes",
            {"imbalance_ratio": ratio, "counts": check.counts, "plot": "data check"},
        ))  # fmt: skip
    across = check.duplicates_across
    if across:
        findings.append(Finding(
            "DUPLICATES_ACROSS_SPLITS", "severe",
            f"{len(across)} image(s) appear in more than one split: test accuracy is inflated",
            {"groups": across[:20], "count": len(across), "plot": "data check"},
        ))  # fmt: skip
    return findings


LABEL_ISSUE_SHARE = 0.02
"""Label issues (cleanlab's count among the training and validation images) from this share of the images make
LABEL_ISSUES a warning worth an experiment: below it, the few suspects are for a person to look at."""


LABEL_REVIEW_ACCURACY = 0.85
"""Out-of-fold accuracy of the review's heads below which LABEL_ISSUES is not claimed: cleanlab counts as label
issues the images its probabilities confidently contradict, so weak heads make their own errors look like wrong
labels. CIFAR-10 (cifar10-small through Lite0 at 96 px: heads 69% right) came out at 17% "issues" although its
labels are known to be nearly all right, and builtin:shapes-few (generated, so every label is right; heads 80%
right) at 11 issues; TrashNet (heads 87% right) at 4.6%, its top suspects looked at on the contact sheet. Three
data sets, development figures."""


def review_findings(summary: dict[str, Any]) -> list[Finding]:
    """LABEL_ISSUES and NEAR_COPIES_ACROSS_SPLITS from a data review's summary (`diagnose.review.review_summary`)."""
    findings = []
    share = summary["label_issues"] / max(summary["reviewed"], 1)
    if share >= LABEL_ISSUE_SHARE and summary["out_of_fold_accuracy"] >= LABEL_REVIEW_ACCURACY:
        noisiest = max(summary["class_noise"], key=lambda c: c["estimated_noise"])
        findings.append(Finding(
            "LABEL_ISSUES", "warning",
            f"{summary['label_issues']} of {summary['reviewed']} training and validation labels look wrong "
            f"({share:.1%}; most in {noisiest['name']}, about {noisiest['estimated_noise']:.0%} of its labels): "
            "the model learns the mistakes and is scored against them; look at them in the data review",
            {"label_issues": summary["label_issues"], "share": share, "threshold": LABEL_ISSUE_SHARE,
             "class_noise": summary["class_noise"], "confused": summary["confused"][:5], "needs": summary["needs"],
             "plot": "data review"},
        ))  # fmt: skip
    held_out = summary["pairs_with_held_out"]
    if held_out:
        findings.append(Finding(
            "NEAR_COPIES_ACROSS_SPLITS", "warning",
            f"{held_out} training image(s) have a near-copy in the validation or test split "
            f"({summary['leaking_pairs']} pair(s) with a test image): those scores are not held out",
            {"pairs_with_held_out": held_out, "leaking_pairs": summary["leaking_pairs"],
             "rule": summary["near_copy_rule"], "examples": summary["examples"], "plot": "data review"},
        ))  # fmt: skip
    return findings


def healthy_unless(findings: list[Finding]) -> list[Finding]:
    """Append HEALTHY when no finding is a warning or worse."""
    if any(f.severity in ("warning", "severe") for f in findings):
        return findings
    if not findings:
        return [Finding("HEALTHY", "info", "no problem found in curves, gradients, data or learning rate")]
    # the info findings are advice (a schedule that could be longer, an augmentation not to use): the
    # message must not say that nothing was found beside them
    advice = ", ".join(dict.fromkeys(f.code for f in findings))
    message = f"no warning or severe problem in curves, gradients, data or learning rate; advice above: {advice}"
    return [*findings, Finding("HEALTHY", "info", message)]
