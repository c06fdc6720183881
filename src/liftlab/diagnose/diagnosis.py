"""`liftlab diagnose`: train a baseline, read everything it shows, and say what is wrong."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import liftlab
from liftlab.config import Recipe, with_values
from liftlab.data.check import CheckReport, check_data
from liftlab.data.loading import load_data
from liftlab.diagnose.advisor import recommend
from liftlab.diagnose.audit import Strengths, audit_augmentations, audit_findings
from liftlab.diagnose.findings import (
    curve_findings,
    data_findings,
    gradient_findings,
    healthy_unless,
    review_findings,
)
from liftlab.diagnose.learning_curve import FRACTIONS, learning_curve_findings, measure_learning_curve
from liftlab.diagnose.lr import check_learning_rate, lr_findings
from liftlab.diagnose.resolution import (
    from_scratch_findings,
    measure_resolution,
    probe_cost,
    probe_epochs,
    probe_size,
    resolution_findings,
    steps_per_epoch,
)
from liftlab.io import write_json
from liftlab.records import Diagnosis
from liftlab.train.embedding import Embedder, review_side
from liftlab.train.fitted import FitResult
from liftlab.train.loop import fit
from liftlab.train.precision import DTYPES
from liftlab.train.probe import on_features


def active_augmentations(recipe: Recipe) -> frozenset[str]:
    """The audit's candidates that `recipe` already uses."""
    active = {
        "flip": recipe.augment.flip,
        "vflip": recipe.augment.vflip,
        "rotate": recipe.augment.rotate > 0,
        "crop": recipe.augment.crop_padding > 0,
        "color": recipe.data.color == "gray",
    }
    return frozenset(name for name, on in active.items() if on)


def without_audited_augmentations(recipe: Recipe) -> Recipe:
    return with_values(recipe, {"augment.flip": False, "augment.vflip": False, "augment.rotate": 0.0,
                                "augment.crop_padding": 0})  # fmt: skip


@dataclass
class DiagnoseSettings:
    target: float | None = None
    quick: bool = False  # one seed and three sizes for the learning curve
    skip_bad: bool = False
    quiet: bool = True
    max_seconds: float | None = None  # skip the costlier checks that would not fit (liftlab improve's budget)
    data_check: CheckReport | None = None  # `check_data(...)` already made of this data and recipe
    baseline_source: tuple[str, ...] = ()  # where the diagnosed recipe came from, said in the record and report
    review_out: Path | None = None  # where the data review writes review.csv/json/html (none: not written)
    review: bool = True  # review the data (label suspects, near-copies, outliers) when it fits the time


def diagnose(spec: str, recipe: Recipe, settings: DiagnoseSettings | None = None) -> Diagnosis:
    """Findings (code, severity, message, evidence), ranked recommendations and the learning curve."""
    settings = settings or DiagnoseSettings()
    start = time.perf_counter()
    data = load_data(spec, recipe.data, skip_bad=settings.skip_bad, quiet=settings.quiet)
    # improve has just checked the data: reading and hashing every file again cost ~6 s on 20,000 CIFAR JPEGs
    check = settings.data_check if settings.data_check is not None else check_data(spec, recipe.data)
    # under improve's budget the baseline trains within the diagnosis's share too (stopped inside an epoch if
    # need be); its findings then describe the epochs it had, which its history shows
    baseline = fit(recipe, data, record_gradients=True, quiet=settings.quiet, max_seconds=settings.max_seconds)
    findings = curve_findings(baseline.history, len(data.classes), baseline.stopped_reason)
    findings += gradient_findings(baseline.history)
    findings += data_findings(check)
    skipped: list[str] = []
    per_epoch = baseline.seconds / max(len(baseline.history), 1)

    def fits(estimate: float) -> bool:
        return settings.max_seconds is None or time.perf_counter() - start + estimate <= settings.max_seconds

    native = check.native_short_side  # the training split only
    review = None
    if settings.review:
        review = _review_if_it_fits(spec, recipe, native, check, settings, fits)
        if review is None:
            skipped.append("data review")
        else:
            findings += review_findings(review)

    lr = None
    # The range test is about one epoch; the two confirmation runs two epochs each.
    if on_features(recipe):
        # the range test steps the whole network on images; a probe's head trains on cached features instead
        skipped.append("learning-rate check (not made for linear probes on cached features)")
    elif fits(5 * per_epoch):
        lr = check_learning_rate(recipe, data)
        findings += lr_findings(lr)
    else:
        skipped.append("learning-rate check")
    resolution = None
    findings += from_scratch_findings(native, recipe)
    larger = probe_size(native, recipe.data.size)
    if larger is not None and native is not None:
        epochs = probe_epochs(recipe.epochs, steps_per_epoch(recipe, len(data.train)))
        if fits(probe_cost(per_epoch, epochs, recipe.data.size, larger)):
            resolution = measure_resolution(spec, recipe, data, native, larger, skip_bad=settings.skip_bad)
            findings += resolution_findings(resolution)
        else:
            skipped.append("resolution probe")
    seeds, fractions = (1, FRACTIONS[1:]) if settings.quick else (2, FRACTIONS)
    curve = None
    # Every size trains as many steps as the full baseline.
    if fits(seeds * len(fractions) * baseline.seconds):
        curve = measure_learning_curve(recipe, data, seeds=seeds, fractions=fractions)
        findings += learning_curve_findings(curve, settings.target, len(data.val))
    else:
        skipped.append("learning curve")
    audit = None
    active = active_augmentations(recipe)
    # A model trained with an augmentation has learnt to ignore it, so the audit needs one that has not.
    reference: FitResult | None = baseline
    if active - {"color"}:
        # a second run as long as the baseline: only when it fits what is left of the diagnosis's share
        reference = fit(without_audited_augmentations(recipe), data) if fits(baseline.seconds) else None
        if reference is None:
            skipped.append("augmentation audit")
    if reference is not None and reference.stopped_reason is None:
        audit = audit_augmentations(reference.model, data.val.images, data.val.labels, reference.preprocess,
                                    DTYPES[reference.dtype], Strengths.of(recipe))  # fmt: skip
        findings += audit_findings(audit, active)
    findings = healthy_unless(findings)
    recommendations = recommend(findings, recipe, audit.flagged if audit else [], lr.confirmed_lr if lr else None)
    return Diagnosis(
        data=spec,
        recipe=recipe.model_dump(mode="json"),
        findings=tuple(findings),
        recommendations=tuple(recommendations),
        baseline_history=tuple(baseline.history),
        baseline_val_acc=baseline.val_acc,
        baseline_stopped_reason=baseline.stopped_reason,
        data_check={
            "counts": check.counts,
            "imbalance_ratio": check.imbalance_ratio,
            "n_unreadable": len(check.unreadable),
            "duplicates_across": len(check.duplicates_across),
        },
        target=settings.target,
        learning_curve=curve.record(settings.target) if curve else None,
        lr_range_test=lr.to_dict() if lr else None,
        resolution_probe=resolution.to_dict() if resolution else None,
        augmentation_audit=audit.to_dict() if audit else None,
        data_review=review,
        skipped_for_time=tuple(skipped),
        baseline_source=settings.baseline_source,
        liftlab_version=liftlab.__version__,
    )


def _review_if_it_fits(
    spec: str,
    recipe: Recipe,
    native: float | None,
    check: CheckReport,
    settings: DiagnoseSettings,
    fits: Callable[[float], bool],
) -> dict[str, Any] | None:
    """The data review's summary (`diagnose.review.review_summary`), when its forward passes (at the speed
    measured here) fit what is left of the diagnosis's time; its files go to `settings.review_out`."""
    from liftlab.diagnose.review import (
        ReviewOptions,
        load_for_review,
        review_data,
        review_seconds_estimate,
        review_summary,
        write_review,
    )

    images = sum(map(check.split_size, check.counts))
    embedder = Embedder.for_review(3, review_side(native))
    estimate = review_seconds_estimate(images, embedder)
    if estimate is None or not fits(estimate):
        return None
    options = ReviewOptions(skip_bad=settings.skip_bad, quiet=settings.quiet, data=recipe.data)
    data, root = load_for_review(spec, options)
    reviewed = review_data(data, root, options, embedder)
    if settings.review_out is not None:
        write_review(reviewed, settings.review_out)
    return review_summary(reviewed.review)


def run_diagnosis(spec: str, recipe: Recipe, out: Path, settings: DiagnoseSettings | None = None) -> Diagnosis:
    """Diagnose and write diagnosis.json, the plots and report.html into `out`."""
    from liftlab.report.diagnosis import diagnosis_report

    settings = settings or DiagnoseSettings()
    if settings.review_out is None:
        settings = replace(settings, review_out=out / "review")
    result = diagnose(spec, recipe, settings)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "diagnosis.json", result.to_json())
    diagnosis_report(result, out)
    return result
