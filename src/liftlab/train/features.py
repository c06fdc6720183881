"""Pooled features of a frozen backbone: each image goes through it once per view, and the result is cached
by content (backbone, precision, and the decoded image's bytes at the run's size), so a rerun, another head,
another seed or a subset of the same images costs no forward pass at all.

A view is one of the test-time-augmentation views of `train.inference.tta_views`: view 0 is the image,
view 1 its mirror (what a random flip shows in training), views 2-5 the shifted ones that TTA also averages.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from liftlab.io import atomic_write
from liftlab.progress import make_progress
from liftlab.train.inference import tta_views

FEATURE_BATCH = 32
"""Images per forward pass. 32 at 224 px keeps activations near 1 GiB; larger batches were no faster on a
2-core CPU (EfficientNet-Lite0, bf16: 105 img/s at 32)."""


def image_digests(images: torch.Tensor) -> list[str]:
    """A content key per decoded image: its shape and bytes."""
    return [hashlib.sha1(repr(tuple(image.shape)).encode() + image.numpy().tobytes()).hexdigest() for image in images]


def pooled(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """The pooled, pre-classifier features of a timm backbone (what its classifier sees)."""
    return model.forward_head(model.forward_features(inputs), pre_logits=True)  # type: ignore[operator]


@dataclass
class FeatureCache:
    """Shards of (content key, view) -> feature vector under one folder per backbone and precision."""

    folder: Path
    _known: dict[str, torch.Tensor] = field(default_factory=dict)
    _loaded: bool = False

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for shard in sorted(self.folder.glob("*.safetensors")):
            try:
                with safe_open(str(shard), framework="pt") as handle:
                    keys = json.loads((handle.metadata() or {})["keys"])
                    rows = handle.get_tensor("features")
            except (OSError, ValueError, KeyError, SafetensorError):
                shard.unlink(missing_ok=True)  # an unreadable shard is recomputed, never trusted
                continue
            self._known.update(zip(keys, rows, strict=True))

    def get(self, keys: list[str]) -> dict[str, torch.Tensor]:
        self._load()
        return {key: self._known[key] for key in keys if key in self._known}

    def put(self, keys: list[str], rows: torch.Tensor) -> None:
        if not keys:
            return
        self._known.update(zip(keys, rows, strict=True))
        name = hashlib.sha1("\n".join(keys).encode()).hexdigest()[:20]
        tensors = {"features": rows.float().contiguous()}
        atomic_write(
            self.folder / f"{name}.safetensors",
            lambda tmp: save_file(tensors, str(tmp), metadata={"keys": json.dumps(keys)}),
        )


@dataclass
class ExtractionRecord:
    """What one call to `extract` cost: forward passes made now, rows found in the cache, seconds."""

    computed: int = 0
    reused: int = 0
    seconds: float = 0.0


def extract(
    model: nn.Module,
    images: torch.Tensor,
    views: int,
    prepare: Callable[[torch.Tensor], torch.Tensor],
    dtype: torch.dtype,
    cache: FeatureCache,
    record: ExtractionRecord,
    *,
    quiet: bool = True,
    label: str = "features",
) -> torch.Tensor:
    """(views, N, D) pooled features of uint8 `images`, from the cache where known, else computed in eval mode.

    `prepare` turns a uint8 batch into the backbone's input (normalisation, layout, channels); the forward
    passes run under autocast to `dtype` (the precision measured fastest for this backbone here).
    """
    started = time.perf_counter()
    digests = image_digests(images)
    keys = [[f"{digest}/v{view}" for digest in digests] for view in range(views)]
    known = cache.get([key for view_keys in keys for key in view_keys])
    missing = [i for i, digest in enumerate(digests) if any(keys[v][i] not in known for v in range(views))]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    with torch.no_grad(), make_progress(quiet) as progress:
        task = progress.add_task(label, total=len(missing), info="images")
        for start in range(0, len(missing), FEATURE_BATCH):
            chunk = missing[start : start + FEATURE_BATCH]
            batch = images[chunk].to(device)
            new_keys: list[str] = []
            rows: list[torch.Tensor] = []
            for view, (shown, _) in enumerate(tta_views(batch)[:views]):
                with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
                    rows.append(pooled(model, prepare(shown)).float().cpu())
                new_keys += [keys[view][i] for i in chunk]
            cache.put(new_keys, torch.cat(rows))
            known.update(zip(new_keys, torch.cat(rows), strict=True))
            progress.advance(task, len(chunk))
    model.train(was_training)
    record.computed += len(missing) * views
    record.reused += (len(digests) - len(missing)) * views
    record.seconds += time.perf_counter() - started
    if not digests:
        return torch.zeros((views, 0, 0))
    return torch.stack([torch.stack([known[key] for key in view_keys]) for view_keys in keys])
