"""One call per `liftlab evaluate` form (a predictions CSV, two CSVs to compare, or a run folder on DATA),
each writing evaluation.json, report.html and the plots into an output folder."""

from __future__ import annotations

from pathlib import Path

from liftlab.errors import BadInputError
from liftlab.evaluate.evaluation import (
    BusinessQuestion,
    ModelChecks,
    Settings,
    compare_predictions,
    evaluate_predictions,
)
from liftlab.evaluate.predictions_csv import read_predictions, write_predictions
from liftlab.io import write_json
from liftlab.records.evaluation import ComparedEvaluation, Evaluation
from liftlab.report.evaluation import evaluation_report


def run_evaluation(
    out: Path,
    *,
    predictions: Path | None = None,
    compare: tuple[Path, Path] | None = None,
    model: Path | None = None,
    data: str | None = None,
    question: BusinessQuestion | None = None,
    settings: Settings | None = None,
    shifted: tuple[str, ...] = (),
    corruptions: bool = True,
    quiet: bool = True,
    thresholds_on: Path | None = None,
    familiarity: bool = True,
) -> Evaluation | ComparedEvaluation:
    """Evaluate exactly one of: `predictions`, `compare` (A, B) or `model` with `data`; write `out`."""
    forms = [predictions is not None, compare is not None, model is not None]
    if sum(forms) != 1:
        raise BadInputError("evaluate: give exactly one of --predictions FILE, --compare A.csv B.csv, --model RUN_DIR")
    if (model is None) != (data is None):
        raise BadInputError("evaluate: --model RUN_DIR and --data DATA go together")
    if thresholds_on is not None and predictions is None:
        raise BadInputError(
            "evaluate: --thresholds-on FILE goes with --predictions FILE (with --model the thresholds are "
            "chosen on the data's validation split)"
        )
    if (shifted or not corruptions) and model is None:
        raise BadInputError("evaluate: --shift-data and corruption checks need --model RUN_DIR --data DATA")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if compare is not None:
        first = read_predictions(compare[0])
        second = read_predictions(compare[1], classes=first.classes)
        comparison = compare_predictions(first, second, question, settings)
        models = {
            "a": evaluate_predictions(first, question, settings),
            "b": evaluate_predictions(second, question, settings),
        }
        compared = ComparedEvaluation(comparison, models)
        evaluation_report([("A", models["a"]), ("B", models["b"])], out, comparison)
        write_json(out / "evaluation.json", compared.to_json())
        return compared
    if model is not None and data is not None:
        return evaluate_run_folder(out, model, data, question, settings, ModelChecks(corruptions, shifted, familiarity),
                                   quiet)  # fmt: skip
    assert predictions is not None  # exactly one form was given, checked above
    scored = read_predictions(predictions)
    basis = None if thresholds_on is None else read_predictions(thresholds_on, classes=scored.classes)
    return _written(out, evaluate_predictions(scored, question, settings, basis, str(thresholds_on)))


def evaluate_run_folder(
    out: Path,
    model: Path,
    data: str,
    question: BusinessQuestion | None = None,
    settings: Settings | None = None,
    checks: ModelChecks = ModelChecks(),
    quiet: bool = True,
) -> Evaluation:
    """`evaluate --model RUN --data DATA`: predictions.csv, evaluation.json, the plots and report.html in `out`."""
    from liftlab.evaluate.model import evaluate_model  # torch is only needed for a model

    out.mkdir(parents=True, exist_ok=True)
    scored, record = evaluate_model(model, data, question, settings, checks, quiet)
    write_predictions(out / "predictions.csv", scored)
    return _written(out, record)


def _written(out: Path, record: Evaluation) -> Evaluation:
    evaluation_report([("Model", record)], out)
    write_json(out / "evaluation.json", record.to_json())
    return record
