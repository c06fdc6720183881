from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from liftlab.config import DataConfig, Recipe, apply_overrides
from liftlab.data import load_data
from liftlab.records import Epoch
from liftlab.train import fit
from liftlab.train.checkpoint import load_checkpoint

TINY = ["data.size=8", "model.width=8", "optim.batch_size=64", "epochs=4", "data.color=gray"]


def _without_seconds(history: list[Epoch]) -> list[Epoch]:
    return [replace(record, seconds=None, train_seconds=None) for record in history]


@pytest.fixture(scope="module")
def digits() -> Any:
    return load_data("builtin:digits", DataConfig(size=8, color="gray"))


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_same_seed_gives_identical_history_and_weights(digits: Any, precision: str) -> None:
    recipe = apply_overrides(Recipe(), [*TINY, f"precision={precision}", "model.dropout=0.2"])
    first = fit(recipe, digits)
    second = fit(recipe, digits)
    assert _without_seconds(first.history) == _without_seconds(second.history)
    for (name, a), (_, b) in zip(first.model.state_dict().items(), second.model.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    other = fit(apply_overrides(recipe, ["seed=1"]), digits)
    assert _without_seconds(other.history) != _without_seconds(first.history)


class Interrupt(Exception):
    pass


def test_interrupted_then_resumed_run_equals_uninterrupted(digits: Any, tmp_path: Path) -> None:
    recipe = apply_overrides(Recipe(), [*TINY, "precision=fp32", "model.dropout=0.2"])
    uninterrupted = fit(recipe, digits)

    def crash_after_second_epoch(epoch: int, record: Epoch) -> None:
        if epoch == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        fit(recipe, digits, checkpoint_dir=tmp_path / "ckpt", callbacks=[crash_after_second_epoch])
    saved = load_checkpoint(tmp_path / "ckpt")
    assert saved is not None and saved[1]["epoch"] == 2
    resumed = fit(recipe, digits, checkpoint_dir=tmp_path / "ckpt", resume=True)
    assert _without_seconds(resumed.history) == _without_seconds(uninterrupted.history)
    for (name, a), (_, b) in zip(
        resumed.model.state_dict().items(), uninterrupted.model.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name


def test_non_finite_loss_stops_with_reason(digits: Any) -> None:
    recipe = apply_overrides(
        Recipe(), [*TINY, "model.norm=none", "model.activation=elu", "optim.lr=10", "optim.momentum=0.99"]
    )
    result = fit(recipe, digits)
    assert result.stopped_reason is not None
    assert "non-finite loss" in result.stopped_reason
    assert len(result.history) < recipe.epochs, "the run stopped early"
    assert all(math.isfinite(r.train_loss) for r in result.history), "no non-finite epoch is recorded"


def test_auto_precision_is_measured_once_and_cached(
    digits: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIFTLAB_CACHE", str(tmp_path))  # its own cache: no verdict of another test in it
    recipe = apply_overrides(Recipe(), [*TINY, "epochs=1", "model.width=12", "precision=auto"])
    result = fit(recipe, digits)
    verdicts = json.loads((tmp_path / "precision.json").read_text())
    assert result.dtype in ("fp32", "bf16")
    matching = [v for v in verdicts.values() if v["dtype"] == result.dtype]
    layouts = {"channels_last", "contiguous"}
    assert matching and set(matching[0]["seconds_per_step"]) == {f"{d}/{m}" for d in ("fp32", "bf16") for m in layouts}
    assert fit(recipe, digits).dtype == result.dtype


def test_convnet_on_cifar10_small_is_clearly_above_chance(cifar_small: Path) -> None:
    recipe = apply_overrides(Recipe(), ["epochs=3", "data.size=32"])
    data = load_data(str(cifar_small), recipe.data)
    result = fit(recipe, data)
    # measured 0.44 val accuracy after 3 epochs (chance is 0.10); 0.30 leaves room for noise
    assert result.val_acc is not None and result.val_acc > 0.30
    assert result.history[-1].train_loss < result.history[0].train_loss


class FakeClock:
    """A clock that moves `tick` seconds each time it is read: the loop's time decisions without the machine's
    speed in them (the loop reads it once a step and a few times an epoch)."""

    def __init__(self, tick: float) -> None:
        self.now, self.tick = 0.0, tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def test_a_schedule_ended_by_time_trains_fewer_steps_annealed_and_resumes_to_itself(
    digits: Any, tmp_path: Path
) -> None:
    # 400 epochs of about 23 steps read the fake clock over 9,000 times, 0.01 s each: time, not the epochs, ends
    # the schedule, at the same step on every machine
    recipe = apply_overrides(Recipe(), [*TINY, "precision=fp32", "epochs=400", "schedule.name=onecycle"])
    result = fit(recipe, digits, checkpoint_dir=tmp_path / "checkpoint", anneal_within=1.5, clock=FakeClock(0.01))
    annealed = result.extra["annealed_by_time"]
    assert len(result.history) == annealed["epoch"] < recipe.epochs
    assert "stopped_by_time" not in result.extra, "annealed, not cut"
    last = result.history[-1]
    assert last.val_acc is not None, "the run ends validated"
    assert last.lr < 0.15 * recipe.optim.lr, "its last steps ran at the end of the one-cycle schedule"
    # resumed from its last checkpoint, an annealed run has nothing left to train
    resumed = fit(recipe, digits, checkpoint_dir=tmp_path / "checkpoint", resume=True, anneal_within=1.5,
                  clock=FakeClock(0.01))  # fmt: skip
    assert _without_seconds(resumed.history) == _without_seconds(result.history)
    again = fit(recipe, digits, checkpoint_dir=tmp_path / "again", anneal_within=1.5, clock=FakeClock(0.01))
    assert _without_seconds(again.history) == _without_seconds(result.history), "the same step on the same clock"


def test_a_time_limit_inside_an_epoch_stops_there_with_the_last_finished_epochs_weights(
    digits: Any, tmp_path: Path
) -> None:
    # batches of 16: about 90 steps an epoch, one clock reading each (1 s) and a few more an epoch, so a
    # limit of 2.5 epochs' steps passes inside the third epoch
    recipe = apply_overrides(Recipe(), [*TINY, "precision=fp32", "optim.batch_size=16", "epochs=4"])
    steps = -(-len(digits.train) // 16)
    cut = fit(recipe, digits, max_seconds=2.5 * steps, clock=FakeClock(1.0))
    assert cut.extra["stopped_by_time"] == 2 and len(cut.history) == 2 and cut.stopped_reason is None

    def stop_after_second_epoch(epoch: int, record: Epoch) -> None:
        if epoch == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        fit(recipe, digits, checkpoint_dir=tmp_path / "ckpt", callbacks=[stop_after_second_epoch])
    saved = load_checkpoint(tmp_path / "ckpt")
    assert saved is not None
    for name, weights in cut.model.state_dict().items():
        assert torch.equal(weights, saved[0][name]), f"{name}: not the second epoch's weights"
    assert cut.val_acc == saved[1]["history"][-1]["val_acc"]

    early = fit(recipe, digits, max_seconds=0.5 * steps, clock=FakeClock(1.0))
    assert early.history == [] and "inside its first epoch" in (early.stopped_reason or "")


def test_time_that_suffices_runs_every_step_of_the_schedule(digits: Any) -> None:
    recipe = apply_overrides(Recipe(), [*TINY, "precision=fp32"])
    plain, roomy = fit(recipe, digits), fit(recipe, digits, anneal_within=3600.0)
    assert "annealed_by_time" not in roomy.extra
    assert _without_seconds(roomy.history) == _without_seconds(plain.history)
