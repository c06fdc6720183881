"""Two fresh seeds of the winner buy an ensemble: the average of the two networks' probabilities; a probe of
another backbone, already trained in the search, joins it when it adds more than its noise.

When the final phase trained the winner on two fresh seeds that both finished their schedules, both networks
predict the validation split (the split the search chose on; the test split decides nothing) and the average
of their probabilities is compared with the first network alone, the model best/ holds otherwise. best/ holds
the ensemble (`ensemble.json` beside the first network, the second in `members/SEED/`) only when it scores
higher there; either way the comparison and the cost per image (one forward pass per member) are recorded.

Then the best probe of another backbone than the exported model's (its features differ, so its mistakes
may too) is tried as one more member, averaged with equal weight; it joins only when the validation images it
fixes outnumber those it breaks by more than NOISE_Z standard errors (`adds_beyond_noise`), since a member
chosen on a tie would cost a forward pass an image and promise nothing.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from liftlab.config import Recipe
from liftlab.data.loading import load_data
from liftlab.records import EnsembleChoice, ProbeMemberChoice, RunRecord
from liftlab.records.search import Rung
from liftlab.train.probe import on_features
from liftlab.train.saved import ENSEMBLE, Ensemble, Predictor, at_size, load_model, load_trained

MEMBERS = 2  # the default --seeds: the fresh seeds the final phase trains when they fit
NOISE_Z = 2.0
"""A probe joins when (fixed - broken) / sqrt(fixed + broken) exceeds this, McNemar's statistic on the
validation images whose verdict the member changes: under no effect (each change equally likely to fix or
break) one-sided about 2.3% of tries add a member that does not help (`test_ensemble`'s simulation)."""
PROBE_MEMBERS = "members/probe"


def ensemble_wins(single_correct: torch.Tensor, ensemble_correct: torch.Tensor) -> bool:
    """Whether the ensemble scores higher than one network on the same validation images. Choosing one of two
    models, the higher score is the better bet (as `finetune_plan.keeps_finetune`); a tie keeps one network, at
    half the cost.

    >>> ensemble_wins(torch.tensor([1, 1, 0, 0]), torch.tensor([1, 1, 1, 0]))
    True
    >>> ensemble_wins(torch.tensor([1, 1, 0, 0]), torch.tensor([1, 0, 1, 0]))
    False
    """
    return int(ensemble_correct.sum()) > int(single_correct.sum())


def members_of(best_runs: list[RunRecord]) -> list[RunRecord]:
    """The winner's final runs that finished their schedules, first MEMBERS of them (fewer: no ensemble).

    >>> cut = RunRecord("a", 1, (), 0.5, 0.5, (), 1.0, stopped_by_time=2)
    >>> [r.key for r in members_of([cut, RunRecord("b", 2, (), 0.9, 0.9, (), 1.0)])]
    []
    """
    finished = [run for run in best_runs if not run.stopped_by_time and not run.stopped_reason]
    return finished[:MEMBERS] if len(finished) >= MEMBERS else []


def _timed_probabilities(model: Predictor, images: torch.Tensor) -> tuple[torch.Tensor, float]:
    started = time.perf_counter()
    probabilities = model.probabilities(images)
    return probabilities, (time.perf_counter() - started) / max(len(images), 1)


def choose_ensemble(spec: str, folders: list[Path], seeds: list[int], skip_bad: bool = False) -> EnsembleChoice:
    """Score the members in `folders` (trained on `seeds`) and their average on the validation split."""
    members = [load_trained(folder) for folder in folders]
    data = load_data(spec, members[0].recipe.data, skip_bad=skip_bad)
    labels = data.val.labels
    scored = [_timed_probabilities(member, data.val.images) for member in members]
    single_correct = scored[0][0].argmax(1) == labels
    ensemble_correct = torch.stack([p for p, _ in scored]).mean(0).argmax(1) == labels
    count = max(len(labels), 1)
    return EnsembleChoice(
        seeds=tuple(seeds),
        val_acc=float(ensemble_correct.sum()) / count,
        single_val_acc=float(single_correct.sum()) / count,
        ms_per_image=1000 * sum(seconds for _, seconds in scored),
        single_ms_per_image=1000 * scored[0][1],
        exported=ensemble_wins(single_correct, ensemble_correct),
    )


def export_ensemble(best: Path, others: list[Path], seeds: list[int], choice: EnsembleChoice) -> None:
    """best/ (the first member's run folder, already there) gains the other members and `ensemble.json`."""
    members = ["."]
    for folder, seed in zip(others, seeds[1:], strict=True):
        target = best / "members" / str(seed)
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(folder, target)
        members.append(f"members/{seed}")
    record = {"members": members, "averages": "probabilities", "chosen_on": "validation split"} | choice.to_json()
    (best / ENSEMBLE).write_text(json.dumps(record, indent=2) + "\n")


def ensemble_detail(choice: EnsembleChoice) -> str:
    """The improve step's words for the choice."""
    seeds = " and ".join(map(str, choice.seeds))
    outcome = (
        "exported to best/"
        if choice.exported
        else "one network kept in best/ (the average does not score higher, at more cost)"
    )
    return (
        f"average of the networks of seeds {seeds}: val {choice.val_acc:.4f} against {choice.single_val_acc:.4f} "
        f"for seed {choice.seeds[0]} alone; {choice.ms_per_image:.1f} ms an image against "
        f"{choice.single_ms_per_image:.1f} ms: {outcome}"
    )


def adds_beyond_noise(without: torch.Tensor, with_member: torch.Tensor) -> bool:
    """Whether a member raises validation accuracy by more than its noise: the images it fixes outnumber those
    it breaks by more than NOISE_Z standard errors of that difference (sqrt of the changed images).

    >>> adds_beyond_noise(torch.tensor([0] * 10 + [1] * 10), torch.tensor([1] * 20))
    True
    >>> adds_beyond_noise(torch.tensor([0, 0, 1, 1]), torch.tensor([1, 1, 0, 1]))
    False
    """
    fixed = int((with_member.bool() & ~without.bool()).sum())
    broken = int((~with_member.bool() & without.bool()).sum())
    changed = fixed + broken
    return changed > 0 and (fixed - broken) / math.sqrt(changed) > NOISE_Z


def choose_probe_member(
    spec: str, best: Path, probe_folder: Path, arm: str, skip_bad: bool = False
) -> ProbeMemberChoice | None:
    """Score best/ with and without the probe in `probe_folder` on the validation split, the probe seeing the
    images best/ decodes, resized to its own size (as the exported ensemble would). None when the probe
    cannot share best/'s images (other classes, colour or resize policy)."""
    current = load_model(best)
    probe = load_trained(probe_folder)
    members = current.members if isinstance(current, Ensemble) else (current,)
    if probe.sees != members[0].sees:
        return None
    data = load_data(spec, current.recipe.data, skip_bad=skip_bad)
    labels = data.val.labels
    without, _ = _timed_probabilities(current, data.val.images)
    # best/'s average and the probe's probabilities, weighted as `Ensemble` weighs k + 1 members: the members'
    # forward passes are not run a second time
    probe_probabilities, probe_seconds = _timed_probabilities(probe, at_size(data.val.images, probe.recipe.data.size))
    with_member = (without * len(members) + probe_probabilities) / (len(members) + 1)
    without_correct = without.argmax(1) == labels
    with_correct = with_member.argmax(1) == labels
    count = max(len(labels), 1)
    return ProbeMemberChoice(
        arm=arm,
        backbone=str(probe.recipe.model.pretrained),
        size=probe.recipe.data.size,
        val_acc=float(with_correct.sum()) / count,
        without_val_acc=float(without_correct.sum()) / count,
        fixed=int((with_correct & ~without_correct).sum()),
        broken=int((~with_correct & without_correct).sum()),
        ms_per_image=1000 * probe_seconds,
        added=adds_beyond_noise(without_correct, with_correct),
    )


def export_probe_member(best: Path, probe_folder: Path, choice: ProbeMemberChoice) -> None:
    """best/ gains the probe in `members/probe/` and an `ensemble.json` that lists it last (best/ held one
    network or the seeds' ensemble)."""
    path = best / ENSEMBLE
    record = json.loads(path.read_text()) if path.is_file() else {"members": ["."], "averages": "probabilities",
                                                                  "chosen_on": "validation split"}  # fmt: skip
    target = best / PROBE_MEMBERS
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(probe_folder, target)
    record["members"] = [*record["members"], PROBE_MEMBERS]
    record["probe_member"] = choice.to_json()
    path.write_text(json.dumps(record, indent=2) + "\n")


def probe_member_detail(choice: ProbeMemberChoice) -> str:
    """The improve step's words for the probe member's choice."""
    outcome = "added to best/" if choice.added else "not added (no gain beyond its noise)"
    return (
        f"probe {choice.arm} ({choice.backbone} at {choice.size} px) as one more member: val {choice.val_acc:.4f} "
        f"against {choice.without_val_acc:.4f} without it ({choice.fixed} image(s) fixed, {choice.broken} broken); "
        f"{choice.ms_per_image:.1f} ms an image more: {outcome}"
    )


def probe_candidate(
    rungs: Sequence[Rung], recipes: Mapping[str, Recipe], backbone: str | None
) -> tuple[str, Rung] | None:
    """The search's probe of another backbone than `backbone` with the best validation accuracy at any rung,
    and that rung; None when the search trained no such probe.

    >>> from liftlab.config import ModelConfig
    >>> from liftlab.records.search import HALVING
    >>> lite = lambda name: Recipe(model=ModelConfig(pretrained=name, finetune="linear"))
    >>> rungs = [Rung(HALVING, 0.5, {}, {"baseline": 0.8, "lite1": 0.82, "lite2": 0.85}),
    ...          Rung(HALVING, 1.0, {}, {"lite1": 0.86})]
    >>> recipes = {"baseline": lite("efficientnet_lite0"), "lite1": lite("efficientnet_lite1"),
    ...            "lite2": lite("efficientnet_lite2")}
    >>> name, rung = probe_candidate(rungs, recipes, "efficientnet_lite0"); name, rung is rungs[1]
    ('lite1', True)
    """
    scored = [
        (accuracy, name, rung)
        for rung in rungs
        for name, accuracy in rung.val_acc.items()
        if accuracy is not None
        and name in recipes
        and on_features(recipes[name])
        and recipes[name].model.pretrained not in (None, backbone)
    ]
    if not scored:
        return None
    _, name, rung = max(scored, key=lambda item: item[0])
    return name, rung
