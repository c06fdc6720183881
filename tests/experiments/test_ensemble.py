"""Two fresh seeds of the winner buy an ensemble (issue 32, item 6): chosen on validation against the first
network alone, exported as best/ with `ensemble.json`, and read by `predict` and `evaluate` as the average of
its networks' probabilities. Two tiny runs of one recipe on two seeds stand in for the final phase's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from liftlab.cli import app
from liftlab.data.loading import load_data
from liftlab.errors import BadInputError
from liftlab.evaluate.predictions_csv import read_predictions
from liftlab.experiments.improve.ensemble import choose_ensemble, ensemble_detail, export_ensemble, members_of
from liftlab.experiments.improve.finetune_plan import GOOD_EPOCHS, epochs_that_fit, plan_seeded_finetune
from liftlab.records import EnsembleChoice, RunRecord
from liftlab.train.saved import ENSEMBLE, Ensemble, load_model, load_trained
from tests.conftest import COLOURS, save_image

runner = CliRunner()
SETTINGS = ["--set", "data.size=12", "--set", "model.width=8", "--set", "optim.batch_size=16"]


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("ensemble")
    for name, colour in COLOURS.items():
        for i in range(24):
            save_image(root / "data" / "train" / name / f"{i:03d}.png", colour, seed=i)
        for i in range(6):
            save_image(root / "data" / "test" / name / f"{i:03d}.png", colour, seed=300 + i)
    runs = []
    for seed in (1, 2):
        run = root / f"seed{seed}"
        result = runner.invoke(app, ["train", str(root / "data"), "--epochs", "2", "--out", str(run), "--quiet",
                                     "--set", f"seed={seed}", *SETTINGS])  # fmt: skip
        assert result.exit_code == 0, result.output
        runs.append(run)
    return root / "data", runs


def test_the_choice_is_made_on_validation_and_the_ensemble_averages_probabilities(
    two_seeds: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    data, runs = two_seeds
    choice = choose_ensemble(str(data), runs, [1, 2])
    first, second = (load_trained(run) for run in runs)
    val = load_data(str(data), first.recipe.data).val
    single = (first.probabilities(val.images).argmax(1) == val.labels).float().mean().item()
    average = (first.probabilities(val.images) + second.probabilities(val.images)) / 2
    assert choice.single_val_acc == pytest.approx(single)
    assert choice.val_acc == pytest.approx((average.argmax(1) == val.labels).float().mean().item())
    assert choice.exported == (choice.val_acc > choice.single_val_acc)
    assert choice.ms_per_image > choice.single_ms_per_image > 0

    best = tmp_path / "best"
    shutil.copytree(runs[0], best)
    export_ensemble(best, runs[1:], [1, 2], choice)
    model = load_model(best)
    assert isinstance(model, Ensemble) and len(model.members) == 2
    images = val.images[:5]
    expected = (first.probabilities(images) + second.probabilities(images)) / 2
    assert torch.allclose(model.probabilities(images), expected, atol=1e-6)
    assert json.loads((best / ENSEMBLE).read_text())["members"] == [".", "members/2"]
    assert EnsembleChoice.from_json(choice.to_json(), "choice") == choice


def test_predict_and_evaluate_read_an_ensemble_folder(two_seeds: tuple[Path, list[Path]], tmp_path: Path) -> None:
    data, runs = two_seeds
    best = tmp_path / "best"
    shutil.copytree(runs[0], best)
    choice = EnsembleChoice((1, 2), 1.0, 1.0, 2.0, 1.0, exported=True)
    export_ensemble(best, runs[1:], [1, 2], choice)
    csv_path = tmp_path / "predictions.csv"
    result = runner.invoke(app, ["predict", str(best), str(data / "test"), "--csv", str(csv_path)])
    assert result.exit_code == 0, result.output
    predicted = read_predictions(csv_path)
    first, second = (load_trained(run) for run in runs)
    test = load_data(str(data), first.recipe.data).test
    assert test is not None
    average = (first.probabilities(test.images) + second.probabilities(test.images)) / 2
    assert sorted(predicted.proba.max(1).round(4)) == pytest.approx(sorted(average.max(1).values.double().numpy()),
                                                                    abs=1e-3)  # fmt: skip
    result = runner.invoke(app, ["evaluate", "--model", str(best), "--data", str(data), "--out", str(tmp_path / "ev"),
                                 "--no-corruptions"])  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    expected = (average.argmax(1) == test.labels).float().mean().item()
    assert record["metrics"]["accuracy"]["value"] == pytest.approx(expected)


def test_a_broken_ensemble_file_is_named_with_what_was_expected(
    two_seeds: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    _, runs = two_seeds
    best = tmp_path / "best"
    shutil.copytree(runs[0], best)
    (best / ENSEMBLE).write_text(json.dumps({"members": ["."]}))
    with pytest.raises(BadInputError, match=r"ensemble\.json: field 'members' expected a list of 2 or more"):
        load_model(best)
    (best / ENSEMBLE).write_text("{not json")
    with pytest.raises(BadInputError, match="not valid JSON"):
        load_model(best)


def test_only_runs_that_finished_their_schedule_are_members() -> None:
    whole = [RunRecord(f"k{i}", i, (), 0.9, 0.9, (), 1.0) for i in range(3)]
    cut = RunRecord("cut", 9, (), 0.5, 0.5, (), 1.0, stopped_by_time=1)
    assert [r.key for r in members_of([cut, *whole])] == ["k0", "k1"]
    assert members_of([cut, whole[0]]) == [], "one network is no ensemble"
    detail = ensemble_detail(EnsembleChoice((1, 2), 0.93, 0.91, 30.0, 15.0, exported=False))
    assert "one network kept" in detail and "0.9300 against 0.9100" in detail


def test_spare_time_plans_fresh_seeds_only_when_the_preferred_fine_tune_fits_for_each() -> None:
    keep = lambda test_size: 60.0  # noqa: E731
    side, epochs, seeded = plan_seeded_finetune(3600, 110, 224, 384.0, keep, keep, fresh_runs=2.0)
    assert (side, seeded) == (224, True) and epochs >= GOOD_EPOCHS
    assert epochs == epochs_that_fit(3600 - 60, 3 * 110), "three runs share the time: this one and 2 fresh seeds"
    side, epochs, seeded = plan_seeded_finetune(1200, 110, 224, 384.0, keep, keep, fresh_runs=2.0)
    assert not seeded and epochs == epochs_that_fit(1200 - 60, 110), "no room for 3: the one run gets every epoch"
    assert plan_seeded_finetune(3600, 110, 224, 384.0, keep, keep, fresh_runs=0.0)[2] is False


def test_fresh_pairs_side_by_side_take_the_longest_chain_or_the_spread_work() -> None:
    from liftlab.experiments.improve.final import pairs_seconds, pairs_that_fit

    finetune, probe = 1000.0, 10.0
    # two fresh fine-tunes and their probes on two workers: the fine-tunes run together
    assert pairs_seconds(2, [finetune, probe], 2) == pytest.approx(finetune + probe)
    assert pairs_seconds(3, [finetune, probe], 2) == pytest.approx(2 * finetune), "a third waits for a worker"
    assert pairs_seconds(2, [finetune, probe], 1) == pytest.approx(2 * (finetune + probe)), "one after the other"
    assert pairs_seconds(2, [100.0, 100.0], 2) == pytest.approx(200.0), "equal runs: the work spread over two"
    assert pairs_that_fit(1050, [finetune, probe], 2, most=2) == 2
    assert pairs_that_fit(1050, [finetune, probe], 1, most=2) == 1
    assert pairs_that_fit(500, [finetune, probe], 2, most=2) == 0


def test_a_probe_at_another_size_joins_through_resized_images_and_predict_reads_it(
    two_seeds: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    from liftlab.experiments.improve.ensemble import PROBE_MEMBERS, choose_probe_member, export_probe_member
    from liftlab.records import ProbeMemberChoice
    from liftlab.train.saved import at_size

    data, runs = two_seeds
    probe_run = tmp_path / "probe"
    result = runner.invoke(app, ["train", str(data), "--epochs", "2", "--out", str(probe_run), "--quiet",
                                 *SETTINGS, "--set", "data.size=16"])  # fmt: skip
    assert result.exit_code == 0, result.output
    best = tmp_path / "best"
    shutil.copytree(runs[0], best)
    choice = choose_probe_member(str(data), best, probe_run, "other-backbone")
    assert choice is not None and choice.size == 16
    first, probe = load_trained(runs[0]), load_trained(probe_run)
    val = load_data(str(data), first.recipe.data).val
    joined = (first.probabilities(val.images) + probe.probabilities(at_size(val.images, 16))) / 2
    assert choice.val_acc == pytest.approx((joined.argmax(1) == val.labels).float().mean().item())
    alone = first.probabilities(val.images).argmax(1) == val.labels
    assert choice.without_val_acc == pytest.approx(alone.float().mean().item())
    assert choice.fixed - choice.broken == round((choice.val_acc - choice.without_val_acc) * len(val.labels))
    assert ProbeMemberChoice.from_json(choice.to_json(), "probe") == choice

    export_probe_member(best, probe_run, choice)
    assert json.loads((best / ENSEMBLE).read_text())["members"] == [".", PROBE_MEMBERS]
    model = load_model(best)
    assert isinstance(model, Ensemble) and [m.recipe.data.size for m in model.members] == [12, 16]
    assert torch.allclose(model.probabilities(val.images), joined, atol=1e-6)
    result = runner.invoke(app, ["predict", str(best), str(data / "test"), "--csv", str(tmp_path / "p.csv")])
    assert result.exit_code == 0, result.output
    assert len(read_predictions(tmp_path / "p.csv").proba) == 6 * len(COLOURS)


def test_a_member_that_only_adds_noise_joins_in_few_tries_and_a_real_gain_in_most() -> None:
    """McNemar's rule at its default NOISE_Z, simulated: a member changing 5-60 of 250 validation verdicts,
    each change a fix or a break by a fair coin (no effect), joins in at most 5% of 2,000 tries (it promises
    about 2.3%); with 3 fixes in 4 changes it joins in most."""
    from liftlab.experiments.improve.ensemble import adds_beyond_noise

    generator = torch.Generator().manual_seed(0)

    def joins(fix_share: float) -> float:
        added = 0
        for _ in range(2000):
            changed = int(torch.randint(5, 61, (1,), generator=generator))
            fixes = torch.rand(changed, generator=generator) < fix_share
            without = torch.ones(250, dtype=torch.bool)
            with_member = without.clone()
            without[:changed] = ~fixes  # a fixed image was wrong without the member and right with it
            with_member[:changed] = fixes
            added += adds_beyond_noise(without, with_member)
        return added / 2000

    assert joins(0.5) <= 0.05
    assert joins(0.75) >= 0.6


def test_fresh_seeds_repeat_a_search_run_whose_schedule_ended_by_time_at_its_recorded_seconds(tmp_path: Path) -> None:
    """The final phase times a fine-tune that ended its schedule by time at the seconds it took for the whole
    schedule (not extrapolated to its nominal epochs), and only the winner's own run at its seed counts."""
    from improve_fakes import FakeClock, FakeTrainer, fake_context

    from liftlab.config import Recipe
    from liftlab.experiments.improve.final import annealed_search_run

    winner = Recipe(strategies=["finetune=full"])
    annealed = RunRecord("a", 0, ("finetune=full",), 0.9, 0.9, (), 1166.0, epoch_seconds=(65.0,) * 18)
    other_seed = RunRecord("b", 1, ("finetune=full",), 0.9, 0.9, (), 900.0)
    other_arm = RunRecord("c", 0, ("head=mlp",), 0.9, 0.9, (), 10.0)
    for record, metrics in ((annealed, {"annealed_by_time": {"epoch": 18, "step": 6, "steps": 1100}}),
                            (other_seed, {"annealed_by_time": {"epoch": 3, "step": 1, "steps": 100}}),
                            (other_arm, {})):  # fmt: skip
        (tmp_path / record.key).mkdir()
        (tmp_path / record.key / "metrics.json").write_text(json.dumps(metrics))
    clock = FakeClock()
    trainer = FakeTrainer(clock, lambda recipe: 0.9, folder=tmp_path)
    trainer.stored |= {r.key: r for r in (other_seed, other_arm, annealed)}
    ctx = fake_context(tmp_path / "out", Recipe(), trainer, clock)
    found = annealed_search_run(ctx, winner)
    assert found is not None and found.seconds == 1166.0
    (tmp_path / "a" / "metrics.json").write_text("{}")
    assert annealed_search_run(ctx, winner) is None, "a run that ran all its steps is extrapolated as before"
