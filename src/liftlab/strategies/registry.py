"""The strategy registry: `Setting` (what a strategy takes after '='), `Strategy` (a pure function
Recipe -> Recipe plus metadata, given by keyword), and `register / get / list_strategies / parse / apply`.

Modelled on timm's registry; unlike timm, an unknown name lists the known ones. The entries live in
`liftlab.strategies.catalogue`, which the package imports, so the registry is always complete.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from liftlab.config import Recipe, with_values
from liftlab.errors import BadInputError
from liftlab.records.fields import JsonObject
from liftlab.records.tune import SearchSpace

CATEGORIES = (
    "data",
    "augmentation",
    "image",
    "regularisation",
    "architecture",
    "optimisation",
    "transfer",
    "evaluation",
)


@dataclass(frozen=True, kw_only=True)
class Setting:
    """The value a strategy takes after '=': its kind, bounds, choices, default and tuning space."""

    kind: str  # "float", "int", "choice", "relative-int", "float-or-choice"
    default: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    log: bool = False
    low_inclusive: bool = True
    high_inclusive: bool = True
    tune: tuple[float, float] | None = None  # the range worth searching, when narrower than the valid one

    def describe(self) -> str:
        if self.kind == "choice":
            return f"one of {', '.join(self.choices)}"
        if self.kind == "relative-int":
            return f"+N or -N, with N in [{self.low:g}, {self.high:g}]"
        left = "[" if self.low_inclusive else "("
        right = "]" if self.high_inclusive else ")"
        bounds = f"a number in {left}{self.low:g}, {self.high:g}{right}"
        if self.kind == "float-or-choice":
            return f"{bounds} or {', '.join(self.choices)}"
        return bounds.replace("a number", "an integer") if self.kind == "int" else bounds

    def parse(self, name: str, raw: str) -> Any:
        raw = raw.strip()
        if self.kind in ("choice", "float-or-choice") and raw in self.choices:
            return raw
        if self.kind == "choice":
            raise BadInputError(f"strategy {name}={raw}: expected {self.describe()}")
        try:
            if self.kind == "relative-int":
                if raw[:1] not in "+-" or not raw[1:].isdigit():
                    raise ValueError
                value: float = int(raw)
                magnitude = abs(value)
            else:
                value = int(raw) if self.kind == "int" else float(raw)
                magnitude = value
        except ValueError:
            raise BadInputError(f"strategy {name}={raw}: expected {self.describe()}") from None
        low = -math.inf if self.low is None else self.low
        high = math.inf if self.high is None else self.high
        too_low = magnitude < low if self.low_inclusive else magnitude <= low
        too_high = magnitude > high if self.high_inclusive else magnitude >= high
        if too_low or too_high:
            raise BadInputError(f"strategy {name}={raw}: out of range; expected {self.describe()}")
        return value

    def search_space(self) -> SearchSpace:
        """The Optuna-style distribution the tuner samples this setting from."""
        if self.kind == "choice":
            return SearchSpace("categorical", self.choices)
        kind = "int" if self.kind in ("int", "relative-int") else "float"
        low, high = self.tune if self.tune else (self.low, self.high)
        return SearchSpace(kind, low=low, high=high, log=self.log)


@dataclass(frozen=True, kw_only=True)
class Strategy:
    name: str
    category: str
    summary: str
    helps_when: str
    hurts_when: str
    apply: Callable[[Recipe, Any], Recipe]
    setting: Setting | None = None
    notes: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def default(self) -> str | None:
        return self.setting.default if self.setting else None

    def canonical(self, value: Any) -> str:
        if self.setting is None:
            return self.name
        return f"{self.name}={value:+d}" if self.setting.kind == "relative-int" else f"{self.name}={value}"

    def to_json(self) -> JsonObject:
        return {
            "name": self.name,
            "category": self.category,
            "summary": self.summary,
            "helps_when": self.helps_when,
            "hurts_when": self.hurts_when,
            "default": self.default,
            "setting": self.setting.describe() if self.setting else None,
            "search_space": self.setting.search_space().to_json() if self.setting else None,
            "notes": self.notes,
        }


_REGISTRY: dict[str, Strategy] = {}


def register(strategy: Strategy) -> Strategy:
    if strategy.category not in CATEGORIES:
        raise ValueError(f"strategy {strategy.name}: category {strategy.category!r} not in {CATEGORIES}")
    if strategy.name in _REGISTRY:
        raise ValueError(f"strategy {strategy.name} is registered twice")
    _REGISTRY[strategy.name] = strategy
    return strategy


def get(name: str) -> Strategy:
    """The strategy called `name` (without its '=value'); unknown names list the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise BadInputError(f"unknown strategy {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def list_strategies(category: str | None = None) -> list[Strategy]:
    """Every registered strategy, or those of one category, in catalogue order."""
    if category is not None and category not in CATEGORIES:
        raise BadInputError(f"strategy category {category!r}: expected one of {', '.join(CATEGORIES)}")
    return [s for s in _REGISTRY.values() if category is None or s.category == category]


def parse_strategy(text: str) -> tuple[Strategy, Any]:
    """'dropout=0.3' -> (the dropout strategy, 0.3); a strategy's default fills a missing value."""
    name, sep, raw = text.strip().partition("=")
    strategy = get(name.strip())
    if strategy.setting is None:
        if sep:
            raise BadInputError(f"strategy {text}: {strategy.name} takes no value")
        return strategy, None
    return strategy, strategy.setting.parse(strategy.name, raw if sep else strategy.setting.default)


def split_list(strategies: str | list[str]) -> list[str]:
    items = strategies.split(",") if isinstance(strategies, str) else strategies
    return [item.strip() for item in items if item.strip()]


def apply_strategies(recipe: Recipe, strategies: str | list[str]) -> Recipe:
    """Apply strategies in order; the result records them in `recipe.strategies`."""
    for text in split_list(strategies):
        strategy, value = parse_strategy(text)
        recipe = strategy.apply(recipe, value)
        recipe = with_values(recipe, {"strategies": [*recipe.strategies, strategy.canonical(value)]})
    return recipe
