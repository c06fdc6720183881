"""The choice of precision, memory layout and torch.compile: decided from timings, cached, recorded.

A fake timer stands in for the measurement, so these tests check the decision logic, not the clock.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from liftlab.train.precision import choose_execution, compile_pays, fastest, worth_measuring_compile

CPU = torch.device("cpu")
SHAPE = (8, 3, 8, 8)


class FakeTimer:
    """Seconds per step from a table keyed "dtype/layout" (and "+compile"); counts its calls."""

    def __init__(self, eager: dict[str, float], compiled: float = 1.0, compile_s: float = 40.0, fails: bool = False):
        self.eager, self.compiled, self.compile_s, self.fails = eager, compiled, compile_s, fails
        self.calls: list[tuple[str, str, bool]] = []

    def __call__(self, dtype: str, layout: str, compiled: bool) -> tuple[float, float]:
        self.calls.append((dtype, layout, compiled))
        if compiled:
            if self.fails:
                raise RuntimeError("inductor: no C++ compiler")
            return self.compile_s + self.compiled, self.compiled
        return self.eager[f"{dtype}/{layout}"], self.eager[f"{dtype}/{layout}"]


EAGER = {"fp32/channels_last": 3.0, "fp32/contiguous": 4.0, "bf16/channels_last": 1.2, "bf16/contiguous": 2.0}


def choose(tmp_path: Path, timer: FakeTimer, steps: int = 10, model: nn.Module | None = None, **requested: str):
    return choose_execution(
        requested.get("precision", "auto"),
        requested.get("layout", "auto"),
        requested.get("compile", "auto"),
        model or nn.Conv2d(3, 4, 3),
        SHAPE,
        10,
        CPU,
        tmp_path,
        steps,
        timer=timer,
    )


def test_the_fastest_measured_precision_and_layout_win(tmp_path: Path) -> None:
    execution = choose(tmp_path, FakeTimer(EAGER))
    assert (execution.dtype, execution.memory_format) == ("bf16", "channels_last")
    slow_bf16 = {**EAGER, "bf16/channels_last": 5.0, "bf16/contiguous": 6.0, "fp32/contiguous": 2.5}
    execution = choose(tmp_path / "other-machine", FakeTimer(slow_bf16))
    assert (execution.dtype, execution.memory_format) == ("fp32", "contiguous")
    assert execution.source == "measured" and execution.seconds_per_step["fp32/contiguous"] == 2.5


def test_the_verdict_is_cached_per_model_shape(tmp_path: Path) -> None:
    first = FakeTimer(EAGER)
    choose(tmp_path, first)
    assert len(first.calls) == 4  # 2 precisions x 2 layouts
    again = FakeTimer(EAGER)
    execution = choose(tmp_path, again)
    assert again.calls == [] and execution.source == "cached" and execution.dtype == "bf16"
    other_shape = FakeTimer(EAGER)
    choose(tmp_path, other_shape, model=nn.Conv2d(3, 16, 3))
    assert len(other_shape.calls) == 4, "another model shape is measured afresh"
    stored = json.loads((tmp_path / "precision.json").read_text())
    assert sum(1 for key in stored if "|" in key) == 2


def test_requested_settings_are_used_without_measuring(tmp_path: Path) -> None:
    timer = FakeTimer(EAGER)
    execution = choose(tmp_path, timer, precision="fp32", layout="contiguous", compile="off")
    assert timer.calls == [] and execution.source == "requested"
    assert (execution.dtype, execution.memory_format, execution.compiled) == ("fp32", "contiguous", False)
    # a fixed precision with an 'auto' layout times only that precision
    timer = FakeTimer(EAGER)
    assert choose(tmp_path, timer, precision="fp32", compile="off").memory_format == "channels_last"
    assert {dtype for dtype, _, _ in timer.calls} == {"fp32"}


def test_compile_is_not_even_measured_for_a_short_run(tmp_path: Path) -> None:
    timer = FakeTimer(EAGER, compiled=0.1)
    execution = choose(tmp_path, timer, steps=20)  # 20 steps x 1.2 s x 0.5 = 12 s < a 60 s compile
    assert not any(compiled for _, _, compiled in timer.calls)
    assert execution.compiled is False


def test_compile_is_used_only_when_it_repays_its_compile_time(tmp_path: Path) -> None:
    # 0.2 s saved per step; compiling takes 40 s: pays after 200 steps
    timer = FakeTimer(EAGER, compiled=1.0, compile_s=40.0)
    long_run = choose(tmp_path, timer, steps=1000)
    assert long_run.compiled is True and long_run.compile_evidence["compile_s"] == pytest.approx(40.0)
    assert sum(compiled for _, _, compiled in timer.calls) == 1
    # the measured compile is cached; a shorter run with the same shape decides from it without timing
    timer = FakeTimer(EAGER, compiled=1.0, compile_s=40.0)
    medium_run = choose(tmp_path, timer, steps=150)
    assert timer.calls == [] and medium_run.compiled is False


def test_a_slower_or_failing_compile_is_never_used(tmp_path: Path) -> None:
    slower = choose(tmp_path / "a", FakeTimer(EAGER, compiled=1.8), steps=10_000)
    assert slower.compiled is False and slower.compile_evidence["compiled_s"] == 1.8
    failing = choose(tmp_path / "b", FakeTimer(EAGER, fails=True), steps=10_000)
    assert failing.compiled is False and "no C++ compiler" in failing.compile_evidence["failed"]


def test_decision_rules() -> None:
    assert fastest({"fp32/contiguous": 1.0}, ["bf16"], ["channels_last"]) == ("bf16", "channels_last")
    both = ["fp32", "bf16"], ["channels_last", "contiguous"]
    # a reduced precision must be clearly faster than the best fp32 layout; a near tie stays in fp32
    assert fastest({"fp32/channels_last": 2.09, "bf16/channels_last": 2.0, "fp32/contiguous": 4.0,
                    "bf16/contiguous": 2.1}, *both) == ("fp32", "channels_last")  # fmt: skip
    assert fastest({"fp32/channels_last": 2.0, "bf16/channels_last": 1.79, "fp32/contiguous": 4.0,
                    "bf16/contiguous": 2.1}, *both) == ("bf16", "channels_last")  # fmt: skip
    assert fastest({"fp32/channels_last": 3.0, "fp32/contiguous": 2.0, "bf16/channels_last": 1.9}, *both) == (
        "fp32", "contiguous"
    ), "compared with fp32's best layout"  # fmt: skip
    assert worth_measuring_compile(eager_s=1.0, steps=100, compile_guess_s=30.0)
    assert not worth_measuring_compile(eager_s=1.0, steps=100, compile_guess_s=60.0)
    assert not worth_measuring_compile(eager_s=0.01, steps=100, compile_guess_s=30.0)
    assert compile_pays(1.0, 0.5, 10.0, 21) and not compile_pays(1.0, 0.5, 10.0, 20)
