"""The verdict's sentences, built from the lift record alone: the terminal, report.html and improve.json's
`verdict` field all show these words, so what is printed is what was measured (`lift.kind` decides whether
they speak of a recipe or of two trained models)."""

from __future__ import annotations

from typing import Any

from liftlab.records import ImproveResult
from liftlab.records.html import percent as pct  # one definition: the notebook tables print the same figures
from liftlab.records.lift import RECIPE, LiftTest


def points(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:+.2f} points"


def interval(ci95: Any, as_points: bool = False) -> str:
    show = points if as_points else pct
    low, high = [*list(ci95), None, None][:2]
    return f"95% interval {show(low)} to {show(high)}"


def _p(test: LiftTest, kind: str) -> str:
    p = test.p_value if test.p_value is not None else test.mcnemar_p
    if p is None:
        return ""
    named = "t-test" if kind == RECIPE else "McNemar"
    return f"{named} p = {p:.3g}; "


def _direction(ci95: tuple[float | None, float | None]) -> tuple[str, str]:
    low, high = ci95
    if low is None or high is None:
        return "went", "no interval:"
    if low > 0:
        return "rose", "a lift of"
    if high < 0:
        return "fell", "the validation winner did worse on the test split:"
    return "went", "no reliable difference (the interval includes zero):"


def exported_sentence(result: ImproveResult) -> str | None:
    """What the model in best/ scores: leak-free first where test images have a copy in training, and what
    it is (a run that finished its schedule, or one the deadline cut)."""
    exported = result.best.exported
    if exported is None:
        return None
    what = f"The exported model (best/, the winner trained with seed {exported.seed})"
    ensemble = exported.ensemble
    if ensemble is not None and ensemble.exported:
        seeds = " and ".join(map(str, ensemble.seeds))
        what = (
            f"The exported model (best/, the average of the winner's networks trained with seeds {seeds}, chosen "
            f"on validation: {pct(ensemble.val_acc)} against {pct(ensemble.single_val_acc)} for one network; "
            f"{ensemble.ms_per_image:.1f} ms an image here against {ensemble.single_ms_per_image:.1f} ms)"
        )
    probe = exported.probe_member
    if probe is not None and probe.added:
        what = what.removesuffix(")") + (
            f"; with the search's probe of {probe.backbone} at {probe.size} px as one more member, chosen on "
            f"validation: {pct(probe.val_acc)} against {pct(probe.without_val_acc)} without it, {probe.fixed} "
            f"image(s) fixed and {probe.broken} broken)"
        )
    if exported.cut_after is not None:
        what += f", a run the deadline cut after {exported.cut_after} epoch(s) of its schedule,"
    overall = f"{pct(exported.test_acc)} on the test split ({interval(exported.ci95)}, test images)"
    if exported.leak_free is not None:
        clean = exported.leak_free
        return (
            f"{what} scores {pct(clean.value)} on the {clean.images} test images without a copy or near-copy "
            f"in the training or validation split ({interval(clean.ci95)}; {clean.left_out} leaked test image(s) "
            f"left out); over every test image, leaked ones included, {overall}."
        )
    copies = len(result.data_check.get("leaked_test") or []) + len(result.data_check.get("near_copy_test") or [])
    if copies:  # leak-free figures need two test images left: with fewer, the figure says it is not held out
        return (
            f"{what} scores {overall}, but {copies} test image(s) have a copy or near-copy in the training or "
            "validation split, too many to leave out: this figure is not held out."
        )
    return (
        f"{what} scores {overall}; the per-class table, confusion matrix, business view and curves below describe it."
    )


def lift_sentence(result: ImproveResult) -> str:
    """Baseline -> best with the lift, its interval and p-value, in the words its scope allows."""
    lift, best = result.lift, result.best
    if lift.no_verdict:
        return f"No lift verdict: {lift.no_verdict}."
    seeds = lift.seeds_scored or len(best.runs)
    if lift.no_lift or best.name == "baseline":
        return (
            f"No lift measured: no remedy beat the baseline on validation, so the best recipe is the baseline "
            f"({pct(result.baseline.test_acc)} on the test split, {interval(result.baseline.ci95)}, "
            f"{seeds} seed(s) scored)."
        )
    added = ", ".join(best.strategies[len(result.baseline.strategies) :])
    clean = lift.leak_free
    over = "test split"
    figures = (result.baseline.test_acc, best.test_acc, lift.value, lift.ci95, lift.test)
    if clean and clean.lift.value is not None:  # the p-value shown is the leak-free test's too
        figures = (clean.baseline.value, clean.best.value, clean.lift.value, clean.lift.ci95, clean.test)
        over = f"{clean.images} test images without a copy or near-copy in training; {clean.left_out} left out"
    base_acc, best_acc, value, ci95, test = figures
    change, meaning = _direction(ci95)
    p = _p(test, lift.kind)
    if lift.kind == RECIPE:
        sentence = (
            f"The recipe's test accuracy (mean of {seeds} fresh seeds, {over}) {change} from {pct(base_acc)} "
            f"(baseline) to {pct(best_acc)} with {added}: {meaning} {points(value)} ({interval(ci95, True)}; "
            f"{p}seeds and test images both sampled)."
        )
    else:
        sentence = (
            f"This model against the baseline model ({over}): {pct(base_acc)} -> {pct(best_acc)} with {added}, "
            f"{meaning} {points(value)} ({interval(ci95, True)}; {p}{lift.scope or ''})."
        )
    if lift.compute_ratio:
        sentence += f" The best recipe trained for {lift.compute_ratio:.1f}x the baseline's time."
    return sentence


def search_sentence(result: ImproveResult) -> str:
    """What helped and hurt in the search, and the target, decided on validation."""
    # an arm that combines strategies is named by them joined with commas: " + " keeps it one item of the list
    helped, hurt = (
        [name.replace(",", " + ") for name in names] for names in (result.effects.helped, result.effects.hurt)
    )
    scope = result.effects.scope
    sentence = (
        f"Helped in the search{f' ({scope})' if scope else ''}: {', '.join(helped) or 'none'}; "
        f"hurt: {', '.join(hurt) or 'none'}."
    )
    if result.target is not None:
        reached = "reached" if result.target_reached else "not reached"
        exported = result.best.exported
        on_val = "" if exported is None or exported.val_acc is None else f" {pct(exported.val_acc)};"
        test = "" if exported is None else f" test {pct(exported.test_acc)}, reported, not used to decide"
        sentence += f" Target {pct(result.target)}, decided on validation by the exported model:{on_val} {reached}"
        sentence += f" ({test.strip()})." if test else "."
    return sentence


def verdict_sentences(result: ImproveResult) -> list[str]:
    """The sentences at the top of the report and of the terminal output, in order."""
    exported = exported_sentence(result)
    return [*([exported] if exported else []), lift_sentence(result), search_sentence(result)]


EVIDENCE_ROWS = 40
"""Rows of a finding's evidence shown in the report; the whole record stays in improve.json."""


def readable(name: str, value: Any) -> str:
    """One evidence value as a person reads it: accuracies and shares as percentages, seconds with their unit,
    other numbers to four significant digits, lists of numbers shortened.

    >>> readable("test_acc", 0.8123456789), readable("seconds", 12.3456), readable("lr", 0.00123456789)
    ('81.23%', '12.3 s', '0.001235')
    >>> readable("val_accs", [0.5, 0.61234])
    '50.00%, 61.23%'
    """
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return str(value)
    if isinstance(value, int | float):
        lowered = name.lower()
        fractional = isinstance(value, float) and abs(value) <= 1
        if fractional and any(word in lowered for word in ("acc", "share", "fraction", "changed")):
            return pct(float(value))
        if "second" in lowered or lowered.endswith("_s"):
            return f"{value:.1f} s"
        return f"{value:.4g}" if isinstance(value, float) else str(value)
    if isinstance(value, list | tuple):
        shown = [readable(name, v) for v in value[:12]]
        return ", ".join(shown) + (f", ... ({len(value)} in all)" if len(value) > 12 else "")
    return str(value)


def evidence_rows(evidence: Any, prefix: str = "") -> list[tuple[str, str]]:
    """A finding's evidence as (dotted name, readable value) rows, nested records flattened, at most
    EVIDENCE_ROWS of them.

    >>> evidence_rows({"gap": 0.1234567, "curve": {"accuracy": [0.5, 0.6]}})
    [('gap', '0.1235'), ('curve.accuracy', '50.00%, 60.00%')]
    """
    rows: list[tuple[str, str]] = []
    items = evidence.items() if isinstance(evidence, dict) else [("value", evidence)]
    for key, value in items:
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += evidence_rows(value, f"{name}.")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for index, item in enumerate(value[:5]):
                rows += evidence_rows(item, f"{name}[{index}].")
        else:
            rows.append((name, readable(str(key), value)))
    return rows[:EVIDENCE_ROWS]
