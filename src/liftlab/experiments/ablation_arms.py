"""Which arms an ablation trains: the baseline, each strategy alone, and their combination."""

from __future__ import annotations

from liftlab.errors import BadInputError
from liftlab.strategies import parse_strategy, split_list
from liftlab.strategies.arm import BASELINE_ARM, Arm

COMBINE_MODES = ("all", "none", "greedy")


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
