"""Two fresh seeds of the winner buy an ensemble: the average of the two networks' probabilities.

When the final phase trained the winner on two fresh seeds that both finished their schedules, both networks
predict the validation split (the split the search chose on; the test split decides nothing) and the average
of their probabilities is compared with the first network alone, the model best/ holds otherwise. best/ holds
the ensemble (`ensemble.json` beside the first network, the second in `members/SEED/`) only when it scores
higher there; either way the comparison and the cost per image (one forward pass per member) are recorded.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import torch

from liftlab.data.loading import load_data
from liftlab.records import EnsembleChoice, RunRecord
from liftlab.train.saved import ENSEMBLE, TrainedModel, load_trained

MEMBERS = 2  # the default --seeds: the fresh seeds the final phase trains when they fit


def ensemble_wins(single_correct: torch.Tensor, ensemble_correct: torch.Tensor) -> bool:
    """Whether the ensemble scores higher than one network on the same validation images. Choosing one of two
    models, the higher score is the better bet (as `transfer.keeps_finetune`); a tie keeps one network, at
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


def _timed_probabilities(model: TrainedModel, images: torch.Tensor) -> tuple[torch.Tensor, float]:
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
