"""The examples in the pure modules' docstrings run and say what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

PURE_MODULES = [
    "liftlab.experiments.lift",
    "liftlab.experiments.halving",
    "liftlab.experiments.search_effects",
    "liftlab.stats",
    "liftlab.experiments.step_timing",
    "liftlab.experiments.finetune_plan",
    "liftlab.experiments.profile",
    "liftlab.records",
    "liftlab.experiments.capacity",
    "liftlab.strategies",
    "liftlab.report.html",
    "liftlab.train.embedding",
    "liftlab.train.label_faults",
    "liftlab.train.neighbours",
    "liftlab.experiments.crossval",
]


@pytest.mark.parametrize("name", PURE_MODULES)
def test_docstring_examples_hold(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed"
