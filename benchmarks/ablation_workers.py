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
from liftlab.experiments.runner import default_workers


def timed(workers: int, folder: Path) -> float:
    base = apply_overrides(Recipe(), ["model.width=16"])
    settings = AblationSettings(["flip", "crop"], seeds=2, epochs=6, workers=workers)
    start = time.perf_counter()
    run_ablation(str(SHARED / "cifar10-small"), base, settings, folder)
    return time.perf_counter() - start


def main() -> None:
    workers = default_workers()
    with tempfile.TemporaryDirectory() as tmp:
        timed(1, Path(tmp) / "warm-up")  # fills the decode cache and the precision verdicts
        one = timed(1, Path(tmp) / "one")
        many = timed(workers, Path(tmp) / "many")
    print(f"1 worker: {one:.1f} s")
    print(f"{workers} workers (default): {many:.1f} s")
    print(f"speed-up of the default over one worker: {one / many:.2f}x")


if __name__ == "__main__":
    main()
