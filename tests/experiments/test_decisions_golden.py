"""`improve`'s decisions pinned: the search, the fine-tune and the final phase run on the fake trainer and the
fake clock (`improve_fakes.py`), and what they decided (plan.json, every rung's arms, epochs and scores, the
winner, each batch they trained with its limits, the final seeds, the seconds used) must equal
`golden/improve_decisions.json`. A refactor that changes no decision leaves it equal; a change that means to
decide differently rewrites it on purpose:

    LIFTLAB_WRITE_GOLDEN=1 .venv/bin/python -m pytest tests/experiments/test_decisions_golden.py

and the diff of the JSON file is the change of behaviour, for review."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from improve_fakes import N_VAL, FakeClock, FakeTrainer, fake_context
from test_phases import ARMS, BASE, CHECK, PROBE, accuracy, arms_of

from liftlab.experiments.improve.context import ImproveSettings
from liftlab.experiments.improve.final import final
from liftlab.experiments.improve.finetune_phase import finetune
from liftlab.experiments.improve.search import search
from liftlab.strategies import apply_strategies
from liftlab.train.probe import on_features

GOLDEN = Path(__file__).parent / "golden" / "improve_decisions.json"


def _decided(ctx: Any, trainer: FakeTrainer, folder: Path, searched: Any, finals: Any) -> dict[str, Any]:
    plan = json.loads((folder / "plan.json").read_text())
    batches = [[[label, list(recipe.strategies), recipe.epochs, recipe.seed, limits.seconds, limits.complete]
                for label, recipe, limits in batch] for batch in trainer.batches]  # fmt: skip
    return {
        "plan": plan,
        "rungs": [rung.to_json() for rung in searched.rungs],
        "winner": searched.winner,
        "winner_strategies": list(searched.recipes[searched.winner].strategies),
        "batches": batches,
        "final_seeds": finals.seeds,
        "final_from_search": finals.from_search,
        "steps": [step.detail for step in ctx.log.steps],
        "used_s": round(ctx.clock.used(), 6),
    }


def from_scratch(folder: Path) -> dict[str, Any]:
    """A from-scratch baseline: halving over four remedies, the stack, greedy, then the final seeds."""
    clock = FakeClock()
    trainer = FakeTrainer(clock, accuracy)
    ctx = fake_context(folder, BASE, trainer, clock, ImproveSettings(budget_s=3000, seeds=2))
    searched = search(ctx, arms_of(ARMS), baseline_seconds=80.0, n_val=N_VAL, search_end=0.65)
    finals = final(ctx, searched.recipes[searched.winner])
    return _decided(ctx, trainer, folder, searched, finals)


def probe_then_finetune(folder: Path) -> dict[str, Any]:
    """A probe baseline: its search, the fine-tune the plan sizes (it scores higher and is kept), the final."""
    clock = FakeClock()
    trainer = FakeTrainer(clock, lambda r: 0.8 + (0.03 if "flip" in r.strategies else 0.0) if on_features(r) else 0.93)
    ctx = fake_context(folder, PROBE, trainer, clock, ImproveSettings(budget_s=3000, seeds=2))
    arms = {name: apply_strategies(PROBE, name) for name in ("flip", "head=mlp")}
    searched = search(ctx, arms, baseline_seconds=40.0, n_val=200, search_end=0.4)
    searched = searched.with_finetune(finetune(ctx, searched, CHECK, n_val=200))
    finals = final(ctx, searched.recipes[searched.winner])
    return _decided(ctx, trainer, folder, searched, finals)


def _plain(value: Any, folder: Path) -> Any:
    """JSON with the test's temporary folder written as <tmp> (the plan records where it ran)."""
    return json.loads(json.dumps(value).replace(str(folder), "<tmp>"))


def test_improves_decisions_equal_the_pinned_ones(tmp_path: Path) -> None:
    found = {
        "from_scratch": _plain(from_scratch(tmp_path / "scratch"), tmp_path / "scratch"),
        "probe_then_finetune": _plain(probe_then_finetune(tmp_path / "probe"), tmp_path / "probe"),
    }
    if os.environ.get("LIFTLAB_WRITE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
    pinned = json.loads(GOLDEN.read_text())
    for case in found:
        for part in found[case]:
            assert found[case][part] == pinned[case][part], f"{case}: {part} differs from {GOLDEN.name}"
