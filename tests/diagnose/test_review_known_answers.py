"""The data review's known answers on real photos (../shared/datasets/trashnet): flipped labels rank among the
top suspects, re-encoded, resized and cropped copies of test images placed in train are found, CIFAR-10 images
placed in a TrashNet class rank among the outliers, and clean CIFAR-10 test images are rarely paired."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from benchmarks.review_known_answers import altered, with_train
from liftlab.config import DataConfig
from liftlab.data.images import to_array
from liftlab.data.loading import ImageData, ImageSplit, load_every_image
from liftlab.diagnose.review import ReviewOptions, load_for_review, review_data
from liftlab.train import neighbours
from liftlab.train.embedding import Embedder
from tests.conftest import SHARED_DATASETS

TRASHNET = SHARED_DATASETS / "trashnet"


@pytest.fixture(scope="module")
def trashnet() -> tuple[ImageData, Path]:
    if not TRASHNET.is_dir():
        pytest.fail(f"{TRASHNET} is missing: the tests need ../shared/datasets beside the repository")
    data, root = load_for_review(str(TRASHNET), ReviewOptions())
    assert root is not None
    return data, root


def test_flipped_labels_rank_among_the_top_tenth_of_suspects(trashnet: tuple[ImageData, Path]) -> None:
    data, root = trashnet
    rng = np.random.default_rng(7)
    labels = data.train.labels.clone()
    flipped = rng.choice(len(labels), int(0.05 * len(labels)), replace=False)
    labels[flipped] = (labels[flipped] + torch.from_numpy(rng.integers(1, len(data.classes), len(flipped)))) % len(
        data.classes
    )
    noisy = replace(data, train=ImageSplit(data.train.images, labels, data.train.names))
    review = review_data(noisy, root, ReviewOptions()).review
    scored = [image for image in review.images if image.score is not None]
    top = {image.path for image in sorted(scored, key=lambda image: -(image.score or 0))[: len(scored) // 10]}
    flipped_paths = {str(root / data.train.names[i]) for i in flipped}
    found = len(flipped_paths & top) / len(flipped_paths)
    assert found >= 0.7, f"{found:.0%} of {len(flipped_paths)} flipped labels in the top 10% of suspects"
    # the suggestion is the true class for most of them
    truth = {str(root / data.train.names[i]): data.classes[int(data.train.labels[i])] for i in flipped}
    suggested = [image.suggested_label == truth[image.path] for image in scored if image.path in flipped_paths]
    assert np.mean(suggested) >= 0.7
    # the test split is not scored
    assert all(
        image.score is None and image.suggested_label is None for image in review.images if image.split == "test"
    )


def test_altered_copies_of_test_images_placed_in_train_are_found(trashnet: tuple[ImageData, Path]) -> None:
    data, root = trashnet
    assert data.test is not None
    rng = random.Random(3)
    chosen = rng.sample(range(len(data.test)), 100)
    side = int(data.train.images.shape[-1])
    copies = torch.from_numpy(np.stack([altered(root / data.test.names[i], rng, side) for i in chosen]))
    names = [f"copies/{i}.jpg" for i in range(len(chosen))]
    review = review_data(with_train(data, copies, data.test.labels[chosen], names), root, ReviewOptions()).review
    pairs = {(pair.first, pair.second) for pair in review.near_copies} | {
        (pair.second, pair.first) for pair in review.near_copies
    }
    found = sum(
        (str(root / name), str(root / data.test.names[i])) in pairs for name, i in zip(names, chosen, strict=True)
    )
    assert found >= 90, f"{found} of 100 altered copies found"
    assert len(review.leaking_pairs) >= found


def test_cifar_images_placed_in_a_trashnet_class_rank_among_the_outliers(
    trashnet: tuple[ImageData, Path], cifar_small: Path
) -> None:
    data, root = trashnet
    side = int(data.train.images.shape[-1])
    files = [
        sorted((cifar_small / "train" / name).glob("*.jpg"))[0]
        for name in sorted(p.name for p in (cifar_small / "train").iterdir())
    ]
    cifar = torch.from_numpy(np.stack([to_array(Image.open(f).convert("RGB"), side, "stretch", "rgb") for f in files]))
    paper = data.classes.index("paper")
    names = [f"cifar/{f.parent.name}.jpg" for f in files]
    review = review_data(with_train(data, cifar, torch.full((len(files),), paper), names), root, ReviewOptions())
    scored = sorted(
        (i for i in review.review.images if i.outlier_score is not None), key=lambda i: -(i.outlier_score or 0)
    )
    top = {image.path for image in scored[: len(scored) // 20]}
    ranked = sum(str(root / name) in top for name in names)
    assert ranked == len(names), f"{ranked} of {len(names)} CIFAR-10 images in the top 5% of outlier scores"


def test_clean_cifar_test_images_are_rarely_paired(cifar_small: Path) -> None:
    _, split, _ = load_every_image(str(cifar_small / "test"), DataConfig(size=96))
    features = Embedder.for_review(3, 96)(split.images)[0].numpy()
    pairs = neighbours.near_copies(features, neighbours.perceptual_hashes(split.images))
    paired = {pair.first for pair in pairs} | {pair.second for pair in pairs}
    assert len(paired) / len(split) < 0.01, f"{len(paired)} of {len(split)} images in a near-copy pair"


def test_predict_flags_cifar_images_among_trashnet_test_photos(
    trashnet: tuple[ImageData, Path], cifar_small: Path, tmp_path: Path
) -> None:
    import csv
    import shutil

    from typer.testing import CliRunner

    from liftlab.cli import app

    data, root = trashnet
    assert data.test is not None
    runner = CliRunner()
    probe = ["--set", "model.pretrained=efficientnet_lite0", "--set", "model.finetune=linear", "--set", "data.size=224",
             "--set", "optim.name=adamw", "--set", "optim.lr=0.001", "--epochs", "3"]  # fmt: skip
    trained = runner.invoke(app, ["train", str(TRASHNET), *probe, "--out", str(tmp_path / "run"), "--quiet"])
    assert trained.exit_code == 0, trained.output
    mixed = tmp_path / "mixed"
    for name in data.test.names:
        (mixed / "photos" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / name, mixed / "photos" / name)
    cifar = sorted((cifar_small / "test").glob("*/*.jpg"))[::10][:100]
    (mixed / "cifar").mkdir()
    for index, path in enumerate(cifar):
        shutil.copy(path, mixed / "cifar" / f"{index:03d}.jpg")
    out = tmp_path / "predictions.csv"
    result = runner.invoke(app, ["predict", str(tmp_path / "run"), str(mixed), "--csv", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    photos = [row["unfamiliar"] == "1" for row in rows if "/photos/" in row["id"]]
    others = [row["unfamiliar"] == "1" for row in rows if "/cifar/" in row["id"]]
    assert len(photos) == len(data.test) and len(others) == 100
    assert np.mean(others) >= 0.9, f"{sum(others)} of 100 CIFAR-10 images flagged"
    assert np.mean(photos) <= 0.02, f"{sum(photos)} of {len(photos)} TrashNet test photos flagged"
    assert (tmp_path / "run" / "familiarity.safetensors").is_file()  # computed once, kept with the model
