"""Run training jobs in local worker processes and return their immutable records.

A small training cannot keep every core busy (its kernels are short), so several runs side by side, each
with fewer threads, can finish a plan sooner; how many is measured per machine (`capacity.py`) and
benchmarks/ablation_workers.py measures the gain on real runs. Workers are spawned (not forked): torch's
thread pools do not survive a fork.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

import liftlab
from liftlab.config import Recipe, recipe_from_dict
from liftlab.data.loading import load_data
from liftlab.records import RunRecord
from liftlab.train.loop import fit
from liftlab.train.run_folder import test_predictions, write_run_folder


@dataclass(frozen=True)
class Job:
    key: str
    spec: str
    recipe: dict[str, Any]
    max_seconds: float | None = None
    out: str | None = None  # also write a complete `train` run folder (weights included) here
    deadline: float | None = None  # time.time() by which training stops, however long the job waited to start
    checkpoint: str | None = None  # per-epoch checkpoints here: a killed job resumes from its last epoch
    score_test: bool = True  # False for the search's runs: the test split chooses nothing, so it is not scored
    anneal_by: float | None = None  # time.time() by which the schedule ends, annealed (`fit`'s anneal_within)


def run_job(job: Job) -> RunRecord:
    """Train one run and return its record: accuracies, history, per-image validation (and, with
    `job.score_test`, test) predictions."""
    recipe: Recipe = recipe_from_dict(job.recipe)
    data = load_data(job.spec, recipe.data, skip_bad=True)
    limits = [job.max_seconds] if job.max_seconds is not None else []
    if job.deadline is not None:
        limits.append(max(job.deadline - time.time(), 1.0))
    checkpoint = Path(job.checkpoint) if job.checkpoint is not None else None
    anneal_within = None if job.anneal_by is None else max(job.anneal_by - time.time(), 1.0)
    result = fit(recipe, data, max_seconds=min(limits) if limits else None, checkpoint_dir=checkpoint, resume=True,
                 anneal_within=anneal_within)  # fmt: skip
    if job.out is not None:
        write_run_folder(Path(job.out), job.spec, recipe, data, result, score_test=job.score_test)
    # the same log-probabilities as the run folder's (computed once per result)
    predictions, test_acc = test_predictions(result, data, recipe.eval_batch_size) if job.score_test else ([], None)
    return RunRecord(
        key=job.key,
        seed=recipe.seed,
        strategies=tuple(recipe.strategies),
        val_acc=result.val_acc,
        test_acc=test_acc,
        # a run record keeps the epochs' times apart, in epoch_seconds
        history=tuple(replace(epoch, seconds=None, train_seconds=None) for epoch in result.history),
        seconds=result.seconds,
        epoch_seconds=tuple(epoch.seconds or 0.0 for epoch in result.history),
        val_labels=tuple(data.val.labels.tolist()),
        val_predictions=tuple(result.val_predictions),
        test_labels=tuple(data.test.labels.tolist()) if data.test is not None and predictions else (),
        test_predictions=tuple(predictions),
        stopped_reason=result.stopped_reason,
        stopped_by_time=result.extra.get("stopped_by_time"),
        resumed_from_epoch=result.extra["resumed"][-1]["from_epoch"] if "resumed" in result.extra else None,
        dtype=result.dtype,
        device=result.device,
        liftlab_version=liftlab.__version__,
        data_fingerprint=data.fingerprint(),
    )


def _init_worker(threads: int) -> None:
    from liftlab.train.allocator import keep_freed_memory

    torch.set_num_threads(threads)
    keep_freed_memory()  # as the CLI does in its own process (train/allocator.py)


def run_jobs(jobs: list[Job], workers: int, on_done: Callable[[RunRecord], None]) -> None:
    """Run `jobs`, calling `on_done(record)` in this process as each finishes (in completion order).

    A job's checkpoints are removed only after `on_done` has kept its record: killed before that, the
    job resumes from its last checkpoint when it is run again."""
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            _finish(job, run_job(job), on_done)
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(threads,)) as pool:
        for job, record in _as_completed(pool, jobs, workers):
            _finish(job, record, on_done)


def _finish(job: Job, record: RunRecord, on_done: Callable[[RunRecord], None]) -> None:
    on_done(record)
    if job.checkpoint is not None:
        shutil.rmtree(job.checkpoint, ignore_errors=True)


def _as_completed(pool: ProcessPoolExecutor, jobs: list[Job], workers: int) -> Iterator[tuple[Job, RunRecord]]:
    # Submit only as many as there are workers, so jobs start in plan order and a crash loses little.
    queue = list(jobs)
    running: dict[Future[RunRecord], Job] = {}
    while queue or running:
        while queue and len(running) < workers:
            job = queue.pop(0)
            running[pool.submit(run_job, job)] = job
        done, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in done:
            yield running.pop(future), future.result()
