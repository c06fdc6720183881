from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from liftlab.cli import app
from liftlab.config import Recipe, apply_overrides
from liftlab.experiments.ablate import AblationSettings, run_ablation
from liftlab.experiments.store import RunStore
from liftlab.records import RunRecord

runner = CliRunner()


def test_known_answer_ablation_reports_hurts_and_helps(tmp_path: Path) -> None:
    # colour defines the class: grayscale must hurt (measured -74 points, p_holm 0.0004)
    base = apply_overrides(Recipe(), ["model.width=16"])
    colour, _ = run_ablation("builtin:shapes-color", base, AblationSettings(["color=gray"], epochs=4, workers=1),
                             tmp_path / "colour")  # fmt: skip
    gray = colour.arms[1]
    assert gray.name == "color=gray" and gray.verdict == "hurts" and (gray.p_holm or 1) < 0.05
    # a 15-layer plain net without normalisation is stuck at chance: batch norm must help
    deep = apply_overrides(Recipe(), ["model.width=16", "data.size=16", "model.blocks=2", "model.norm=none"])
    summary, _ = run_ablation("builtin:digits", deep, AblationSettings(["batchnorm"], epochs=4, workers=2),
                              tmp_path / "deep")  # fmt: skip
    normed = summary.arm("batchnorm")
    assert normed.verdict == "helps" and (normed.p_holm or 1) < 0.05
    assert normed.delta_vs_baseline and normed.delta_vs_baseline.ci95[0] > 0
    assert normed.mcnemar and normed.mcnemar.arm_only_right > normed.mcnemar.baseline_only_right


def test_outputs_follow_the_contract(tmp_path: Path) -> None:
    out = tmp_path / "ablate"
    result = runner.invoke(
        app, ["ablate", "builtin:digits", "--strategies", "flip,crop=2", "--seeds", "2", "--epochs", "2",
              "--workers", "1", "--set", "data.size=8", "--set", "model.width=8", "--out", str(out), "--quiet"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "ablation.json").read_text())
    assert [a["name"] for a in summary["arms"]] == ["baseline", "flip", "crop=2", "all"]
    for arm in summary["arms"]:
        assert {"name", "strategies", "runs", "mean_test_acc", "ci95", "delta_vs_baseline", "p_value"} <= set(arm)
        assert [run["seed"] for run in arm["runs"]] == [0, 1]
        assert {"seed", "val_acc", "test_acc", "history", "stopped_reason"} <= set(arm["runs"][0])
        assert "seconds" not in arm["runs"][0], "timings would make a resumed ablation differ from a whole one"
        assert len(arm["runs"][0]["history"]) == 2
    assert summary["arms"][3]["strategies"] == ["flip", "crop=2"]
    assert set(summary["arms"][1]["delta_vs_baseline"]) == {"mean", "ci95"}
    for picture in ("loss.png", "train_acc.png", "val_acc.png", "test_acc.png"):
        assert (out / picture).stat().st_size > 1000
    report = (out / "report.html").read_text()
    assert report.count("data:image/png;base64,") == 4 and "crop=2" in report


def _ablate_command(out: Path) -> list[str]:
    return [sys.executable, "-m", "liftlab", "ablate", "builtin:digits", "--strategies", "flip,crop=2",
            "--seeds", "2", "--epochs", "3", "--workers", "1", "--set", "data.size=8", "--set", "model.width=8",
            "--out", str(out), "--quiet"]  # fmt: skip


def test_killed_ablation_resumes_training_only_missing_runs_and_ends_identical(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    whole = subprocess.run(_ablate_command(tmp_path / "whole"), capture_output=True, text=True, env=env)
    assert whole.returncode == 0, whole.stderr

    out = tmp_path / "killed"
    process = subprocess.Popen(_ablate_command(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 120
    done = 0
    while time.time() < deadline and process.poll() is None:
        if (out / "runs.db").exists():
            done = len(RunStore.in_folder(out).records())
            if done >= 2:
                break
        time.sleep(0.2)
    process.kill()
    process.wait()
    finished_before = len(RunStore.in_folder(out).records())
    assert 2 <= finished_before < 8, "killed midway"
    assert not (out / "ablation.json").exists()

    resumed = subprocess.run(_ablate_command(out), capture_output=True, text=True, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert f"trained {8 - finished_before} run(s), reused {finished_before}" in resumed.stdout
    assert json.loads((out / "ablation.json").read_text()) == json.loads(
        (tmp_path / "whole" / "ablation.json").read_text()
    )

    # a changed plan reuses every run it shares with the old one
    command = _ablate_command(out)
    command[command.index("flip,crop=2")] = "flip"
    again = subprocess.run(command, capture_output=True, text=True, env=env)
    assert again.returncode == 0, again.stderr
    assert "trained 0 run(s), reused 4" in again.stdout


def test_greedy_adds_strategies_while_they_help(tmp_path: Path) -> None:
    deep = apply_overrides(Recipe(), ["model.width=16", "data.size=16", "model.blocks=2", "model.norm=none"])
    settings = AblationSettings(["vflip", "batchnorm"], combine="greedy", epochs=3, workers=1)
    summary, _ = run_ablation("builtin:digits", deep, settings, tmp_path)
    names = [arm.name for arm in summary.arms]
    assert names[:3] == ["baseline", "vflip", "batchnorm"]
    # batch norm is picked first; vflip on top of it is tried and kept only if it helps significantly
    assert all(name.startswith("batchnorm") for name in names[3:])
    assert not summary.arms[1].tested_on_fresh_seeds, "single arms keep the ablation's own seeds"


def test_a_greedy_combination_is_scored_with_the_baseline_on_fresh_seeds(tmp_path: Path) -> None:
    # synthetic run records stand in for training: on the seeds that chose it the combination was lucky (0.9),
    # on fresh seeds it scores 0.8; the summary must report the fresh seeds, paired with fresh baselines
    import numpy as np

    from liftlab.experiments.ablate import Ablation
    from liftlab.experiments.store import run_key
    from liftlab.strategies.arm import BASELINE_ARM, Arm, arm_name

    ablation = Ablation("builtin:digits", Recipe(), AblationSettings(["flip", "crop"], seeds=2), tmp_path)
    combination = Arm(arm_name(("flip", "crop")), ("flip", "crop"))
    ablation.greedy_arms = {combination.name}
    labels = np.arange(200) % 4

    def record(seed: int, accuracy: float) -> RunRecord:
        right = np.arange(200) < accuracy * 200
        predictions = np.where(right, labels, (labels + 1) % 4)
        return RunRecord(f"run{seed}", seed, (), accuracy, accuracy, (), 1.0, test_labels=tuple(labels.tolist()),
                         test_predictions=tuple(predictions.tolist()))  # fmt: skip

    stored = ablation.session.records

    def key_of(arm: Arm, seed: int) -> str:
        return run_key(ablation.spec, ablation.recipe(arm, seed), ablation.budget)

    for arm, chosen, fresh in ((BASELINE_ARM, 0.7, 0.7), (combination, 0.9, 0.8)):
        for seed in ablation.seeds:
            stored[key_of(arm, seed)] = record(seed, chosen)
        for seed in ablation.fresh_seeds():
            stored[key_of(arm, seed)] = record(seed, fresh)
    entry = ablation.summarise([BASELINE_ARM, combination]).arms[1]
    assert entry.tested_on_fresh_seeds and [r.seed for r in entry.runs] == [2, 3]
    assert entry.mean_test_acc == pytest.approx(0.8)
    assert entry.delta_vs_baseline and entry.delta_vs_baseline.mean == pytest.approx(0.1)


def test_an_arm_that_failed_on_some_seeds_is_unstable_not_judged_on_its_survivors(tmp_path: Path) -> None:
    import numpy as np

    from liftlab.experiments.ablate import Ablation
    from liftlab.experiments.ablation_arms import BASELINE_ARM, Arm
    from liftlab.experiments.store import run_key

    ablation = Ablation("builtin:digits", Recipe(), AblationSettings(["flip"], seeds=3), tmp_path)
    arm = Arm("flip", ("flip",))
    labels = np.arange(200) % 4

    def record(seed: int, accuracy: float | None) -> RunRecord:
        right = np.arange(200) < (accuracy or 0.0) * 200
        predictions = np.where(right, labels, (labels + 1) % 4)
        failed = accuracy is None
        return RunRecord(f"run{seed}", seed, (), accuracy, accuracy, (), 1.0,
                         stopped_reason="non-finite loss at epoch 2" if failed else None,
                         test_labels=tuple(labels.tolist()),
                         test_predictions=() if failed else tuple(predictions.tolist()))  # fmt: skip

    stored = ablation.session.records

    def key_of(arm: Arm, seed: int) -> str:
        return run_key(ablation.spec, ablation.recipe(arm, seed), ablation.budget)

    for seed in ablation.seeds:  # the arm diverged on seed 2 and is far better on the two that survived
        ablation.session.records[run_key(ablation.spec, ablation.recipe(BASELINE_ARM, seed), ablation.budget)] = record(
            seed, 0.6
        )
        accuracy = None if seed == 2 else 0.95
        stored[key_of(arm, seed)] = record(seed, accuracy)
    entry = ablation.summarise([BASELINE_ARM, arm]).arms[1]
    assert entry.verdict == "unstable (failed on 1 of 3 seeds)"
    assert entry.to_json()["failed_runs"] == [{"seed": 2, "reason": "non-finite loss at epoch 2"}]
