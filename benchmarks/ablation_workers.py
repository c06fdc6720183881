"""Wall time of one ablation with the default number of local workers against one worker.

The same plan (cifar10-small, baseline + flip + crop + both, 2 seeds, 6 epochs: 8 runs) runs twice
into fresh output folders in one process run; prints both wall times and the ratio.

    python -m benchmarks.ablation_workers
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks.common import SHARED
from liftlab.config import Recipe, apply_overrides
from liftlab.experiments.ablate import AblationSettings, run_ablation
from liftlab.experiments.capacity import machine_capacity


def timed(workers: int, folder: Path) -> float:
    base = apply_overrides(Recipe(), ["model.width=16"])
    settings = AblationSettings(["flip", "crop"], seeds=2, epochs=6, workers=workers)
    start = time.perf_counter()
    run_ablation(str(SHARED / "cifar10-small"), base, settings, folder)
    return time.perf_counter() - start


def main() -> None:
    verdict = machine_capacity()
    workers = max(verdict.workers, 2)  # the measured count, and at least two to have something to compare
    with tempfile.TemporaryDirectory() as tmp:
        timed(1, Path(tmp) / "warm-up")  # fills the decode cache and the precision verdicts
        one = timed(1, Path(tmp) / "one")
        many = timed(workers, Path(tmp) / "many")
    print(f"1 worker: {one:.1f} s")
    print(f"{workers} workers: {many:.1f} s")
    print(
        f"speed-up of {workers} workers over one: {one / many:.2f}x "
        f"(capacity.json predicts {verdict.speedup:.2f}x with {verdict.workers}, {verdict.source})"
    )


if __name__ == "__main__":
    main()
