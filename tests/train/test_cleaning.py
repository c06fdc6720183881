"""The data remedies on the training split: which images `drop-suspect-labels`, `relabel-suspects` and
`dedupe-splits` leave out or relabel (fake suspects), and on real files, that the suspects come from the
training split alone and a mislabelled image is the one dropped."""

from __future__ import annotations

from pathlib import Path

import torch

from liftlab.config import Recipe, apply_overrides
from liftlab.data.loading import ImageData, ImageSplit, load_data
from liftlab.strategies import apply_strategies
from liftlab.train.cleaning import TrainingSuspects, cleaned, suspects_of
from liftlab.train.loop import fit
from tests.conftest import COLOURS, save_image


def _data(n: int = 10) -> ImageData:
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 3, 4, 4).clone()
    split = ImageSplit(images, torch.tensor([i % 2 for i in range(n)]), [f"img{i}" for i in range(n)])
    return ImageData("fake", ["a", "b"], split, split, None)


SUSPECTS = TrainingSuspects(
    suspicion={f"img{i}": s for i, s in enumerate([0.1, 0.9, 0.2, 0.95, 0.3, 0.0, 0.4, 0.5, 0.6, 0.05])},
    suggested={f"img{i}": (1 - i % 2) if i in (1, 3) else i % 2 for i in range(10)},
    confidence={f"img{i}": 0.95 if i == 3 else 0.7 for i in range(10)},
    copies_of_held_out=("img5", "img8"),
    flagged=("img3", "img8"),
)


def test_no_remedy_leaves_the_data_alone() -> None:
    data = _data()
    assert cleaned(Recipe(), data, suspects=SUSPECTS) == (data, None)


def test_drop_leaves_out_the_most_suspect_share() -> None:
    recipe = apply_strategies(Recipe(), ["drop-suspect-labels=0.2"])
    data, cleaning = cleaned(recipe, _data(), suspects=SUSPECTS)
    assert data.train.names == [f"img{i}" for i in (0, 2, 4, 5, 6, 7, 8, 9)]  # img3 and img1 left out
    assert cleaning is not None and (cleaning.dropped_suspects, cleaning.kept) == (2, 8)
    assert data.val.names == _data().val.names  # the yardstick is never filtered


def test_relabel_changes_only_confident_suggestions_and_drop_then_skips_them() -> None:
    recipe = apply_strategies(Recipe(), ["relabel-suspects=0.9", "drop-suspect-labels=0.1"])
    data, cleaning = cleaned(recipe, _data(), suspects=SUSPECTS)
    assert cleaning is not None and (cleaning.relabelled, cleaning.dropped_suspects) == (1, 1)
    assert "img1" not in data.train.names  # dropped: the most suspect once img3 is relabelled
    assert int(data.train.labels[data.train.names.index("img3")]) == 0  # img3 was labelled 1, suggested 0


def test_drop_label_issues_leaves_out_exactly_the_flagged_images() -> None:
    recipe = apply_strategies(Recipe(), ["drop-label-issues"])
    data, cleaning = cleaned(recipe, _data(), suspects=SUSPECTS)
    assert data.train.names == [f"img{i}" for i in (0, 1, 2, 4, 5, 6, 7, 9)]  # img1 is suspect but not flagged
    assert cleaning is not None and (cleaning.dropped_issues, cleaning.dropped_suspects) == (2, 0)
    both = apply_strategies(Recipe(), ["dedupe-splits", "drop-label-issues"])
    _, counted = cleaned(both, _data(), suspects=SUSPECTS)
    assert counted is not None and (counted.dropped_copies, counted.dropped_issues, counted.kept) == (2, 1, 7)


def test_dedupe_leaves_out_training_copies_of_held_out_images() -> None:
    recipe = apply_strategies(Recipe(), ["dedupe-splits"])
    data, cleaning = cleaned(recipe, _data(), suspects=SUSPECTS)
    assert "img5" not in data.train.names and "img8" not in data.train.names
    assert cleaning is not None and cleaning.dropped_copies == 2


def test_a_mislabelled_file_is_the_one_dropped_and_fit_records_it(tmp_path: Path) -> None:
    root = tmp_path / "colours"
    for name, colour in COLOURS.items():
        for i in range(16):
            save_image(root / "train" / name / f"{i:03d}.png", colour, size=(16, 16), seed=i)
        for i in range(4):
            save_image(root / "test" / name / f"{i:03d}.png", colour, size=(16, 16), seed=200 + i)
    save_image(root / "train" / "blue" / "wrong.png", COLOURS["red"], size=(16, 16), seed=999)
    recipe = apply_overrides(Recipe(), ["data.size=16", "model.width=8", "epochs=1"])
    data = load_data(str(root), recipe.data)
    suspects = suspects_of(str(root), recipe, 16.0)
    assert set(suspects.suspicion) == set(data.train.names)  # the training split alone is ranked
    worst = max(suspects.suspicion, key=suspects.suspicion.__getitem__)
    assert worst.endswith("wrong.png")
    share = 1.0 / len(data.train) + 1e-6
    dropping = apply_strategies(recipe, [f"drop-suspect-labels={share}"])
    result = fit(dropping, data)
    assert result.extra["cleaning"] == {"dropped_suspects": 1, "relabelled": 0, "dropped_copies": 0,
                                        "kept": len(data.train) - 1, "dropped_issues": 0}  # fmt: skip
    assert any(name.endswith("wrong.png") for name in suspects.flagged)  # cleanlab flags it too
