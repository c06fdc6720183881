"""Evaluate a liftlab run folder on DATA: its test predictions, corruption curves and shifted data sets."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from liftlab.config import DataConfig
from liftlab.data.geometry import mismatch
from liftlab.data.loading import load_data
from liftlab.errors import BadInputError
from liftlab.evaluate.evaluation import BusinessQuestion, ModelChecks, Settings, evaluate_predictions
from liftlab.evaluate.predict import trained_geometry
from liftlab.evaluate.predictions_csv import Predictions
from liftlab.evaluate.robustness import (
    CORRUPTIONS,
    corruption_accuracy,
    mapped_split,
    match_classes,
    predictions_on,
    shifted_data,
)
from liftlab.records.evaluation import (
    Evaluation,
    ModelSource,
    Robustness,
    Unfamiliar,
    UnfamiliarExample,
    UnusableFile,
)
from liftlab.stats import accuracy_without
from liftlab.train.embedding import review_config_at
from liftlab.train.familiarity import familiarity_of
from liftlab.train.saved import load_model


def evaluate_model(
    run_dir: Path,
    data: str,
    question: BusinessQuestion | None = None,
    settings: Settings | None = None,
    checks: ModelChecks = ModelChecks(),
    quiet: bool = True,
) -> tuple[Predictions, Evaluation]:
    """Score the model in `run_dir` on the test split of `data` (the validation split when there is none).

    The data is decoded at the run's own size and colour, and its classes are matched to the run's
    classes.json by name. Returns the predictions (for predictions.csv) and the evaluation record; with
    `checks.familiarity`, the record's `unfamiliar` says how many scored images lie farther from the training images
    than the threshold set on the validation split (`train.familiarity`).
    """
    settings = settings or Settings()
    trained = load_model(run_dir)
    loaded = load_data(data, trained.recipe.data, skip_bad=True, quiet=quiet)
    split_name, split = ("test", loaded.test) if loaded.test is not None and len(loaded.test) else ("val", loaded.val)
    if loaded.channels != trained.channels:
        raise BadInputError(f"--data {data}: {loaded.channels} channel(s), the model expects {trained.channels}")
    matching = match_classes(trained.classes, loaded.classes, split.labels)
    scored = mapped_split(trained.classes, loaded.classes, split)
    if len(scored) == 0:
        raise BadInputError(
            f"--data {data}: none of the {split_name} images belongs to a class of the model ({trained.classes})"
        )
    # the test split as the run scored it (improve's final phase), when these are exactly its images
    kept = trained.kept_test_probabilities(scored.images) if split_name == "test" else None
    predictions = predictions_on(trained, scored, f"{run_dir} on {data} ({split_name} split)", kept)
    choose_on = None
    if question is not None and question.rules and split_name == "test" and len(loaded.val):
        # thresholds are chosen on the validation split and reported on the test split, never both on test
        validation = mapped_split(trained.classes, loaded.classes, loaded.val)
        if len(validation):
            choose_on = predictions_on(trained, validation, f"{run_dir} on {data} (val split)")
    evaluation = evaluate_predictions(predictions, question, settings, choose_on, "validation split")
    warning = mismatch(trained_geometry(run_dir), loaded.native)
    every_test_image = split_name == "test" and len(scored) == len(split)  # then the leak mask lines up
    leak_free = None
    if every_test_image:
        correct = np.asarray(predictions.y_pred) == np.asarray(predictions.y_true)
        leak_free = accuracy_without(correct, loaded.leaked_test())
    corrupted = corruption_accuracy(trained, scored, tuple(CORRUPTIONS), settings.seed) if checks.corruptions else None
    others = tuple(shifted_data(trained, spec, settings.resamples, settings.seed, quiet) for spec in checks.shifted)
    robustness = Robustness(corrupted, others)
    return predictions, replace(
        evaluation,
        model=ModelSource(str(run_dir), data, split_name, matching, warning),
        unusable_files=tuple(UnusableFile(b.path, b.reason) for b in loaded.skipped),
        leak_free=leak_free,
        leak_free_measured=every_test_image,
        unfamiliar=_unfamiliar(run_dir, data, trained.recipe.data, split_name, quiet) if checks.familiarity else None,
        robustness=robustness,
    )


EXAMPLES = 10


def _unfamiliar(run_dir: Path, data: str, config: DataConfig, split_name: str, quiet: bool) -> Unfamiliar:
    """`evaluation.json`'s `unfamiliar`: the scored split's images above the run's familiarity threshold (or
    why there is no such check)."""
    try:
        known = familiarity_of(run_dir, quiet)
    except BadInputError as error:
        return Unfamiliar(False, reason=str(error))
    loaded = load_data(data, review_config_at(config, known.side), skip_bad=True, quiet=quiet)
    split = loaded.test if split_name == "test" and loaded.test is not None else loaded.val
    scores = known.image_scores(split.images, quiet)
    flagged = scores > known.threshold
    order = np.argsort(-scores)
    examples = tuple(
        UnfamiliarExample(split.names[i], round(float(scores[i]), 4)) for i in order[:EXAMPLES] if flagged[i]
    )
    return Unfamiliar(True, split=split_name, images=len(split), flagged=int(flagged.sum()),
                      share=float(flagged.mean()) if len(split) else 0.0, threshold=known.threshold,
                      validation_flagged=known.validation_flagged, examples=examples)  # fmt: skip
