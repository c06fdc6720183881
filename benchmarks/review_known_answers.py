"""The data review's known answers as figures (the tests in tests/diagnose/test_review_known_answers.py assert
their floors): on TrashNet, the share of 5% randomly flipped training labels among the top 10% of suspects and
how often the suggestion is the true class; the share of 100 altered copies of test images (cropped 1-4% a side,
resized by 10-20%, re-encoded) placed in train that are found; the outlier rank of one CIFAR-10 image per class
filed as paper; and on clean CIFAR-10 test images (cifar10-small), the share of images in a near-copy pair.

    python -m benchmarks.review_known_answers [--seeds 3]
"""

from __future__ import annotations

import argparse
import io
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from liftlab.config import DataConfig
from liftlab.data.images import to_array
from liftlab.data.loading import ImageData, ImageSplit, load_every_image
from liftlab.diagnose.review import ReviewOptions, load_for_review, review_data
from liftlab.train import neighbours
from liftlab.train.embedding import Embedder

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets"


def with_train(data: ImageData, images: torch.Tensor, labels: torch.Tensor, names: list[str]) -> ImageData:
    train = ImageSplit(torch.cat([data.train.images, images]), torch.cat([data.train.labels, labels]),
                       data.train.names + names)  # fmt: skip
    return replace(data, train=train)


def flipped_labels(data: ImageData, root: Path, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    labels = data.train.labels.clone()
    flipped = rng.choice(len(labels), int(0.05 * len(labels)), replace=False)
    shift = torch.from_numpy(rng.integers(1, len(data.classes), len(flipped)))
    labels[flipped] = (labels[flipped] + shift) % len(data.classes)
    review = review_data(replace(data, train=ImageSplit(data.train.images, labels, data.train.names)), root,
                         ReviewOptions()).review  # fmt: skip
    scored = sorted((i for i in review.images if i.score is not None), key=lambda i: -(i.score or 0.0))
    top = {image.path for image in scored[: len(scored) // 10]}
    truth = {str(root / data.train.names[i]): data.classes[int(data.train.labels[i])] for i in flipped}
    found = sum(path in top for path in truth) / len(truth)
    right = np.mean([image.suggested_label == truth[image.path] for image in scored if image.path in truth])
    return found, float(right)


def altered(path: Path, rng: random.Random, side: int) -> np.ndarray:
    image = Image.open(path).convert("RGB")
    width, height = image.size
    cuts = [rng.uniform(0.01, 0.04) for _ in range(4)]
    image = image.crop((int(cuts[0] * width), int(cuts[1] * height),
                        width - int(cuts[2] * width), height - int(cuts[3] * height)))  # fmt: skip
    factor = rng.choice([rng.uniform(0.8, 0.9), rng.uniform(1.1, 1.2)])
    image = image.resize((int(image.size[0] * factor), int(image.size[1] * factor)))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=rng.randint(60, 90))
    return to_array(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"), side, "stretch", "rgb")


def copies_found(data: ImageData, root: Path, seed: int) -> float:
    assert data.test is not None
    rng = random.Random(seed)
    chosen = rng.sample(range(len(data.test)), 100)
    side = int(data.train.images.shape[-1])
    copies = torch.from_numpy(np.stack([altered(root / data.test.names[i], rng, side) for i in chosen]))
    names = [f"copies/{i}.jpg" for i in range(len(chosen))]
    review = review_data(with_train(data, copies, data.test.labels[chosen], names), root, ReviewOptions()).review
    pairs = {(p.first, p.second) for p in review.near_copies} | {(p.second, p.first) for p in review.near_copies}
    found = sum((str(root / n), str(root / data.test.names[i])) in pairs for n, i in zip(names, chosen, strict=True))
    return found / len(chosen)


def cifar_outlier_ranks(data: ImageData, root: Path, cifar: Path) -> list[float]:
    side = int(data.train.images.shape[-1])
    files = [
        sorted((cifar / "train" / name).glob("*.jpg"))[0]
        for name in sorted(p.name for p in (cifar / "train").iterdir())
    ]
    images = torch.from_numpy(np.stack([to_array(Image.open(f).convert("RGB"), side, "stretch", "rgb") for f in files]))
    names = [f"cifar/{f.parent.name}.jpg" for f in files]
    paper = torch.full((len(files),), data.classes.index("paper"))
    review = review_data(with_train(data, images, paper, names), root, ReviewOptions()).review
    scored = sorted((i for i in review.images if i.outlier_score is not None), key=lambda i: -(i.outlier_score or 0))
    rank = {image.path: index / len(scored) for index, image in enumerate(scored)}
    return [rank[str(root / name)] for name in names]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    trashnet = SHARED / "trashnet"
    data, root = load_for_review(str(trashnet), ReviewOptions())
    assert root is not None
    for seed in range(args.seeds):
        found, right = flipped_labels(data, root, seed)
        print(
            f"seed {seed}: flipped labels in the top 10% of suspects {found:.1%}; suggestion = true class {right:.1%}"
        )
    for seed in range(args.seeds):
        print(f"seed {seed}: altered copies of test images found {copies_found(data, root, seed):.0%}")
    ranks = cifar_outlier_ranks(data, root, SHARED / "cifar10-small")
    print(f"CIFAR-10 images filed as paper: outlier rank (share of images above) max {max(ranks):.2%}, "
          f"median {float(np.median(ranks)):.2%}")  # fmt: skip
    _, split, _ = load_every_image(str(SHARED / "cifar10-small" / "test"), DataConfig(size=96))
    features = Embedder.for_review(3, 96)(split.images)[0].numpy()
    pairs = neighbours.near_copies(features, neighbours.perceptual_hashes(split.images))
    paired = {p.first for p in pairs} | {p.second for p in pairs}
    print(f"clean CIFAR-10 test images (cifar10-small, {len(split)}): {len(pairs)} near-copy pair(s), "
          f"{len(paired) / len(split):.2%} of the images in one")  # fmt: skip


if __name__ == "__main__":
    main()
