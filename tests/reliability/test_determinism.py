"""Point 4: the same seed and data on the CPU give identical batches (indices and augmented tensors) and
identical metrics; with `deterministic=true` an op without a deterministic version raises."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from liftlab.config import DataConfig, Recipe, apply_overrides
from liftlab.data import load_data
from liftlab.records import Epoch
from liftlab.train import fit, loop

TINY = ["data.size=8", "model.width=8", "optim.batch_size=64", "epochs=2", "data.color=gray", "precision=fp32"]
AUGMENTED = [*TINY, "augment.flip=true", "augment.crop_padding=2", "augment.rotate=10", "augment.cutout=0.25",
             "augment.color_jitter=0.2", "augment.mixup=0.2", "model.dropout=0.2"]  # fmt: skip


REAL_AUGMENT = loop.augment_batch  # captured before any test wraps it


@pytest.fixture(scope="module")
def digits() -> Any:
    return load_data("builtin:digits", DataConfig(size=8, color="gray"))


def recorded_run(digits: Any, monkeypatch: pytest.MonkeyPatch, overrides: list[str]) -> tuple[list[Any], Any]:
    batches: list[tuple[torch.Tensor, torch.Tensor]] = []

    def recording(images: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        out = REAL_AUGMENT(images, *args, **kwargs)
        batches.append((images.clone(), out.clone()))
        return out

    monkeypatch.setattr(loop, "augment_batch", recording)
    return batches, fit(apply_overrides(Recipe(), overrides), digits)


def test_same_seed_same_batches_and_metrics(digits: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    first, one = recorded_run(digits, monkeypatch, AUGMENTED)
    second, two = recorded_run(digits, monkeypatch, AUGMENTED)
    assert len(first) == len(second) == 2 * (len(digits.train) // 64)
    for step, ((raw_a, aug_a), (raw_b, aug_b)) in enumerate(zip(first, second, strict=True)):
        assert torch.equal(raw_a, raw_b), f"step {step}: different images drawn"
        assert torch.equal(aug_a, aug_b), f"step {step}: different augmentation"
    keys = ("train_loss", "train_acc", "val_loss", "val_acc", "lr")
    assert [[getattr(r, k) for k in keys] for r in one.history] == [[getattr(r, k) for k in keys] for r in two.history]
    third, _ = recorded_run(digits, monkeypatch, [*AUGMENTED, "seed=1"])
    assert not torch.equal(first[0][0], third[0][0]), "another seed draws other batches"


def test_deterministic_mode_makes_a_nondeterministic_op_raise(digits: Any) -> None:
    def nondeterministic_op(epoch: int, record: Epoch) -> None:
        torch.zeros(3).put_(torch.tensor([0, 0]), torch.tensor([1.0, 2.0]))  # no deterministic version

    with pytest.raises(RuntimeError, match="does not have a deterministic implementation"):
        fit(apply_overrides(Recipe(), [*TINY, "deterministic=true"]), digits, callbacks=[nondeterministic_op])
    assert not torch.are_deterministic_algorithms_enabled(), "the mode is restored after the run"
    result = fit(apply_overrides(Recipe(), TINY), digits, callbacks=[nondeterministic_op])  # default: allowed
    assert len(result.history) == 2
    on = fit(apply_overrides(Recipe(), [*TINY, "deterministic=true"]), digits)
    off = fit(apply_overrides(Recipe(), TINY), digits)
    assert [r.val_acc for r in on.history] == [r.val_acc for r in off.history], "same numbers on the CPU"
