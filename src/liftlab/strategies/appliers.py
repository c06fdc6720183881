"""How a catalogue entry changes a recipe: set fixed fields, set one field to the strategy's value, or add
the value to a field. Each returns the pure function Recipe, value -> Recipe that a `Strategy` applies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from liftlab.config import Recipe, with_values


def set_fields(**values: Any) -> Callable[[Recipe, Any], Recipe]:
    """A strategy that sets fixed recipe fields (dotted keys with '__' for '.')."""
    return lambda recipe, _: with_values(recipe, {k.replace("__", "."): v for k, v in values.items()}, "strategy")


def set_value(key: str, convert: Callable[[Any], Any] = lambda v: v) -> Callable[[Recipe, Any], Recipe]:
    """A strategy that sets one recipe field to its value."""
    return lambda recipe, value: with_values(recipe, {key: convert(value)}, "strategy")


def add_to(key: str) -> Callable[[Recipe, Any], Recipe]:
    def apply(recipe: Recipe, value: Any) -> Recipe:
        section, leaf = key.split(".") if "." in key else ("", key)
        current = getattr(getattr(recipe, section), leaf) if section else getattr(recipe, leaf)
        return with_values(recipe, {key: max(current + value, 0)}, "strategy")

    return apply
