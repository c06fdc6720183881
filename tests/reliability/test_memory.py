"""Point 11 (memory): a data set that would not fit in memory at the chosen size is refused before
decoding, with the estimate and what to change, instead of being killed by the OOM killer."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from liftlab.cli import app
from liftlab.data import loading

runner = CliRunner()


def test_too_large_for_memory_is_refused_up_front_with_the_estimate(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(loading, "available_memory", lambda: 100 * 2**20)  # a machine with 100 MiB free
    decoded: list[int] = []
    real = loading.decode_items
    monkeypatch.setattr(loading, "decode_items", lambda *a, **k: decoded.append(1) or real(*a, **k))
    result = runner.invoke(app, ["train", "builtin:digits", "--set", "data.size=512", "--epochs", "1", "--quiet",
                                 "--out", str(tmp_path / "big")])  # fmt: skip
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "1797 images at 512x512 need about 2.6 GiB resident" in message
    assert "0.1 GiB of memory is available" in message
    suggested = int(re.search(r"data\.size=(\d+)", message).group(1))  # type: ignore[union-attr]
    assert 8 <= suggested < 512
    assert decoded == [], "refused before decoding a single image"
    # the suggested size fits on the same machine
    fits = runner.invoke(app, ["train", "builtin:digits", "--set", f"data.size={min(suggested, 32)}",
                               "--epochs", "1", "--quiet", "--out", str(tmp_path / "run")])  # fmt: skip
    assert fits.exit_code == 0, fits.output


def test_available_memory_is_read_from_this_machine() -> None:
    assert loading.available_memory() > 2**20
