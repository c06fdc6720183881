"""Point 11 (disk): a full disk while writing results gives a clear error (exit 3, naming the file) and
leaves every earlier result byte for byte as it was. Simulated with a small tmpfs (needs root, as CI)."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from liftlab.cli import app

runner = CliRunner()
TRAIN = ["train", "builtin:digits", "--epochs", "2", "--quiet",
         "--set", "data.size=8", "--set", "model.width=8", "--set", "data.color=gray"]  # fmt: skip


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fingerprints(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


def fill(disk: Path, leave: int, name: str = "filler") -> None:
    """Fill the disk, then free `leave` bytes: later writes fail part-way."""
    filler = disk / name
    with filler.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError:
            pass
    os.truncate(filler, max(filler.stat().st_size - leave, 0))


@pytest.mark.parametrize("leave", [0, 2_000, 10_000, 40_000, 80_000, 120_000, 160_000])
def test_a_full_disk_is_a_clear_error_and_loses_nothing(small_disk: Path, leave: int) -> None:
    earlier = small_disk / "earlier"
    first = runner.invoke(app, [*TRAIN, "--out", str(earlier)])
    assert first.exit_code == 0, first.output
    before = fingerprints(earlier)
    fill(small_disk, leave)

    later = runner.invoke(app, [*TRAIN, "--out", str(small_disk / "later")])
    assert later.exit_code == 3, later.output
    message = " ".join(later.output.split())
    assert "no space left to write" in message and str(small_disk / "later") in message
    assert "intact" in message

    # rewriting the earlier run's own results (resume of a finished run) on a full disk fails the same way ...
    fill(small_disk, 0, "filler-2")
    again = runner.invoke(app, [*TRAIN, "--out", str(earlier), "--resume"])
    assert again.exit_code == 3, again.output
    # ... and leaves every earlier file exactly as it was, with no temporary files behind
    assert fingerprints(earlier) == before
    assert not list(small_disk.rglob("*.tmp"))
