"""Atomic file writes: a reader finds the previous complete file or the new one, never a partial one."""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from liftlab.errors import DiskFullError

NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


NEARLY_FULL = 64 * 1024  # bytes free, measured right after a failed write, that mean "the disk filled up"


def disk_full(error: BaseException, where: Path | None = None) -> bool:
    """Whether `error` (or what caused it) says the disk is full, or, for writers that do not say
    (torch.save reports only a file position), whether the disk holding `where` is now nearly full."""
    if where is not None:
        try:
            if shutil.disk_usage(where).free < NEARLY_FULL:
                return True
        except OSError:
            pass
    while error is not None:
        if isinstance(error, OSError) and error.errno in NO_SPACE:
            return True
        if "No space left on device" in str(error) or "file too large" in str(error).lower():
            return True
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return False


def no_space(path: Path, error: BaseException) -> DiskFullError:
    return DiskFullError(
        errno.ENOSPC,
        f"no space left to write {path}; what was written before is intact (files are replaced only when "
        f"the new one is complete): free space or choose another --out, then rerun to resume ({error})",
    )


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp)` on a temporary file beside `path`, fsync it, then rename it over `path`.

    A full disk raises DiskFullError naming `path`, and leaves the previous `path` as it was."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        if disk_full(error):
            raise no_space(path, error) from None
        raise
    os.close(handle)
    tmp = Path(name)
    try:
        write(tmp)
        with tmp.open("rb") as stream:
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except Exception as error:  # any writer (json, safetensors, torch) may report ENOSPC its own way
        if disk_full(error, path.parent):
            raise no_space(path, error) from None
        raise
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    def write(tmp: Path) -> None:
        tmp.write_text(text)

    atomic_write(path, write)


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, allow_nan=False, default=str) + "\n")
