"""One training run over several processes with torch.distributed (gloo on CPU, NCCL on GPUs).

`liftlab train --nproc N` re-launches itself under torchrun (`torch.distributed.run --standalone`);
on several machines, start torchrun yourself on each (see docs/guide.md). Inside, every process holds the
whole training set (it is resident and small next to the model's work), draws the same epoch
permutation from the same seed, and trains on its slice of each global batch: per-process batch =
batch_size / N, gradients averaged by DistributedDataParallel, so the optimizer sees the same global
batch and learning rate as one process would. Batch-norm statistics are per process (SyncBatchNorm
needs CUDA), one reason results match a single process within noise rather than exactly. Rank 0 writes
the run folder and checkpoints; every rank can resume from them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from liftlab.errors import BadInputError
from liftlab.models.fastnet import PatchWhitening


@dataclass(frozen=True)
class Group:
    rank: int = 0
    world: int = 1

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def leader(self) -> bool:
        return self.rank == 0


def current() -> Group:
    """The process group this process belongs to, joining it on first use when torchrun started us."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Group()
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return Group(dist.get_rank(), dist.get_world_size())


def local_batch(group: Group, batch_size: int) -> int:
    """Each process's share of the global batch; the global batch must divide evenly."""
    if batch_size % group.world:
        raise BadInputError(
            f"optim.batch_size {batch_size}: must be a multiple of --nproc {group.world} "
            f"(each process trains on an equal share of every batch)"
        )
    return batch_size // group.world


def wrap(model: nn.Module, group: Group) -> nn.Module:
    """The model that runs the training steps: DDP when distributed (unused parameters allowed when
    the fast net's whitening bias may be detached), the model itself otherwise."""
    if not group.enabled:
        return model
    detaches = any(isinstance(module, PatchWhitening) for module in model.modules())
    return nn.parallel.DistributedDataParallel(model, find_unused_parameters=detaches)


def sum_across(tensor: torch.Tensor, group: Group) -> torch.Tensor:
    """Sum a tensor over all processes (once per epoch, for the training loss and accuracy)."""
    if group.enabled:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def any_across(flag: bool, group: Group, device: torch.device) -> bool:
    """True on every process when it is true on any (so all stop at the same epoch)."""
    if not group.enabled:
        return flag
    value = torch.tensor([int(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def finish(group: Group) -> None:
    """Leave the process group cleanly (a rank that exits with gloo's threads still up aborts)."""
    if group.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def launch(nproc: int, argv: list[str]) -> int:
    """Run `liftlab` with `argv` in `nproc` processes on this machine under torchrun; returns its exit code."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "-m", "liftlab", *argv]  # fmt: skip
    return subprocess.call(command)
