"""The whole data review (`liftlab data review`: decoding, the frozen backbone's features, pHashes, out-of-fold
heads, cleanlab, outliers and the contact sheet) on TrashNet's 2,527 photos, cold (an empty cache: every image
decoded and every feature computed) and warm (the same command again), each in a fresh process so that nothing
stays in memory. Prints both times and their ratio; the target is under 2 minutes warm on the 2-core machine.

    python -m benchmarks.review [--data ../shared/datasets/trashnet]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TRASHNET = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "trashnet"


def timed_review(data: Path, out: Path, cache: Path) -> float:
    environment = os.environ | {"LIFTLAB_CACHE": str(cache)}
    command = [sys.executable, "-m", "liftlab", "data", "review", str(data), "--out", str(out), "--quiet"]
    started = time.perf_counter()
    subprocess.run(command, check=True, env=environment, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=TRASHNET)
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"{args.data} is missing: this benchmark reads ../shared/datasets/trashnet")
    with tempfile.TemporaryDirectory() as folder:
        cache, out = Path(folder) / "cache", Path(folder) / "review"
        cold = timed_review(args.data, out, cache)
        warm = timed_review(args.data, out, cache)
    print(f"data review of {args.data.name}: cold {cold:.1f} s, warm {warm:.1f} s (cold/warm {cold / warm:.1f}x); "
          f"target: warm under 120 s -> {'met' if warm < 120 else 'missed'}")  # fmt: skip


if __name__ == "__main__":
    main()
