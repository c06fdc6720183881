"""Point 3: a non-finite loss stops its run at once, with the reason; such a run is never crowned; an
experiment with one failing run out of ten finishes the other nine and reports the failure."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from liftlab.config import DataConfig, Recipe, apply_overrides
from liftlab.data import load_data
from liftlab.experiments.runner import Job, run_jobs
from liftlab.records import RunRecord
from liftlab.train import fit, loop

TINY = ["data.size=8", "model.width=8", "optim.batch_size=64", "epochs=3", "data.color=gray", "precision=fp32"]
# diverges within a few steps: no normalisation, a huge learning rate and momentum
DIVERGING = ["model.norm=none", "model.activation=elu", "optim.lr=10", "optim.momentum=0.99"]


@pytest.fixture(scope="module")
def digits() -> Any:
    return load_data("builtin:digits", DataConfig(size=8, color="gray"))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("at_step", [1, 7, 30])
def test_a_non_finite_loss_stops_the_run_at_that_step(digits: Any, monkeypatch: pytest.MonkeyPatch,
                                                       bad: float, at_step: int) -> None:  # fmt: skip
    real = loop.classification_loss
    calls = {"n": 0}

    def poisoned(*args: Any, **kwargs: Any) -> torch.Tensor:
        calls["n"] += 1
        loss = real(*args, **kwargs)
        return loss * bad if calls["n"] == at_step else loss

    monkeypatch.setattr(loop, "classification_loss", poisoned)
    result = fit(apply_overrides(Recipe(), TINY), digits)
    steps_per_epoch = len(digits.train) // 64
    epoch, step = divmod(at_step - 1, steps_per_epoch)
    assert result.stopped_reason is not None and "non-finite loss" in result.stopped_reason
    assert f"epoch {epoch + 1}, step {step + 1}" in result.stopped_reason
    assert calls["n"] == at_step, "not one more step was taken"
    assert len(result.history) == epoch, "only the epochs completed before it are recorded"


def test_one_failing_run_out_of_ten_leaves_nine_complete(tmp_path: Any) -> None:
    jobs = []
    for seed in range(10):
        overrides = [*TINY, f"seed={seed}", *(DIVERGING if seed == 6 else [])]
        jobs.append(Job(f"run-{seed}", "builtin:digits", apply_overrides(Recipe(), overrides).model_dump(mode="json")))
    records: list[RunRecord] = []
    run_jobs(jobs, workers=2, on_done=records.append)
    assert len(records) == 10
    failed = [r for r in records if r.stopped_reason]
    assert [r.key for r in failed] == ["run-6"] and failed[0].test_acc is None
    assert all(r.test_acc is not None and r.test_acc > 0.5 for r in records if r.key != "run-6")


def test_a_diverged_trial_is_never_the_best(tmp_path: Any) -> None:
    from liftlab.experiments.tune import TuneSettings, create_study, work

    base = apply_overrides(Recipe(), [*TINY, "model.norm=none", "model.activation=elu", "optim.momentum=0.99"])
    settings = TuneSettings(trials=2, study="diverge", space=("lr",), pruner="none")
    study = create_study("builtin:digits", base, settings, tmp_path)
    study.enqueue_trial({"lr": 1.0})  # diverges at once
    study.enqueue_trial({"lr": 0.003})  # learns slowly but finitely
    work(study, trials=2)
    diverged, healthy = sorted(study.get_trials(), key=lambda t: -t.params["lr"])
    assert diverged.state.name == "PRUNED" and "non-finite" in diverged.user_attrs["stopped_reason"]
    assert study.best_trial.number == healthy.number
