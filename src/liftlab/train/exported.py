"""An exported file (`liftlab export`) loaded back as a predictor: ONNX through ONNX Runtime, TorchScript
through torch.jit, with the decoding and the classes its `liftlab.json` records. `liftlab predict` takes one
as it takes a run folder, so a user can check the file gives the classes the run gives."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from liftlab.errors import BadInputError
from liftlab.train.export import FORMATS, METADATA, ExportRecord, needs_onnx

BATCH = 64
"""Images per call of the exported file: bounds its activations' memory (the batch dimension is free)."""

Runner = Callable[[torch.Tensor], torch.Tensor]


def format_of(path: Path) -> str | None:
    """The export format a file name says ("onnx", "torchscript"), or None for anything else (a run folder).

    >>> format_of(Path("best.onnx")), format_of(Path("model.pt")), format_of(Path("runs/best"))
    ('onnx', 'torchscript', None)
    """
    return next((fmt for fmt, suffix in FORMATS.items() if path.suffix == suffix), None)


def run_file(path: Path, fmt: str) -> Runner:
    """A function from a uint8 batch to the file's float32 probabilities, in batches of BATCH."""
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])

        def call(batch: torch.Tensor) -> torch.Tensor:
            return torch.from_numpy(np.asarray(session.run(["probabilities"], {"images": batch.numpy()})[0]))
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = torch.jit.load(str(path), map_location="cpu")

        def call(batch: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return module(batch).float()

    def probabilities(images: torch.Tensor) -> torch.Tensor:
        parts = [call(images[start : start + BATCH].contiguous()) for start in range(0, len(images), BATCH)]
        return torch.cat(parts) if parts else torch.zeros((0, 0))

    return probabilities


def read_record(path: Path, fmt: str) -> ExportRecord:
    """The `liftlab.json` an export carries inside it."""
    if fmt == "onnx":
        import onnx

        model = onnx.load(str(path), load_external_data=False)
        found = {entry.key: entry.value for entry in model.metadata_props}.get(METADATA)
    else:
        extra = {METADATA: ""}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        found = extra[METADATA] or None
    if not found:
        raise BadInputError(f"{path}: no {METADATA} inside; expected a file written by `liftlab export`")
    return ExportRecord.from_json(json.loads(found), str(path))


@dataclass
class ExportedModel:
    """An exported file as a predictor: what it takes (`record.input`), its classes and its probabilities."""

    path: Path
    record: ExportRecord
    run: Runner

    @classmethod
    def load(cls, path: Path) -> ExportedModel:
        fmt = format_of(path)
        if fmt is None or not path.is_file():
            raise BadInputError(f"{path}: expected an exported model file ({', '.join(FORMATS.values())})")
        if fmt == "onnx":
            needs_onnx()
        try:
            record = read_record(path, fmt)
            return cls(path, record, run_file(path, fmt))
        except (OSError, RuntimeError, ValueError) as error:
            raise BadInputError(f"{path}: cannot be loaded as a {fmt} model ({error})") from None

    @property
    def classes(self) -> list[str]:
        return list(self.record.classes)

    @property
    def channels(self) -> int:
        return self.record.input.channels

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        return self.run(images)
