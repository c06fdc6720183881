"""From findings to a ranked list of remedies, each with its reason and expected effect.

Strategies the augmentation audit flagged are never recommended, nor those the recipe already uses.
"""

from __future__ import annotations

from liftlab.config import Recipe
from liftlab.records import Finding, Recommendation
from liftlab.strategies import apply_strategies, parse_strategy

# finding code -> (strategy, expected effect), best first
REMEDIES: dict[str, list[tuple[str, str]]] = {
    "DIVERGED": [("lr=find", "a stable learning rate"), ("warmup", "no blow-up in the first steps"),
                 ("batchnorm", "better-conditioned training")],
    "EXPLODING_GRADIENTS": [("batchnorm", "bounded activations and gradients"), ("lr=find", "smaller steps"),
                            ("warmup", "no blow-up in the first steps")],
    "VANISHING_GRADIENTS": [("residual", "gradients reach the early layers"), ("batchnorm", "well-scaled layers"),
                            ("activation=relu", "no saturating activation")],
    "LR_TOO_HIGH": [],  # filled with the confirmed rate
    "LR_TOO_LOW": [],
    "UNDERFITTING": [("epochs=+10", "more training"), ("depth=+1", "more capacity"), ("lr=find", "a better rate")],
    "SLOW_CONVERGENCE": [("epochs=+10", "the curve still rises"), ("schedule=onecycle", "faster convergence"),
                         ("batchnorm", "faster training")],
    "OVERFITTING": [("flip", "more varied training images"), ("crop", "position invariance"),
                    ("weight-decay=5e-4", "smaller weights"), ("dropout=0.3", "less co-adaptation"),
                    ("mixup", "smoother decision boundaries")],
    "MORE_DATA_HELPS": [("pretrained=efficientnet_lite0", "features learnt from ImageNet make up for little data"),
                        ("flip", "more varied training images"), ("crop", "more varied training images")],
    "RESOLUTION_TOO_LOW": [],  # filled with the probe's size
    "FROM_SCRATCH_ON_PHOTOS": [],  # filled with the backbone and its size
    "LABEL_ISSUES": [],  # filled with the share of suspects the review estimated
    "NEAR_COPIES_ACROSS_SPLITS": [("dedupe-splits", "validation scores arms on images the model has not seen")],
    "CLASS_IMBALANCE": [("loss=focal", "the rare classes weigh more; judge by per-class recall, not accuracy")],
}  # fmt: skip
SEVERITY_RANK = {"severe": 0, "warning": 1, "info": 2}
# Within a severity, causes before symptoms: a bad learning rate explains underfitting, not the reverse.
CAUSE_ORDER = ["DIVERGED", "EXPLODING_GRADIENTS", "VANISHING_GRADIENTS", "LR_TOO_HIGH", "LR_TOO_LOW",
               "DUPLICATES_ACROSS_SPLITS", "LABEL_ISSUES", "FROM_SCRATCH_ON_PHOTOS", "RESOLUTION_TOO_LOW",
               "UNDERFITTING", "SLOW_CONVERGENCE", "OVERFITTING",
               # its remedy leaves training images out so validation is honest; it does not lift accuracy
               "NEAR_COPIES_ACROSS_SPLITS",
               "MORE_DATA_HELPS", "CLASS_IMBALANCE", "AUGMENTATION_CHANGES_LABEL", "HEALTHY"]  # fmt: skip


def recommend(
    findings: list[Finding], recipe: Recipe, flagged: list[str], lr_confirmed: float | None
) -> list[Recommendation]:
    """Ranked, de-duplicated recommendations for `findings`."""
    ordered = sorted(findings, key=lambda f: (SEVERITY_RANK[f.severity], CAUSE_ORDER.index(f.code)))
    result: list[Recommendation] = []
    seen: set[str] = set()
    for finding in ordered:
        remedies = list(REMEDIES.get(finding.code, []))
        if finding.code in ("LR_TOO_HIGH", "LR_TOO_LOW") and lr_confirmed:
            remedies = [(f"lr={lr_confirmed:.3g}", "the rate that trained better in the confirmation run")]
        if finding.code == "RESOLUTION_TOO_LOW":
            remedies = [(f"size={finding.evidence['probe_size']}", "the detail the class lives in survives")]
        if finding.code == "LABEL_ISSUES":
            share = min(max(round(finding.evidence["share"], 2), 0.01), 0.2)
            remedies = [
                (f"drop-suspect-labels={share:g}", "the model stops learning labels that look wrong"),
                ("relabel-suspects=0.9", "confidently wrong labels are corrected instead of dropped"),
            ]
        if finding.code == "FROM_SCRATCH_ON_PHOTOS":
            remedies = [(f"pretrained={finding.evidence['backbone']}", "ImageNet features transfer to photographs"),
                        (f"size={finding.evidence['suggested_size']}", "the backbone sees the photographs at the "
                                                                        "size it was trained for")]  # fmt: skip
        for strategy, effect in remedies:
            name = parse_strategy(strategy)[0].name
            if strategy in seen or name in flagged or _already_applied(recipe, strategy):
                continue
            seen.add(strategy)
            result.append(Recommendation(strategy, finding.message, effect, finding.code))
    return result


def _already_applied(recipe: Recipe, strategy: str) -> bool:
    """True when applying `strategy` would not change the recipe (batch norm on a batch-norm net)."""
    parse_strategy(strategy)
    changed = apply_strategies(recipe, strategy)
    return changed.model_copy(update={"strategies": recipe.strategies}) == recipe
