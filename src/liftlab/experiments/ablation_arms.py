"""Which arms an ablation trains: the baseline, each strategy alone, and their combination."""

from __future__ import annotations

from dataclasses import dataclass

from liftlab.errors import BadInputError
from liftlab.strategies import parse_strategy, split_list

COMBINE_MODES = ("all", "none", "greedy")


@dataclass(frozen=True)
class Arm:
    name: str
    strategies: tuple[str, ...]


BASELINE_ARM = Arm("baseline", ())
"""The ablation's baseline arm (no strategy); `halving.BASELINE` is its name, the key every phase of `improve` uses."""


def arm_name(strategies: tuple[str, ...] | list[str]) -> str:
    return "+".join(strategies) if strategies else "baseline"


def initial_arms(strategies: str | list[str], combine: str) -> list[Arm]:
    """Baseline, one arm per strategy, and 'all' together when asked (greedy adds arms as it goes)."""
    if combine not in COMBINE_MODES:
        raise BadInputError(f"--combine {combine!r}: expected one of {', '.join(COMBINE_MODES)}")
    names = split_list(strategies)
    if not names:
        raise BadInputError("--strategies: give at least one strategy, e.g. --strategies crop,flip")
    for name in names:
        parse_strategy(name)  # fail early, naming the bad one
    if len(set(names)) != len(names):
        raise BadInputError(f"--strategies {','.join(names)}: a strategy is listed twice")
    arms = [BASELINE_ARM, *(Arm(name, (name,)) for name in names)]
    if combine == "all" and len(names) > 1:
        arms.append(Arm("all", tuple(names)))
    return arms
