"""The arms `improve` searches: the advisor's recommendations, then classic remedies (the probe's own for a
linear-probe baseline); an arm holding an augmentation the audit flagged is tried last, not never.
"""

from __future__ import annotations

from liftlab.config import Recipe
from liftlab.experiments.improve.context import ImproveContext
from liftlab.records import Diagnosis
from liftlab.strategies import parse_strategy
from liftlab.strategies.arm import Arm
from liftlab.train.probe import on_features

STRONG_FROM_SCRATCH = "flip,crop,depth=+1,residual,schedule=onecycle,label-smoothing=0.1,epochs=+20"
"""The practitioner's strong from-scratch recipe as one arm: augmentation with the epochs it needs, and the
capacity to use it. Alone at a short budget flips and crops look useless or harmful (CIFAR-10, 9,000 images,
5 epochs: crop -5.3 points), while together with depth, residual connections and 4x the epochs they lift
the default ConvNet from 64% to 77% test accuracy there (`liftlab train` with these strategies, 40 epochs)."""
DEFAULT_CANDIDATES = (
    STRONG_FROM_SCRATCH, "flip", "crop", "epochs=+10", "label-smoothing=0.1", "schedule=onecycle", "weight-decay=5e-4"
)  # fmt: skip
"""Classic remedies tried after the advisor's own, when it recommends fewer than `max_arms`."""
PROBE_CANDIDATES = (
    "flip", "head=mlp", "pretrained=efficientnet_lite1,size=240", "pretrained=efficientnet_lite2,size=260",
    "label-smoothing=0.1", "tta",
)  # fmt: skip
"""For a linear-probe baseline (photographs): the probe's own remedies, each a head on cached features: mirror
views, a non-linear head, larger backbones at their native sizes, smoothing, test-time views."""


def candidates(ctx: ImproveContext, diagnosis: Diagnosis) -> dict[str, Recipe]:
    """Arms: the advisor's recommendations first, then classic remedies, those with an augmentation the
    audit flagged last (inside a combined arm too)."""
    flagged = set(diagnosis.flagged_augmentations)
    advised = [Arm.of(r.strategy) for r in diagnosis.recommendations]
    probing = on_features(ctx.base)
    defaults = [Arm.of(text) for text in (PROBE_CANDIDATES if probing else DEFAULT_CANDIDATES)]
    # a flagged augmentation is demoted, not banned: tried after every other remedy, validation decides
    ordered = advised + [a for a in defaults if not flagged_inside(a, flagged)]
    ordered += [a for a in defaults if flagged_inside(a, flagged)]
    arms: dict[str, Recipe] = {}
    for arm in ordered:
        if len(arms) >= ctx.settings.max_arms:
            break
        if arm.name in arms:
            continue
        recipe = arm.recipe(ctx.base)
        # A probe's arms stay probes: an arm that needs the images at every step (a crop on a frozen
        # backbone) costs tens of times more and is left to fine-tuning, which is not searched yet.
        if probing and not on_features(recipe):
            continue
        if recipe.model_copy(update={"strategies": ctx.base.strategies}) != ctx.base:
            arms[arm.name] = recipe
    return arms


def flagged_inside(arm: Arm, flagged: set[str]) -> list[str]:
    """The strategies of `arm` that the audit flagged (by name, whatever their values).

    >>> flagged_inside(Arm.of("flip,crop,depth=+1"), {"crop"}), flagged_inside(Arm.of("crop=4"), {"flip"})
    (['crop'], [])
    """
    return [name for name in arm.names() if name in flagged]


def more_epochs(strategy: str) -> bool:
    """Whether `strategy` adds epochs: the one remedy that adds up when applied again (the others repeat).

    >>> more_epochs("epochs=+10"), more_epochs("flip")
    (True, False)
    """
    return parse_strategy(strategy)[0].name == "epochs"


def stacked(strategies: list[str]) -> list[str]:
    """Strategies of several arms as one list: each once, except more epochs, which add up."""
    kept: list[str] = []
    for strategy in strategies:
        if more_epochs(strategy) or strategy not in kept:
            kept.append(strategy)
    return kept
