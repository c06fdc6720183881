"""An arm: a named list of strategies applied on top of a baseline recipe, the one shape `ablate` and `improve`
compare. Its strategies are split and checked once, where the arm is made; what an arm holds is read from
them (`names`), never from its name's text."""

from __future__ import annotations

from dataclasses import dataclass

from liftlab.config import Recipe
from liftlab.strategies.registry import apply_strategies, parse_strategy, split_list


@dataclass(frozen=True)
class Arm:
    name: str
    strategies: tuple[str, ...]

    @classmethod
    def of(cls, text: str) -> Arm:
        """The arm a comma-separated strategy text names; an unknown strategy is refused here, naming the valid
        ones.

        >>> Arm.of("flip, crop=2").strategies, Arm.of("flip, crop=2").names()
        (('flip', 'crop=2'), ['flip', 'crop'])
        """
        strategies = tuple(split_list(text))
        for strategy in strategies:
            parse_strategy(strategy)
        return cls(text, strategies)

    def names(self) -> list[str]:
        """The registry names of the arm's strategies, without their values."""
        return [parse_strategy(strategy)[0].name for strategy in self.strategies]

    def recipe(self, base: Recipe) -> Recipe:
        """`base` with the arm's strategies applied in order."""
        return apply_strategies(base, list(self.strategies))


def arm_name(strategies: tuple[str, ...] | list[str]) -> str:
    """The name of the arm that applies `strategies` together ("baseline" for none)."""
    return "+".join(strategies) if strategies else "baseline"


BASELINE_ARM = Arm("baseline", ())
"""The arm with no strategy: `ablate`'s baseline; `improve.halving.BASELINE` is its name, the key of every phase."""
