"""Run the liftlab CLI and SIGKILL it from inside at a chosen point: `python killing_cli.py POINT AT ARGS...`.

POINT names where, AT which call of that point dies (1 is the first):
  step           before an optimizer step (set_lr runs once per step)
  epoch-end      every step of an epoch done, its totals not yet read
  validation     as validation starts
  checkpoint     a checkpoint's weights written and its state file half written
  record:NAME    a result file NAME half written to its temporary file
  store          a finished run's record set in the run store, the trial not yet told finished

Nothing in liftlab knows about this: the script wraps liftlab's functions before it runs the CLI, so each
case dies exactly where it says. Runs in worker processes (`--workers` > 1) are not wrapped.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import torch

from liftlab import io as liftlab_io
from liftlab.cli import app
from liftlab.train import distributed, loop


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def keep_half_and_die(path: Path) -> None:
    """Cut the file just written to its first half, on disk, and die: a write killed half-way."""
    content = path.read_bytes()
    with path.open("wb") as stream:
        stream.write(content[: len(content) // 2])
        stream.flush()
        os.fsync(stream.fileno())
    die()


class Countdown:
    def __init__(self, at: int) -> None:
        self.calls = 0
        self.at = at

    def due(self) -> bool:
        self.calls += 1
        return self.calls == self.at

    def before(self, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if self.due():
                die()
            return function(*args, **kwargs)

        return wrapper


def install(point: str, countdown: Countdown) -> None:
    if point == "step":
        loop.set_lr = countdown.before(loop.set_lr)
    elif point == "epoch-end":
        distributed.sum_across = countdown.before(distributed.sum_across)
    elif point == "validation":
        loop.evaluate = countdown.before(loop.evaluate)
    elif point == "checkpoint":
        real_save = torch.save

        def half_save(obj: Any, path: Any, *args: Any, **kwargs: Any) -> None:
            real_save(obj, path, *args, **kwargs)
            if str(path).endswith("state.pt") and countdown.due():
                keep_half_and_die(Path(path))

        torch.save = half_save
    elif point.startswith("record:"):
        name = point.split(":", 1)[1]
        real_atomic_write = liftlab_io.atomic_write

        def half_write(path: Path, write: Callable[[Path], None]) -> None:
            if path.name != name or not countdown.due():
                return real_atomic_write(path, write)

            def write_half(tmp: Path) -> None:
                write(tmp)
                keep_half_and_die(tmp)

            return real_atomic_write(path, write_half)

        liftlab_io.atomic_write = half_write
    elif point == "store":
        optuna.study.Study.tell = countdown.before(optuna.study.Study.tell)  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown kill point {point!r}")


if __name__ == "__main__":
    install(sys.argv[1], Countdown(int(sys.argv[2])))
    sys.argv = ["liftlab", *sys.argv[3:]]
    app(prog_name="liftlab")
