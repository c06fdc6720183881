"""Does `drop-suspect-labels` win back what wrong labels cost? TrashNet with 5% of its training labels flipped to
another class at random, fine-tuned (EfficientNet-Lite0, partial, 128 px, 8 epochs), over several of liftlab's
own splits (`--split-seeds`), each split a labels CSV with a `split` column so that the clean and the flipped
copies share every split:

    clean baseline | flipped baseline | flipped + each remedy of --remedies

The remedy is chosen on validation (the mean over the splits of the share of the validation accuracy won back);
the test figures are printed for every remedy, the chosen one first, with a bootstrap interval over the test images of
every split (stratified by split). `liftlab ablate` trains the runs (one seed each), so a rerun with the same
`--out` resumes. On the 2-core development machine a fine-tune takes about 5 minutes: 3 splits and 4 remedies
are 21 runs, about 2 hours (the clean data also trains drop-suspect-labels=0.1: what the remedy costs where
nothing is wrong).

    python -m benchmarks.label_flip_remedy --split-seeds 1,2,3 --out ~/.cache/liftlab/flip-remedy
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from liftlab.config import DataConfig, Recipe, apply_overrides
from liftlab.data.loading import load_data
from liftlab.experiments.store import RunStore
from liftlab.records import RunRecord

TRASHNET = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "trashnet"
FLIPPED_SHARE = 0.05
FINETUNE = ["data.size=128", "model.pretrained=efficientnet_lite0", "model.finetune=partial", "optim.name=adamw",
            "optim.lr=0.001", "optim.weight_decay=0.05", "optim.batch_size=32", "schedule.name=onecycle",
            "augment.flip=true", "epochs=8"]  # fmt: skip
RESAMPLES = 2000


def labels_csvs(copy: Path, split_seed: int) -> tuple[Path, Path]:
    """clean-sK.csv and noisy-sK.csv in the copy of TrashNet: liftlab's splits for `split_seed`, and in the noisy
    one FLIPPED_SHARE of the training labels moved to another class at random (seed 11 + split_seed)."""
    clean, noisy = copy / f"clean-s{split_seed}.csv", copy / f"noisy-s{split_seed}.csv"
    if clean.is_file() and noisy.is_file():
        return clean, noisy
    data = load_data(str(copy), DataConfig(size=32, split_seed=split_seed))
    rng = np.random.default_rng(11 + split_seed)
    rows = [(name, data.classes[int(label)], split)
            for split, items in (("train", data.train), ("val", data.val), ("test", data.test)) if items is not None
            for name, label in zip(items.names, items.labels, strict=True)]  # fmt: skip
    flipped = set(rng.choice(len(data.train), int(FLIPPED_SHARE * len(data.train)), replace=False).tolist())
    for path, flips in ((clean, set()), (noisy, flipped)):
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["path", "label", "split"])
            for index, (name, label, split) in enumerate(rows):
                if index in flips:
                    moved = data.classes.index(label) + int(rng.integers(1, len(data.classes)))
                    label = data.classes[moved % len(data.classes)]
                writer.writerow([name, label, split])
    return clean, noisy


REMEDIES = "drop-suspect-labels=0.05,drop-suspect-labels=0.1,drop-label-issues,relabel-suspects=0.9"
CLEAN_REMEDY = "drop-suspect-labels=0.1"


def ablate(data: Path, strategies: str, out: Path, recipe: Path) -> dict[tuple[str, ...], RunRecord]:
    """The runs of `liftlab ablate` on labels CSV `data` (named relative to the copy's parent folder, which the run
    keys hold, so that a copy elsewhere with the same name finds the same runs)."""
    command = [sys.executable, "-m", "liftlab", "ablate", f"{data.parent.name}/{data.name}", "--strategies",
               strategies, "--combine", "none", "--seeds", "1", "--recipe", str(recipe.resolve()), "--out",
               str(out.resolve()), "--quiet"]  # fmt: skip
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=data.parent.parent)
    return {tuple(record.strategies): record for record in RunStore.in_folder(out).records().values()}


def correct(record: RunRecord) -> np.ndarray:
    return np.asarray(record.test_predictions) == np.asarray(record.test_labels)


def recovered(clean: np.ndarray, noisy: np.ndarray, dropped: np.ndarray) -> float:
    """Share of the accuracy the flips cost that the remedy won back."""
    cost = clean.mean() - noisy.mean()
    return float((dropped.mean() - noisy.mean()) / cost) if cost > 0 else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split-seeds", default="1,2,3")
    parser.add_argument("--remedies", default=REMEDIES)
    parser.add_argument("--clean-remedy", default=CLEAN_REMEDY, help="the remedy also trained on the clean labels")
    parser.add_argument("--out", type=Path, default=Path.home() / ".cache" / "liftlab" / "flip-remedy")
    parser.add_argument("--data-copy", type=Path, help="the copy of TrashNet to use (default: OUT/trashnet)")
    args = parser.parse_args()
    split_seeds = [int(s) for s in args.split_seeds.split(",")]
    copy = args.data_copy or args.out / "trashnet"
    if not copy.is_dir():
        shutil.copytree(TRASHNET, copy)  # the labels CSVs must sit beside the images
    recipe = args.out / "finetune.yaml"
    recipe.write_text(apply_overrides(Recipe(), FINETUNE).to_yaml())
    arms = {remedy: (remedy,) for remedy in args.remedies.split(",")}
    val: dict[str, list[float]] = {name: [] for name in ("clean", "noisy", *arms)}
    test: dict[str, list[np.ndarray]] = {name: [] for name in val}
    for seed in split_seeds:
        clean_csv, noisy_csv = labels_csvs(copy, seed)
        noisy = ablate(noisy_csv, args.remedies, args.out / f"noisy-s{seed}", recipe)
        clean = ablate(clean_csv, args.clean_remedy, args.out / f"clean-s{seed}", recipe)
        runs = {"clean": clean[()], "noisy": noisy[()]} | {name: noisy[strategy] for name, strategy in arms.items()}
        for name, record in runs.items():
            val[name].append(float(record.val_acc or 0.0))
            test[name].append(correct(record))
        print(f"split seed {seed}: validation " + ", ".join(f"{n} {v[-1]:.2%}" for n, v in val.items()))
    won_back = {name: float(np.mean([(val[name][i] - val["noisy"][i]) / max(val["clean"][i] - val["noisy"][i], 1e-9)
                                     for i in range(len(split_seeds))])) for name in arms}  # fmt: skip
    chosen = max(arms, key=lambda name: won_back[name])
    print("validation, mean share won back: " + ", ".join(f"{n} {w:.0%}" for n, w in won_back.items())
          + f"; chosen on validation: {chosen}")  # fmt: skip
    rng = np.random.default_rng(0)
    pooled = {name: np.concatenate(parts) for name, parts in test.items()}
    sizes = [len(part) for part in test["clean"]]
    starts = np.cumsum([0, *sizes[:-1]])
    for name in sorted(arms, key=lambda n: n != chosen):
        lifts, shares_won = [], []
        for _ in range(RESAMPLES):  # test images resampled within each split, the same images for every arm
            parts = [start + rng.integers(0, size, size) for start, size in zip(starts, sizes, strict=True)]
            picks = np.concatenate(parts)
            clean, noisy, dropped = (pooled[arm][picks] for arm in ("clean", "noisy", name))
            lifts.append(dropped.mean() - noisy.mean())
            shares_won.append(recovered(clean, noisy, dropped))
        lift_low, lift_high = np.percentile(lifts, [2.5, 97.5])
        low, high = np.nanpercentile(shares_won, [2.5, 97.5])
        lift = pooled[name].mean() - pooled["noisy"].mean()
        won = recovered(pooled["clean"], pooled["noisy"], pooled[name])
        print(
            f"test ({sum(sizes)} images over {len(sizes)} splits): clean {pooled['clean'].mean():.2%}, flipped "
            f"{pooled['noisy'].mean():.2%}, {name} {pooled[name].mean():.2%}: lift {lift:+.2%} (95% interval "
            f"{lift_low:+.2%} to {lift_high:+.2%}); won back {won:.0%}"
            f" of the cost (95% interval {low:.0%} to {high:.0%})"
            + (" [chosen on validation]" if name == chosen else "")
        )


if __name__ == "__main__":
    main()
