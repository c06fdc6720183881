"""How many training runs this machine should run side by side, measured here and cached, not assumed.

On a GPU machine: one worker per GPU. On a CPU, a small training cannot keep every core busy (its kernels
are short), so two runs side by side, each with half the threads, can finish a plan sooner; how much sooner
depends on the CPU. A short standard training step is timed alone on all the cores, then in `k` worker
processes at once with cores/k threads each; the verdict (`workers`, the `speedup` of the plan and the
`slowdown` of one run beside the others) is cached per machine in `$LIFTLAB_CACHE/capacity.json`, like the
precision verdicts. Seen on a 2-core AMD EPYC: 2 workers, speedup 1.2, each run 1.7x slower.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from liftlab.data.cache import cache_root
from liftlab.io import write_json
from liftlab.train.precision import machine_id

WORTH_IT = 1.1
"""Side by side is chosen only when it finishes a plan at least 10% sooner than one run after another."""
STEPS = 8
BLOCKS = 5


@dataclass(frozen=True)
class Capacity:
    workers: int  # runs side by side
    speedup: float  # a plan's wall time one run at a time over side by side (1.0 with one worker)
    source: str  # "measured", "cached", "gpu", "one core" or "requested"

    @property
    def slowdown(self) -> float:
        """One run's time in a worker beside the others over alone on the whole machine (the plan runs
        `workers` at once, `speedup` times sooner, so each run takes workers / speedup as long)."""
        return self.workers / self.speedup

    def with_workers(self, workers: int | None) -> Capacity:
        """The verdict for a worker count the user asked for: a count other than the measured one is given
        no more speedup than was measured (and none with one worker)."""
        if workers is None or workers == self.workers:
            return self
        return Capacity(workers, 1.0 if workers == 1 else max(1.0, min(self.speedup, workers)), "requested")


def decide(cores: int, gpus: int, alone_s: float, side_by_side_s: dict[int, float]) -> Capacity:
    """The verdict from a step's time alone on every core and, per worker count k, the mean step time of k
    runs at once: the count with the best plan speedup, each larger count kept only when it gains WORTH_IT.

    >>> decide(2, 0, 1.0, {2: 1.7})
    Capacity(workers=2, speedup=1.18, source='measured')
    >>> decide(2, 0, 1.0, {2: 1.95}).workers, decide(16, 2, 0.0, {}).workers
    (1, 2)
    >>> decide(16, 0, 1.0, {2: 1.2, 4: 2.0, 8: 3.9}).workers  # 8 at once gains under 10% over 4
    4
    >>> decide(2, 0, 2.0, {2: 1.0}).speedup  # measured 4x with 2 workers: capped at 2
    2.0
    """
    if gpus:
        return Capacity(gpus, float(gpus), "gpu")
    best = Capacity(1, 1.0, "measured" if side_by_side_s and cores > 1 else "one core")
    for workers in sorted(side_by_side_s):
        speedup = workers * alone_s / side_by_side_s[workers] if side_by_side_s[workers] > 0 else 0.0
        # k runs cannot end more than k times sooner: more says another program slowed the run alone
        speedup = min(speedup, float(workers))
        if workers > 1 and speedup >= best.speedup * WORTH_IT:
            best = Capacity(workers, round(speedup, 2), "measured")
    return best


def worker_counts(cores: int) -> list[int]:
    """Counts worth measuring: 2, 4, 8, ... up to the cores (on 2 cores: 2).

    >>> worker_counts(2), worker_counts(16), worker_counts(1)
    ([2], [2, 4, 8, 16], [])
    """
    counts, count = [], 2
    while count <= cores:
        counts.append(count)
        count *= 2
    return counts


def _time_steps(threads: int, start: Any = None) -> float:
    """Seconds per step of liftlab's default ConvNet training on a random batch of 128 images of 32 px, after
    a warm-up; with `start` (a barrier shared by the workers) the timed steps of all workers begin together."""
    from liftlab.config import Recipe
    from liftlab.models.zoo import build_model

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model = build_model(Recipe().model, 3, 10)
        return _seconds_per_step(model, start)
    finally:
        torch.set_num_threads(before)


def _seconds_per_step(model: torch.nn.Module, start: Any) -> float:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    images, labels = torch.randn(128, 3, 32, 32), torch.randint(0, 10, (128,))

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()

    for _ in range(3):
        step()
    if start is not None:
        start.wait()
    blocks = []
    for _ in range(BLOCKS):  # the median block: a stray pause of the machine does not decide the verdict
        started = time.perf_counter()
        for _ in range(STEPS):
            step()
        blocks.append((time.perf_counter() - started) / STEPS)
    return sorted(blocks)[len(blocks) // 2]


def measure(cores: int, counts: list[int]) -> tuple[float, dict[int, float]]:
    """(step seconds alone on every core, {k: mean step seconds of k runs at once with cores/k threads
    each}), the runs in spawned workers as the runner starts them."""
    alone = _time_steps(cores)
    side_by_side: dict[int, float] = {}
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        for workers in counts:
            start = manager.Barrier(workers)  # the workers start together, not as each finishes importing torch
            with ProcessPoolExecutor(workers, mp_context=context) as pool:
                times = list(pool.map(_time_steps, [max(1, cores // workers)] * workers, [start] * workers))
            side_by_side[workers] = sum(times) / len(times)
    # timed again after: the faster of the two, so a busy moment of the machine does not make the run
    # alone look slow, and side by side look better than it is (seen: 3.95x "speedup" on 2 cores)
    return min(alone, _time_steps(cores)), side_by_side


def machine_capacity(
    cache: Path | None = None, measurer: Callable[[int, list[int]], tuple[float, dict[int, float]]] = measure
) -> Capacity:
    """This machine's verdict: cached when measured before here, else measured (seconds) and cached."""
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    cores = os.cpu_count() or 1
    if gpus or cores <= 1:
        return decide(cores, gpus, 0.0, {})
    path = (cache or cache_root()) / "capacity.json"
    key = f"{machine_id(torch.device('cpu'))}|{cores} cores"
    try:
        cached = json.loads(path.read_text())
    except (OSError, ValueError):
        cached = {}
    cached = cached if isinstance(cached, dict) else {}
    entry = cached.get(key)
    if isinstance(entry, dict) and isinstance(entry.get("workers"), int) and isinstance(entry.get("speedup"), float):
        return Capacity(entry["workers"], entry["speedup"], "cached")
    verdict = decide(cores, 0, *measurer(cores, worker_counts(cores)))
    write_json(path, cached | {key: asdict(verdict)})
    return verdict
