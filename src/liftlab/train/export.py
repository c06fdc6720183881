"""A run folder as one file that runs without liftlab: ONNX (for ONNX Runtime and every serving stack that
reads it) or TorchScript. The file takes what `liftlab predict` decodes (a uint8 batch at the run's size and
colour, N x C x H x W, the batch dimension free) and returns class probabilities: the run's normalisation or
whitening, its test-time views and, for an ensemble, each member's resize and the average are inside it. What
the caller must do before (the size, the resize policy, the colour) and the class names travel inside the file
(`liftlab.json`: ONNX metadata, a TorchScript extra file) and beside it (FILE.json).

Every export is checked before it is written: its probabilities on some of the run's own validation images must
match liftlab's PyTorch predictor in float32 within `TOLERANCE`, else the export fails and says by how much.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

import liftlab
from liftlab.augment import apply_zca, per_image_standardise
from liftlab.errors import BadInputError
from liftlab.io import write_json
from liftlab.train.inference import tta_views
from liftlab.train.saved import Ensemble, Predictor, TrainedModel

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
TOLERANCE = 1e-4
"""Largest absolute difference of a probability between the exported file and liftlab's PyTorch predictor in
float32 that an export may show (the issue's bound; measured exports stay near 1e-6)."""
CHECK_IMAGES = 32
"""Validation images the parity check runs: enough to cover every path of the graph (each TTA view, each
member), few enough to keep an export in seconds."""
METADATA = "liftlab.json"
OPSET = 17


@dataclass(frozen=True)
class InputSpec:
    """What the caller must hand the exported file: a uint8 batch (N, `channels`, `size`, `size`) in 0-255,
    decoded with liftlab's `resize` policy in `color`."""

    size: int
    channels: int
    color: str
    resize: str
    dtype: str = "uint8"
    layout: str = "NCHW"


@dataclass(frozen=True)
class Parity:
    """The export-time check: the largest probability difference against liftlab's predictor over `images`
    validation images, and the bound it had to meet."""

    images: int
    max_abs_difference: float
    tolerance: float
    reference: str = "liftlab's PyTorch predictor of the run, float32"


@dataclass(frozen=True)
class ExportRecord:
    """`liftlab.json`: what the exported file is, what it takes and returns, and how it was checked."""

    format: str
    source: str
    kind: str  # "network" or "ensemble of N networks"
    classes: tuple[str, ...]
    input: InputSpec
    parity: Parity
    output: str = "probabilities, float32, (N, classes); each row sums to 1"
    liftlab_version: str = liftlab.__version__

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, record: Any, where: str) -> ExportRecord:
        try:
            return cls(
                record["format"], record["source"], record["kind"], tuple(record["classes"]),
                InputSpec(**record["input"]), Parity(**record["parity"]), record["output"], record["liftlab_version"],
            )  # fmt: skip
        except (KeyError, TypeError) as error:
            raise BadInputError(f"{where}: not an export liftlab wrote ({error!r} in its {METADATA})") from None


def resize_matrix(source: int, target: int) -> torch.Tensor:
    """(target, source) weights of bilinear, antialiased resizing along one axis, as torch computes them: an
    exported member at another size resizes by two matrix products, the same arithmetic as `saved.at_size`
    (ONNX Runtime's own antialiased Resize differs from torch's by up to one grey level).

    >>> image = torch.rand(1, 1, 12, 12) * 255
    >>> weights = resize_matrix(12, 5)
    >>> expected = F.interpolate(image, size=(5, 5), mode="bilinear", antialias=True, align_corners=False)
    >>> bool(torch.allclose(weights @ image @ weights.T, expected, atol=1e-3))
    True
    """
    impulses = torch.eye(source)[:, None, None, :]  # one row image per source column
    rows = F.interpolate(impulses, size=(1, target), mode="bilinear", antialias=True, align_corners=False)
    return rows[:, 0, 0, :].T.contiguous()


class Member(nn.Module):
    """One network with its preprocessing: uint8 at the input size -> probabilities (its TTA views averaged)."""

    weights: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    zca_mean: torch.Tensor
    zca_matrix: torch.Tensor

    def __init__(self, trained: TrainedModel, input_size: int) -> None:
        super().__init__()
        preprocess = trained.preprocess
        self.network = trained.model.float().eval()
        self.tta = preprocess.tta
        self.whiten = preprocess.whiten
        size = trained.recipe.data.size
        self.resize = size != input_size
        self.register_buffer("weights", resize_matrix(input_size, size) if self.resize else torch.zeros(0))
        self.register_buffer("mean", torch.tensor(preprocess.mean)[None, :, None, None])
        self.register_buffer("std", torch.tensor(preprocess.std)[None, :, None, None])
        zca = (preprocess.zca_mean, preprocess.zca_matrix)
        if preprocess.whiten == "zca" and (zca[0] is None or zca[1] is None):
            raise BadInputError(f"{trained.folder}: whiten=zca but the fitted ZCA transform is missing")
        self.register_buffer("zca_mean", zca[0].float() if zca[0] is not None else torch.zeros(0))
        self.register_buffer("zca_matrix", zca[1].float() if zca[1] is not None else torch.zeros(0))

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        """`Preprocess.on`'s transform, reading this module's buffers (the exported graph holds them)."""
        if self.whiten == "per-image":
            return per_image_standardise(images)
        if self.whiten == "zca":
            return apply_zca(images, self.zca_mean, self.zca_matrix)
        return (images - self.mean) / self.std

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pixels = images.float()
        if self.resize:  # as saved.at_size: resized, then rounded back to whole grey levels
            pixels = (self.weights @ pixels @ self.weights.T).round().clamp(0, 255)
        scaled = pixels / 255.0
        views = tta_views(scaled, self.tta) if self.tta else [(scaled, 1.0)]
        total = torch.zeros(())
        for view, weight in views:
            total = total + weight * F.softmax(self.network(self.normalise(view)).float(), dim=1)
        return total


class Deployable(nn.Module):
    """A run's predictor as one module: uint8 batch -> probabilities, the members' average for an ensemble."""

    def __init__(self, predictor: Predictor) -> None:
        super().__init__()
        trained = predictor.members if isinstance(predictor, Ensemble) else (predictor,)
        size = trained[0].recipe.data.size
        self.members = nn.ModuleList(Member(member, size) for member in trained)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        total = self.members[0](images)
        for member in self.members[1:]:
            total = total + member(images)
        return total / len(self.members)


def input_spec(predictor: Predictor) -> InputSpec:
    """How `liftlab predict` decodes images for `predictor` (a one-channel network sees gray images)."""
    data = predictor.recipe.data
    color = "gray" if predictor.channels == 1 else data.color
    return InputSpec(data.size, predictor.channels, color, data.resize)


def reference_probabilities(predictor: Predictor, images: torch.Tensor) -> torch.Tensor:
    """liftlab's own probabilities for `images` in float32 (whatever precision the run predicts in)."""
    if isinstance(predictor, Ensemble):
        members = tuple(replace(member, dtype=torch.float32) for member in predictor.members)
        return replace(predictor, members=members).probabilities(images)
    return replace(predictor, dtype=torch.float32).probabilities(images)


def write_onnx(module: nn.Module, example: torch.Tensor, path: Path) -> None:
    """`module` as ONNX with a free batch dimension. The TorchScript-based exporter (`dynamo=False`) is used:
    on EfficientNet-Lite0 with test-time views at 64 px it took 2.1 s here against 35.8 s for the dynamo
    exporter, the same probabilities (2e-7 from PyTorch both)."""
    axes = {"images": {0: "batch"}, "probabilities": {0: "batch"}}
    with warnings.catch_warnings():  # the exporter's deprecation notice is about its future, not this file
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), str(path), input_names=["images"], output_names=["probabilities"],
                          dynamic_axes=axes, opset_version=OPSET, dynamo=False)  # fmt: skip


def needs_onnx() -> None:
    """ONNX is an optional extra: without it, say what to install before anything is exported."""
    import importlib.util

    missing = [name for name in ("onnx", "onnxruntime") if importlib.util.find_spec(name) is None]
    if missing:
        raise BadInputError(
            f"--format onnx needs {' and '.join(missing)}: pip install 'liftlab[export]' (or use --format torchscript)"
        )


def stamp_onnx(path: Path, record: ExportRecord) -> None:
    """`record` into the ONNX model's metadata (`liftlab.json`)."""
    import onnx

    model = onnx.load(str(path))
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA, json.dumps(record.to_json())
    onnx.save(model, str(path))


def write_torchscript(module: nn.Module, example: torch.Tensor, path: Path) -> None:
    """`module` traced to TorchScript (the batch dimension stays free: nothing in the graph depends on it)."""
    with warnings.catch_warnings():  # torch.jit's deprecation notice: TorchScript still loads in torch 2.14
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module, example, check_trace=False)
        torch.jit.save(traced, str(path))


def stamp_torchscript(path: Path, record: ExportRecord) -> None:
    """`record` as the TorchScript file's extra file `liftlab.json`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.load(str(path)), str(path), _extra_files={METADATA: json.dumps(record.to_json())})


WRITERS = {"onnx": (write_onnx, stamp_onnx), "torchscript": (write_torchscript, stamp_torchscript)}


def export_predictor(
    predictor: Predictor, images: torch.Tensor, fmt: str, out: Path, tolerance: float = TOLERANCE
) -> ExportRecord:
    """Export `predictor` to `out` in `fmt`, checked on `images` (uint8, decoded as `input_spec` says): written
    only when the file's probabilities match liftlab's float32 ones within `tolerance`."""
    from liftlab.train.exported import run_file

    if fmt not in FORMATS:
        raise BadInputError(f"--format: expected one of {', '.join(FORMATS)}, found {fmt!r}")
    if not len(images):
        raise BadInputError(f"{predictor.folder}: no images to check the export on")
    if fmt == "onnx":
        needs_onnx()
    module = Deployable(predictor).eval()
    write, stamp = WRITERS[fmt]
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as scratch:
        trial = Path(scratch) / out.name
        try:
            with torch.no_grad():
                write(module, images[:2], trial)
        except Exception as error:  # the exporters raise many kinds; each means this network cannot go
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise BadInputError(
                f"{predictor.folder}: the network cannot be exported to {fmt} ({type(error).__name__}: {reason}); "
                f"nothing was written. Try --format {'torchscript' if fmt == 'onnx' else 'onnx'}"
            ) from None
        found = run_file(trial, fmt)(images)
        expected = reference_probabilities(predictor, images)
        difference = float((found - expected).abs().max())
        if not difference <= tolerance:
            raise BadInputError(
                f"{predictor.folder}: the {fmt} export differs from liftlab's predictor by {difference:.2e} in a "
                f"probability on {len(images)} validation images (at most {tolerance:.0e} allowed); nothing was written"
            )
        members = len(module.members)
        kind = f"ensemble of {members} networks" if members > 1 else "network"
        parity = Parity(len(images), difference, tolerance)
        record = ExportRecord(fmt, str(predictor.folder), kind, tuple(predictor.classes), input_spec(predictor), parity)
        stamp(trial, record)
        trial.replace(out)  # a rename in the same folder: a reader never sees half a file
    write_json(out.with_name(out.name + ".json"), record.to_json())
    return record


def check_images(predictor: Predictor, run_dir: Path, count: int, check_on: Path | None, quiet: bool) -> torch.Tensor:
    """`count` images to check an export on, decoded as `input_spec` says: spread evenly over the run's own
    validation split, or the image files under `check_on` when given (the run's data moved, or other images)."""
    from liftlab.data.images import BadImageError, image_files, load_array
    from liftlab.data.loading import load_data
    from liftlab.train.familiarity import training_source

    spec = input_spec(predictor)
    if check_on is not None:
        arrays = []
        for path in image_files([check_on])[: count * 2]:
            try:
                arrays.append(load_array(path, spec.size, predictor.recipe.data.resize, spec.color))
            except BadImageError:
                continue
        if not arrays:
            raise BadInputError(f"--check-on {check_on}: no readable image files")
        return torch.from_numpy(np.stack(arrays[:count]))
    source = training_source(run_dir)
    try:
        data = load_data(source.spec, predictor.recipe.data, skip_bad=True, quiet=quiet)
    except BadInputError as error:
        raise BadInputError(
            f"{run_dir}: the run's data ({source.spec}) cannot be read to check the export ({error}); "
            "pass --check-on FOLDER with images of its classes"
        ) from None
    split = data.val if len(data.val) else data.train
    chosen = np.unique(np.linspace(0, len(split) - 1, min(count, len(split))).astype(int))
    return split.images[torch.from_numpy(chosen)]


def export_run(
    run_dir: Path, fmt: str, out: Path, count: int = CHECK_IMAGES, check_on: Path | None = None, quiet: bool = True
) -> ExportRecord:
    """`liftlab export`: the run folder (one network, or the ensemble its ensemble.json lists) to `out`, checked
    on `count` of its validation images first."""
    from liftlab.train.saved import load_model

    if fmt not in FORMATS:
        raise BadInputError(f"--format: expected one of {', '.join(FORMATS)}, found {fmt!r}")
    if out.suffix != FORMATS[fmt]:
        raise BadInputError(f"--out {out}: a {fmt} file should end in {FORMATS[fmt]} (`predict` reads it by that)")
    predictor = load_model(run_dir, device="cpu")
    return export_predictor(predictor, check_images(predictor, run_dir, count, check_on, quiet), fmt, out)
