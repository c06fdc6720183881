"""How a liftlab model holds up off its test set: common corruptions at five severities, and other data.

Accuracy on one test set does not carry over to other cameras, lighting or compression; these checks show
how fast it falls. Severities follow the spirit of CIFAR-10-C (Hendrycks & Dietterich, 2019), with blur
and pixelation scaled to the image size so a severity means the same at 32 and at 224 pixels.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF
from PIL import Image

from liftlab.data.loading import ImageSplit, load_every_image
from liftlab.errors import BadInputError
from liftlab.evaluate.metrics import summarise
from liftlab.evaluate.predictions_csv import Predictions
from liftlab.records.evaluation import ClassMatch, CorruptionCurves, ShiftedData, UnusableFile
from liftlab.train.saved import Predictor

SEVERITIES = (1, 2, 3, 4, 5)
NOISE_STD = (0.04, 0.06, 0.08, 0.09, 0.10)
BLUR_SIGMA_PER_32PX = (0.4, 0.6, 0.7, 0.8, 1.0)
BRIGHTNESS_SHIFT = (0.05, 0.1, 0.15, 0.2, 0.3)
CONTRAST_FACTOR = (0.75, 0.5, 0.4, 0.3, 0.15)
JPEG_QUALITY = (80, 65, 58, 50, 40)
PIXELATE_SCALE = (0.95, 0.9, 0.85, 0.75, 0.65)


def _float(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 255.0


def _uint8(images: torch.Tensor) -> torch.Tensor:
    return (images.clamp(0, 1) * 255.0).round().to(torch.uint8)


def gaussian_noise(images: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    noise = torch.randn(images.shape, generator=generator) * NOISE_STD[severity - 1]
    return _uint8(_float(images) + noise)


def blur(images: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    sigma = BLUR_SIGMA_PER_32PX[severity - 1] * images.shape[-1] / 32
    kernel = 2 * int(np.ceil(3 * sigma)) + 1
    return TF.gaussian_blur(images, kernel_size=[kernel, kernel], sigma=[sigma, sigma])


def brightness(images: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    return _uint8(_float(images) + BRIGHTNESS_SHIFT[severity - 1])


def contrast(images: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    x = _float(images)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return _uint8((x - mean) * CONTRAST_FACTOR[severity - 1] + mean)


def jpeg(images: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    # Pillow, not torchvision.io: torchvision 0.29 deprecates its image codecs.
    pixels = images.permute(0, 2, 3, 1).numpy()
    out = []
    for image in pixels:
        buffer = io.BytesIO()
        Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).save(
            buffer, format="JPEG", quality=JPEG_QUALITY[severity - 1]
        )
        decoded = np.asarray(Image.open(buffer))
        out.append(decoded[..., None] if decoded.ndim == 2 else decoded)
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous()


def pixelate(images: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    size = images.shape[-1]
    small = max(1, int(size * PIXELATE_SCALE[severity - 1]))
    down = F.interpolate(_float(images), size=(small, small), mode="area")
    return _uint8(F.interpolate(down, size=(size, size), mode="nearest"))


Corruption = Callable[[torch.Tensor, int, torch.Generator], torch.Tensor]
CORRUPTIONS: dict[str, Corruption] = {
    "gaussian_noise": gaussian_noise,
    "blur": blur,
    "brightness": brightness,
    "contrast": contrast,
    "jpeg": jpeg,
    "pixelate": pixelate,
}


def corrupt(images: torch.Tensor, name: str, severity: int, seed: int = 0) -> torch.Tensor:
    """`images` (N, C, H, W uint8) under corruption `name` at `severity` 1-5, reproducibly for `seed`."""
    if name not in CORRUPTIONS:
        raise BadInputError(f"corruption {name!r}: expected one of {sorted(CORRUPTIONS)}")
    if severity not in SEVERITIES:
        raise BadInputError(f"corruption severity: expected 1 to 5, found {severity}")
    return CORRUPTIONS[name](images, severity, torch.Generator().manual_seed(seed))


def _accuracy(trained: Predictor, split: ImageSplit) -> float:
    return float((trained.probabilities(split.images).argmax(1) == split.labels).float().mean())


def corruption_accuracy(
    trained: Predictor, split: ImageSplit, names: tuple[str, ...] = tuple(CORRUPTIONS), seed: int = 0
) -> CorruptionCurves:
    """Accuracy on `split` clean and under each corruption at each severity."""
    curves = {
        name: tuple(
            _accuracy(trained, ImageSplit(corrupt(split.images, name, s, seed), split.labels, split.names))
            for s in SEVERITIES
        )
        for name in names
    }
    all_corrupted = [a for values in curves.values() for a in values]
    mean = float(np.mean(all_corrupted)) if all_corrupted else None
    return CorruptionCurves(_accuracy(trained, split), tuple(SEVERITIES), curves, mean)


def mapped_split(model_classes: list[str], data_classes: list[str], split: ImageSplit) -> ImageSplit:
    """`split` with labels re-mapped by class name onto the model's classes (classes.json is the truth).

    Items of classes the model does not know are dropped here; `match_classes` reports them.
    """
    mapping = {i: model_classes.index(name) for i, name in enumerate(data_classes) if name in model_classes}
    keep = [i for i, label in enumerate(split.labels.tolist()) if label in mapping]
    labels = torch.tensor([mapping[int(split.labels[i])] for i in keep], dtype=torch.int64)
    return ImageSplit(split.images[keep], labels, [split.names[i] for i in keep])


def predictions_on(
    trained: Predictor, split: ImageSplit, source: str, probabilities: torch.Tensor | None = None
) -> Predictions:
    """The model's predictions on a split whose labels index the model's classes (from `probabilities`, the
    model's on exactly these images, when given)."""
    if probabilities is None and len(split):
        probabilities = trained.probabilities(split.images)
    proba = probabilities.double().numpy() if probabilities is not None else np.zeros((0, len(trained.classes)))
    # Renormalise in float64: bf16 inference leaves rows a little off 1, which the CSV reader would refuse.
    proba = proba / proba.sum(axis=1, keepdims=True).clip(min=1e-12)
    return Predictions(
        classes=list(trained.classes),
        y_true=split.labels.numpy().astype(np.int64),
        y_pred=proba.argmax(axis=1).astype(np.int64),
        proba=proba,
        ids=list(split.names),
        source=source,
    )


def match_classes(model_classes: list[str], data_classes: list[str], labels: torch.Tensor) -> ClassMatch:
    """Which of the model's classes the data lacks, and which data classes (and items) the model cannot score."""
    counts = torch.bincount(labels, minlength=len(data_classes)).tolist()
    extra = tuple(c for c in data_classes if c not in model_classes)
    missing = tuple(c for c in model_classes if c not in data_classes)
    return ClassMatch(missing, extra, sum(counts[data_classes.index(c)] for c in extra))


def shifted_data(
    trained: Predictor, spec: str, resamples: int = 1000, seed: int = 0, quiet: bool = True
) -> ShiftedData:
    """Accuracy (with its 95% interval) of the model on every image of another data set with the same class names."""
    data_classes, split, skipped = load_every_image(spec, trained.recipe.data, quiet=quiet)
    matching = match_classes(trained.classes, data_classes, split.labels)
    if not set(data_classes) & set(trained.classes):
        raise BadInputError(
            f"--shift-data {spec}: none of its classes {data_classes} is a class of the model {trained.classes}"
        )
    if split.images.shape[1] != trained.channels:
        raise BadInputError(
            f"--shift-data {spec}: {split.images.shape[1]} channels, the model expects {trained.channels}"
        )
    predictions = predictions_on(trained, mapped_split(trained.classes, data_classes, split), spec)
    accuracy = summarise(predictions, resamples, seed).accuracy if len(predictions) else None
    unusable = tuple(UnusableFile(b.path, b.reason) for b in skipped)
    return ShiftedData(spec, len(predictions), accuracy, unusable, matching)
