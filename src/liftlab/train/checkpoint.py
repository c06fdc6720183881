"""Per-epoch checkpoints that a crash cannot leave half-written.

Each checkpoint is a folder `epoch-K/` (safetensors weights + a torch file of optimizer, RNG and
history state) written in full before `latest.json` is atomically pointed at it; a reader follows
the pointer, so it sees the previous complete checkpoint or the new one, never a partial one.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from liftlab.errors import BadInputError
from liftlab.io import atomic_write, disk_full, no_space, write_json

POINTER = "latest.json"


def cpu_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's state as contiguous CPU tensors, as safetensors needs them."""
    return {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}


def save_checkpoint(folder: Path, epoch: int, model: nn.Module, state: dict[str, Any]) -> None:
    target = folder / f"epoch-{epoch}"
    if target.exists():
        shutil.rmtree(target)
    weights = cpu_weights(model)
    try:
        target.mkdir(parents=True)
        save_file(weights, str(target / "weights.safetensors"))
        torch.save(state, target / "state.pt")
    except (OSError, RuntimeError, SafetensorError) as error:  # the pointer still names the previous checkpoint
        full = disk_full(error, folder)  # measured before the partial files are removed
        shutil.rmtree(target, ignore_errors=True)
        if full:
            raise no_space(target, error) from None
        raise
    write_json(folder / POINTER, {"epoch": epoch, "folder": target.name})
    for old in folder.glob("epoch-*"):
        if old.name != target.name:
            shutil.rmtree(old, ignore_errors=True)


def load_checkpoint(folder: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """The latest complete checkpoint in `folder` as (weights, state), or None when there is none."""
    pointer = folder / POINTER
    if not pointer.exists():
        return None
    try:
        target = folder / json.loads(pointer.read_text())["folder"]
        weights = load_file(str(target / "weights.safetensors"))
        state = torch.load(target / "state.pt", weights_only=True)
    except (OSError, ValueError, KeyError, RuntimeError, EOFError, pickle.UnpicklingError, SafetensorError) as error:
        raise BadInputError(f"checkpoint {folder}: cannot be read ({error}); remove it to start over") from None
    return weights, state


def save_weights(path: Path, model: nn.Module) -> None:
    weights = cpu_weights(model)
    atomic_write(path, lambda tmp: save_file(weights, str(tmp)))
