"""`improve`'s phases with a fake trainer and a fake clock (`improve_fakes.py`): which arms advance, when the
search stops, what the fine-tune and the final phase train, and what happens when the clock runs out at each
point. Nothing trains; each test takes milliseconds."""

from __future__ import annotations

from pathlib import Path

from improve_fakes import N_VAL, FakeClock, FakeTrainer, fake_context

from liftlab.config import Recipe, apply_overrides
from liftlab.data.check import CheckReport
from liftlab.experiments.improve.context import ImproveSettings
from liftlab.experiments.improve.final import final
from liftlab.experiments.improve.finetune_phase import finetune
from liftlab.experiments.improve.halving import BASELINE
from liftlab.experiments.improve.phase_results import SearchResult
from liftlab.experiments.improve.search import search
from liftlab.experiments.improve.trainer import Limits
from liftlab.records.search import FINE_TUNE, GREEDY, HALVING, Rung
from liftlab.strategies import apply_strategies
from liftlab.train.probe import on_features

BASE = apply_overrides(Recipe(), ["epochs=8"])
EFFECTS = {"flip": 0.12, "crop": 0.08, "label-smoothing": -0.2, "weight-decay": 0.0}
"""Each remedy's true effect on validation accuracy (from 0.6); remedies add up."""
ARMS = ["flip", "crop", "label-smoothing=0.1", "weight-decay=1e-3"]
SEARCH_LIMITS = Limits(1e9)


def accuracy(recipe: Recipe) -> float:
    return 0.6 + sum(EFFECTS.get(name, 0.0) for name in names(recipe))


def names(recipe: Recipe) -> set[str]:
    """The remedies `recipe` applies, without their values."""
    return {strategy.split("=")[0] for strategy in recipe.strategies}


def arms_of(names: list[str]) -> dict[str, Recipe]:
    return {name: apply_strategies(BASE, name) for name in names}


def test_the_search_advances_the_better_half_stacks_what_helped_and_keeps_every_real_effect(tmp_path: Path) -> None:
    clock = FakeClock()
    trainer = FakeTrainer(clock, accuracy)
    ctx = fake_context(tmp_path, BASE, trainer, clock, ImproveSettings(budget_s=3000))
    result = search(ctx, arms_of(ARMS), baseline_seconds=80.0, n_val=N_VAL, search_end=0.65)
    first = result.rungs[0]
    assert first.kind == HALVING and set(first.val_acc) == {BASELINE, *ARMS}
    assert first.paired_se and all(se is not None for se in first.paired_se.values())
    second = result.rungs[1]
    assert "label-smoothing=0.1" not in second.val_acc, "the arm that hurt does not advance"
    assert {"flip", "stack", BASELINE} <= set(second.val_acc)
    assert names(result.recipes["stack"]) == {"flip", "crop", "weight-decay"}, "all that did not hurt"
    winner = names(result.recipes[result.winner])
    assert {"flip", "crop"} <= winner and "label-smoothing" not in winner
    assert all(not limits.complete for batch in trainer.batches for _, _, limits in batch), "no test scoring"
    assert ctx.clock.used() <= 0.65 * 3000, "the search ends within its share"


def test_greedy_adds_a_remedy_that_clearly_helps_and_stops_at_one_that_does_not(tmp_path: Path) -> None:
    # more epochs help up to 24 (one point each), then nothing: greedy, which may add more epochs again, must
    # add them once to the halving's winner and stop at the next addition
    def with_epochs(recipe: Recipe) -> float:
        return accuracy(recipe) + 0.01 * min(max(recipe.epochs - 8, 0), 16)

    clock = FakeClock()
    trainer = FakeTrainer(clock, with_epochs, seconds=lambda recipe: 2.0 * recipe.epochs)
    ctx = fake_context(tmp_path, BASE, trainer, clock, ImproveSettings(budget_s=3000))
    result = search(ctx, arms_of(["crop", "epochs=+8"]), baseline_seconds=16.0, n_val=N_VAL, search_end=0.65)
    rungs = [rung for rung in result.rungs if rung.kind == GREEDY]
    assert len(rungs) == 2, [dict(rung.val_acc) for rung in rungs]
    assert result.recipes[result.winner].epochs == 24 and "crop" in names(result.recipes[result.winner])
    details = [step.detail for step in ctx.log.steps if step.detail.startswith("greedy")]
    assert details[0].endswith("(kept)") and details[1].endswith("(not better: stop)")


def test_a_search_with_no_time_left_keeps_the_baseline_and_trains_nothing(tmp_path: Path) -> None:
    clock = FakeClock()
    trainer = FakeTrainer(clock, accuracy)
    ctx = fake_context(tmp_path, BASE, trainer, clock, ImproveSettings(budget_s=60))
    clock.advance(59)  # 59 of the 60 seconds already gone
    result = search(ctx, arms_of(["flip"]), baseline_seconds=1000.0, n_val=N_VAL, search_end=0.65)
    assert result.winner == BASELINE and result.rungs == ()
    assert trainer.batches == []


def test_a_rung_that_would_not_fit_is_skipped_not_cut(tmp_path: Path) -> None:
    clock = FakeClock()
    trainer = FakeTrainer(clock, accuracy, seconds=lambda recipe: 30.0 * recipe.epochs)
    ctx = fake_context(tmp_path, BASE, trainer, clock, ImproveSettings(budget_s=1000))
    # the diagnosis's baseline took 120 s for 8 epochs; the search's runs take twice that: the rungs planned
    # from it do not all fit, and the one that would not is skipped rather than cut by the deadline
    result = search(ctx, arms_of(ARMS), baseline_seconds=120.0, n_val=N_VAL, search_end=0.65)
    halving = [rung for rung in result.rungs if rung.kind == HALVING]
    assert halving[-1].fraction < 1.0, "the halving never reached the full budget"
    assert any("would not fit" in step.detail for step in ctx.log.steps)
    assert not any(run.stopped_by_time for run in trainer.stored.values()), "no run was cut by the deadline"
    assert ctx.clock.used() <= 0.65 * 1000


def test_the_final_phase_trains_fresh_seeds_and_a_rerun_reuses_them(tmp_path: Path) -> None:
    clock = FakeClock()
    trainer = FakeTrainer(clock, accuracy)
    winner = apply_strategies(BASE, "flip")
    ctx = fake_context(tmp_path, BASE, trainer, clock, ImproveSettings(budget_s=3000, seeds=3))
    trainer.train([("search", winner), ("baseline", BASE)], SEARCH_LIMITS)  # the search's runs, timed
    runs = final(ctx, winner)
    assert not runs.from_search and runs.seeds == [BASE.seed + 1, BASE.seed + 2, BASE.seed + 3]
    assert [r.seed for r in runs.baseline] == runs.seeds, "the baseline on the same fresh seeds"
    assert all(limits.complete for batch in trainer.batches[1:] for _, _, limits in batch), "scored on test"
    assert all(r.test_acc is not None for r in (*runs.best, *runs.baseline))
    again = final(fake_context(tmp_path, BASE, trainer, clock, ImproveSettings(budget_s=3000, seeds=3)), winner)
    assert again.seeds == runs.seeds and again.best == runs.best
    assert trainer.batches[-1] and all(label.split(":")[0] in ("best", BASELINE) for label, _, _ in trainer.batches[-1])


def test_with_no_time_for_a_fresh_pair_the_final_phase_scores_the_search_seed_and_says_so(tmp_path: Path) -> None:
    clock = FakeClock()
    trainer = FakeTrainer(clock, accuracy)
    winner = apply_strategies(BASE, "flip")
    ctx = fake_context(tmp_path, BASE, trainer, clock, ImproveSettings(budget_s=300))
    trainer.train([("search", winner), ("baseline", BASE)], SEARCH_LIMITS)
    clock.advance(200)  # 280 of 300 s gone: a pair takes 80 s
    runs = final(ctx, winner)
    assert runs.from_search and runs.seeds == [BASE.seed]
    assert "no fresh pair fits" in ctx.log.steps[-1].detail


PROBE = apply_overrides(Recipe(), ["model.pretrained=efficientnet_lite0", "model.finetune=linear", "data.size=96"])
CHECK = CheckReport("photos", ["a", "b"],
                    {"train": {"a": 300, "b": 300}, "val": {"a": 100, "b": 100}, "test": {"a": 100, "b": 100}},
                    1.0, {}, train_image_size={"short_side": {"median": 384}})  # fmt: skip


def _probe_search(trainer: FakeTrainer) -> SearchResult:
    """A finished probe search: the baseline probe at its full epochs, trained by the fake trainer."""
    record = trainer.train([(BASELINE, PROBE)], SEARCH_LIMITS).records[BASELINE]
    rung = Rung.scored(HALVING, 1.0, {BASELINE: PROBE.epochs}, {BASELINE: record})
    return SearchResult((rung,), {BASELINE: PROBE}, BASELINE)


def test_a_fine_tune_that_scores_higher_is_kept_and_one_that_scores_lower_is_not(tmp_path: Path) -> None:
    for finetuned_accuracy, kept in ((0.95, True), (0.7, False)):
        clock = FakeClock()
        trainer = FakeTrainer(clock, lambda r, a=finetuned_accuracy: 0.8 if on_features(r) else a)
        ctx = fake_context(tmp_path / str(kept), PROBE, trainer, clock, ImproveSettings(budget_s=3000))
        searched = _probe_search(trainer)
        result = finetune(ctx, searched, CHECK, n_val=200)
        assert result.rung is not None and result.rung.kind == FINE_TUNE
        assert result.recipe is not None and not on_features(result.recipe), "the fine-tune trains the network"
        assert (result.winner == result.name) is kept and result.helped is kept
        assert set(result.rung.val_acc) == {BASELINE, result.name}
        merged = searched.with_finetune(result)
        assert merged.winner == result.winner and merged.rungs[-1] is result.rung


def test_a_fine_tune_that_does_not_fit_is_skipped_and_the_probe_stays(tmp_path: Path) -> None:
    clock = FakeClock()
    trainer = FakeTrainer(clock, lambda r: 0.8 if on_features(r) else 0.95)
    ctx = fake_context(tmp_path, PROBE, trainer, clock, ImproveSettings(budget_s=300))
    searched = _probe_search(trainer)
    clock.advance(295)
    result = finetune(ctx, searched, CHECK, n_val=200)
    assert result.rung is None and result.winner == BASELINE and not result.helped
    assert searched.with_finetune(result) is searched
    assert len(trainer.batches) == 1, "nothing trained after the search"
    assert "skipped" in ctx.log.steps[-1].detail


PROBE_EFFECTS = {"flip": 0.05, "head": 0.02, "label-smoothing": -0.03}
"""True effects on accuracy that a saturated validation split cannot show, and cross-validation can."""


def test_saturated_validation_ranks_the_tied_arms_by_cross_validation_following_the_true_effect(
    tmp_path: Path,
) -> None:
    # issue 33: every arm at 100% on a small validation split; the folds over train and validation differ
    def folds_accuracy(recipe: Recipe) -> float:
        return 0.85 + sum(PROBE_EFFECTS.get(name, 0.0) for name in names(recipe))

    clock = FakeClock()
    trainer = FakeTrainer(clock, lambda recipe: 1.0, fold_accuracy=folds_accuracy)
    ctx = fake_context(tmp_path, PROBE, trainer, clock, ImproveSettings(budget_s=3000))
    arms = {name: apply_strategies(PROBE, name) for name in ("label-smoothing=0.1", "head=mlp", "flip")}
    result = search(ctx, arms, baseline_seconds=80.0, n_val=72, search_end=0.65)
    chosen = result.cross_validation
    # the best arm is listed last: a first cut by list order would have dropped it before cross-validation
    assert chosen is not None and set(chosen.scores) == {BASELINE, *arms}, "every arm tied at the first rung"
    assert len([rung for rung in result.rungs if rung.kind == HALVING]) == 1, "no longer rung on saturation"
    truth = {name: folds_accuracy(result.recipes[name]) for name in chosen.scores}
    assert sorted(chosen.scores, key=lambda n: -chosen.scores[n]) == sorted(truth, key=lambda n: -truth[n])
    assert chosen.winner == result.winner == max(truth, key=lambda n: truth[n])
    assert all(len(scores) == 5 for scores in chosen.per_fold.values())
    assert not [rung for rung in result.rungs if rung.kind == GREEDY], "no greedy step on saturated validation"
    assert any("validation saturated" in step.detail for step in ctx.log.steps)


def test_cross_validation_that_would_not_fit_leaves_the_halvings_winner(tmp_path: Path) -> None:
    clock = FakeClock()
    trainer = FakeTrainer(clock, lambda recipe: 1.0, fold_seconds=500.0)
    ctx = fake_context(tmp_path, PROBE, trainer, clock, ImproveSettings(budget_s=3000))
    arms = {name: apply_strategies(PROBE, name) for name in ("head=mlp", "flip")}
    result = search(ctx, arms, baseline_seconds=80.0, n_val=72, search_end=0.65)
    assert result.cross_validation is None and len(trainer.folds_scored) == 1, "one fold timed, then stopped"
    assert any("cross-validation would need" in step.detail for step in ctx.log.steps)
