"""A run's probabilities on its test split, kept beside its weights so the split is scored once.

`improve` scores its exported model on the test split in the final phase and then evaluates it (business
view, per-class metrics) on the same split: without this file that is a second forward pass over every test
image, 170 s for CIFAR-10's 10,000 images at 224 px on the 2-core development machine, time the fine-tune
can use instead. The file is keyed by content, not by name: the SHA-256 of the decoded test images (the
exact uint8 pixels the network saw, at the run's size, resize and colour) and of the weights file. Any other
images, or weights written since, and the probabilities are computed again, never reused.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from liftlab.io import atomic_write

TEST_PROBABILITIES = "test_probabilities.safetensors"
WEIGHTS = "model.safetensors"


def images_digest(images: torch.Tensor) -> str:
    """SHA-256 of a uint8 image tensor's shape and bytes (the same bytes in another shape are other images, as
    in `train/features.py`'s keys), hashed in place, no copy: 1.5 GB for CIFAR-10's test split at 224 px."""
    digest = hashlib.sha256(repr(tuple(images.shape)).encode())
    digest.update(images.contiguous().numpy().data)
    return digest.hexdigest()


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def keep_test_probabilities(folder: Path, probabilities: torch.Tensor, images: torch.Tensor) -> None:
    """Write `probabilities` (N, classes) of the test `images` beside the run's weights (written before)."""
    tensors = {"probabilities": probabilities.float().contiguous()}
    metadata = {"images_sha256": images_digest(images), "weights_sha256": file_digest(folder / WEIGHTS)}
    atomic_write(folder / TEST_PROBABILITIES, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def forget_test_probabilities(folder: Path) -> None:
    """Remove a run folder's kept probabilities (its weights are being replaced)."""
    (folder / TEST_PROBABILITIES).unlink(missing_ok=True)


def kept_test_probabilities(folder: Path, images: torch.Tensor) -> torch.Tensor | None:
    """The probabilities kept for exactly these `images` and the folder's current weights, else None."""
    path = folder / TEST_PROBABILITIES
    weights = folder / WEIGHTS
    if not path.is_file() or not weights.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as stored:
            metadata = stored.metadata() or {}
            if metadata.get("weights_sha256") != file_digest(weights):
                return None
            if metadata.get("images_sha256") != images_digest(images):
                return None
            probabilities = stored.get_tensor("probabilities")
    except (SafetensorError, OSError, KeyError):
        return None  # unreadable: computed again, as if it were not there
    if probabilities.ndim != 2 or probabilities.shape[0] != images.shape[0]:
        return None
    return probabilities
