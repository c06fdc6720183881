"""One complete training run: load data, fit, test, and write the run folder of the design's contract.

Files in the run folder: recipe.yaml, history.json, metrics.json, model.safetensors, classes.json,
preprocess.json, splits.json (the exact items of every split), checkpoint/ (for --resume) and, once the test
split is scored, test_probabilities.safetensors (`train/scored.py`).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import yaml

import liftlab
from liftlab.config import Recipe, recipe_from_dict
from liftlab.data.loading import ImageData, load_data
from liftlab.errors import BadInputError
from liftlab.io import write_json, write_text
from liftlab.records.runs import LeakFreeAccuracy, RunMetrics
from liftlab.stats import accuracy_without
from liftlab.train import distributed
from liftlab.train.checkpoint import save_weights
from liftlab.train.fitted import EpochCallback, FitResult
from liftlab.train.inference import predict_logits
from liftlab.train.loop import fit
from liftlab.train.precision import DTYPES
from liftlab.train.saved import load_trained
from liftlab.train.scored import forget_test_probabilities, keep_test_probabilities


def _check_out_folder(out: Path, recipe: Recipe, resume: bool) -> None:
    recorded = out / "recipe.yaml"
    if not recorded.exists():
        return
    if not resume:
        raise BadInputError(f"--out {out}: already holds a run; pass --resume to continue it, or choose another --out")
    previous = recipe_from_dict(yaml.safe_load(recorded.read_text()) or {}, source=str(recorded))
    if previous != recipe:
        changed = [key for key, value in recipe.model_dump().items() if previous.model_dump().get(key) != value]
        raise BadInputError(
            f"--out {out}: holds a run of a different recipe (differs in: {', '.join(changed)}); "
            "resume with the same settings, or choose another --out"
        )


def train_run(
    spec: str,
    recipe: Recipe,
    out: Path,
    *,
    skip_bad: bool = False,
    resume: bool = False,
    quiet: bool = True,
    callbacks: tuple[EpochCallback, ...] = (),
) -> RunMetrics | None:
    """Train `recipe` on DATA `spec` and write the run folder `out`; returns the metrics (None in the processes
    of a distributed run other than the first, which writes and reports)."""
    out = Path(out)
    group = distributed.current()  # under torchrun only rank 0 writes; the others train and return None
    if group.leader:
        _check_out_folder(out, recipe, resume)
    data = load_data(spec, recipe.data, skip_bad=skip_bad, quiet=quiet or not group.leader)
    if group.leader:
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / "recipe.yaml", recipe.to_yaml())
        write_json(out / "classes.json", data.classes)
        write_json(out / "splits.json", data.split_record())
    try:
        result = fit(recipe, data, checkpoint_dir=out / "checkpoint", resume=resume,
                     quiet=quiet or not group.leader, callbacks=callbacks)  # fmt: skip
        if not group.leader:
            return None
        if group.enabled:
            result.extra["processes"] = group.world  # recorded in metrics.json with the rest of `extra`
        return write_run_folder(out, spec, recipe, data, result)
    finally:
        distributed.finish(group)


def test_log_probs(result: FitResult, data: ImageData, batch_size: int = 1024) -> torch.Tensor | None:
    """Log-probabilities of `data`'s test split under the fitted model, computed once per result (a probe's
    come from its cached features); None without a test split or when the run failed."""
    if data.test is None or not len(data.test) or result.stopped_reason is not None:
        return None
    if result.test_log_probs is None:
        dtype = DTYPES[result.dtype]
        result.test_log_probs = predict_logits(result.model, data.test.images, result.preprocess, dtype, batch_size)
    return result.test_log_probs


def test_predictions(result: FitResult, data: ImageData, batch_size: int = 1024) -> tuple[list[int], float | None]:
    """The predicted class of every test image and the test accuracy; ([], None) where `test_log_probs`
    has none."""
    log_probs = test_log_probs(result, data, batch_size)
    if log_probs is None or data.test is None:
        return [], None
    predicted = log_probs.argmax(1)
    return predicted.tolist(), float((predicted == data.test.labels).float().mean())


def write_run_folder(
    out: Path, spec: str, recipe: Recipe, data: ImageData, result: FitResult, score_test: bool = True
) -> RunMetrics:
    """Test the fitted model (unless not `score_test`: then `test_acc` is null) and write the run folder's
    files; returns metrics.json's content."""
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "recipe.yaml", recipe.to_yaml())
    write_json(out / "classes.json", data.classes)
    write_json(out / "splits.json", data.split_record())
    predicted, test_acc = test_predictions(result, data, recipe.eval_batch_size) if score_test else ([], None)
    execution = {"memory_format": result.execution.get("memory_format"), "compiled": result.execution.get("compiled"),
                 "execution": result.execution}  # fmt: skip
    metrics = RunMetrics(
        data=spec,
        seed=recipe.seed,
        val_acc=result.val_acc,
        test_acc=test_acc,
        n_train=len(data.train),
        n_val=len(data.val),
        n_test=len(data.test) if data.test is not None else 0,
        classes=tuple(data.classes),
        seconds=result.seconds,
        images_per_second=result.images_per_second,
        device=result.device,
        dtype=result.dtype,
        stopped_reason=result.stopped_reason,
        strategies=tuple(recipe.strategies),
        liftlab_version=liftlab.__version__,
        data_fingerprint=data.fingerprint(),
        test_leak_free=_leak_free(data, predicted),
        native_geometry=data.native,
        skipped=tuple(asdict(bad) for bad in data.skipped),
        extra=execution | result.extra,
    )
    write_json(out / "history.json", [epoch.to_json() for epoch in result.history])
    result.preprocess.save(out)
    forget_test_probabilities(out)
    save_weights(out / "model.safetensors", result.model)
    if test_acc is not None and result.test_log_probs is not None and data.test is not None:
        keep_test_probabilities(out, result.test_log_probs.exp(), data.test.images)  # evaluation reuses them
    write_json(out / "metrics.json", metrics.to_json())
    return metrics


def _leak_free(data: ImageData, predicted: list[int]) -> LeakFreeAccuracy | None:
    """Test accuracy without the test images that have a copy in training (`ImageData.leaked_test`), with its
    interval; None when none has, or the test split was not scored."""
    if not predicted or data.test is None:
        return None
    correct = np.asarray(predicted) == data.test.labels.numpy()
    return accuracy_without(correct, data.leaked_test())


def score_run_folder(folder: Path, spec: str) -> tuple[list[int], list[int]]:
    """(test labels, predicted classes) of the model saved in a run folder that was not scored on the test
    split when it trained; its metrics.json gets the test accuracy."""
    trained = load_trained(folder)
    data = load_data(spec, trained.recipe.data, skip_bad=True)
    if data.test is None or not len(data.test):
        return [], []
    probabilities = trained.probabilities(data.test.images)
    keep_test_probabilities(folder, probabilities, data.test.images)  # the evaluation of the folder reuses them
    predicted = probabilities.argmax(1)
    labels = data.test.labels.tolist()
    metrics_path = folder / "metrics.json"
    metrics = RunMetrics.from_json(json.loads(metrics_path.read_text()), str(metrics_path))
    scored = metrics.with_test(
        float((predicted == data.test.labels).float().mean()), _leak_free(data, predicted.tolist())
    )
    write_json(metrics_path, scored.to_json())
    return labels, predicted.tolist()
