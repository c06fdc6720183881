"""The typed records read every JSON file liftlab wrote before they existed (format 1, kept under
tests/records/format1: a run store's record, history.json, diagnosis.json, ablation.json, improve.json), write
the same keys back, and name the field when a file is broken."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from liftlab.errors import BadInputError
from liftlab.records import (
    EPOCH_CURVES,
    FORMAT,
    AblationResult,
    Diagnosis,
    Epoch,
    ImproveResult,
    RunRecord,
    history_from_json,
)

FORMAT1 = Path(__file__).parent / "records" / "format1"


def _load(name: str) -> object:
    return json.loads((FORMAT1 / name).read_text())


def test_a_stored_run_record_of_format_1_loads_and_writes_the_same_keys_back() -> None:
    stored = _load("run_record.json")
    assert isinstance(stored, dict) and "format" not in stored, "written before records carried a format"
    record = RunRecord.from_json(stored)
    assert record.val_acc == stored["val_acc"] and len(record.test_predictions) == len(stored["test_labels"]) > 0
    assert record.history[-1].epoch == len(stored["history"]) and not record.failed
    assert record.to_json() == stored | {"format": FORMAT}
    assert RunRecord.from_json(record.to_json()) == record
    cut = RunRecord.from_json(stored | {"stopped_by_time": 12})  # the epoch after which the deadline cut it
    assert cut.stopped_by_time == 12


@pytest.mark.parametrize("path", ["history.json"])
def test_a_run_folders_history_loads_as_epochs_and_round_trips(path: str) -> None:
    rows = _load(path)
    assert isinstance(rows, list)
    epochs = history_from_json(rows, path)
    assert [e.to_json() for e in epochs] == rows and epochs[0].seconds is not None


def test_the_histories_inside_ablation_and_improve_results_load() -> None:
    ablation = _load("ablation.json")
    improve = _load("improve.json")
    assert isinstance(ablation, dict) and isinstance(improve, dict)
    runs = [run for arm in ablation["arms"] for run in arm["runs"]]
    runs += improve["best"]["runs"] + improve["baseline"]["runs"]
    assert runs
    for run in runs:
        epochs = history_from_json(run["history"])
        assert [e.to_json() for e in epochs] == run["history"]


def test_a_broken_record_names_the_field_and_a_newer_format_is_refused() -> None:
    stored = _load("run_record.json")
    assert isinstance(stored, dict)
    with pytest.raises(BadInputError, match="field 'val_acc' expected int/float"):
        RunRecord.from_json(stored | {"val_acc": "high"}, "runs.db: run abc")
    without_seed = {k: v for k, v in stored.items() if k != "seed"}
    with pytest.raises(BadInputError, match=r"runs\.db: run abc: field 'seed' is missing"):
        RunRecord.from_json(without_seed, "runs.db: run abc")
    with pytest.raises(BadInputError, match=r"history\[1\]: field 'lr' is missing"):
        history_from_json([stored["history"][0], {"epoch": 2, "train_loss": 0.1}])
    with pytest.raises(BadInputError, match="format 2"):
        RunRecord.from_json(stored | {"format": 2})
    with pytest.raises(BadInputError, match="field 'epoch' expected int"):
        Epoch.from_json(stored["history"][0] | {"epoch": True})


RESULTS = {"diagnosis.json": Diagnosis, "ablation.json": AblationResult, "improve.json": ImproveResult}


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_a_result_file_of_format_1_loads_and_writes_its_keys_back(name: str) -> None:
    stored = _load(name)
    assert isinstance(stored, dict) and "format" not in stored
    record = RESULTS[name].from_json(stored, name)
    written = json.loads(json.dumps(record.to_json()))
    assert written.pop("format") == FORMAT
    _assert_holds(written, stored, name)  # every stored key comes back with its value (new keys may be added)
    assert RESULTS[name].from_json(written, name) == record


def test_the_result_records_answer_what_their_readers_ask() -> None:
    diagnosis = Diagnosis.from_json(_load("diagnosis.json"))
    assert diagnosis.codes == [f["code"] for f in _load("diagnosis.json")["findings"]]  # type: ignore[index]
    assert diagnosis.baseline_seconds == pytest.approx(sum(e.seconds or 0 for e in diagnosis.baseline_history))
    ablation = AblationResult.from_json(_load("ablation.json"))
    assert ablation.arms[0].is_baseline and ablation.arm(ablation.arms[1].name) is ablation.arms[1]
    with pytest.raises(KeyError, match="arms: baseline"):
        ablation.arm("no such arm")
    improve = ImproveResult.from_json(_load("improve.json"))
    assert improve.best.runs and improve.steps[0].phase == "data check"


def test_a_broken_result_file_names_the_file_and_the_field() -> None:
    stored = _load("diagnosis.json")
    assert isinstance(stored, dict)
    bad = stored | {"findings": [{"code": "NOT_A_CODE", "severity": "info", "message": "m"}]}
    with pytest.raises(BadInputError, match=r"run/diagnosis\.json: findings\[0\]: field 'code' 'NOT_A_CODE'.*known"):
        Diagnosis.from_json(bad, "run/diagnosis.json")
    ablation = _load("ablation.json")
    assert isinstance(ablation, dict)
    ablation["arms"][1]["ci95"] = [0.5]
    with pytest.raises(BadInputError, match=r"arms\[1\]: field 'ci95' expected \[low, high\]"):
        AblationResult.from_json(ablation)
    improve = _load("improve.json")
    assert isinstance(improve, dict)
    with pytest.raises(BadInputError, match=r"improve\.json: field 'runs_trained' is missing"):
        ImproveResult.from_json({k: v for k, v in improve.items() if k != "runs_trained"})


def _assert_holds(written: object, stored: object, where: str) -> None:
    if isinstance(stored, dict):
        assert isinstance(written, dict), where
        for key, value in stored.items():
            assert key in written, f"{where}.{key} is not written back"
            _assert_holds(written[key], value, f"{where}.{key}")
    elif isinstance(stored, list):
        assert isinstance(written, list) and len(written) == len(stored), where
        for index, (mine, theirs) in enumerate(zip(written, stored, strict=True)):
            _assert_holds(mine, theirs, f"{where}[{index}]")
    else:
        assert written == stored, where


def test_every_epoch_curve_reads_a_field_of_epoch() -> None:
    """Reports, MLflow and findings name per-epoch quantities through `EPOCH_CURVES`, never by string: each
    reads the Epoch field of its name, so a renamed field fails here rather than as a blank plot."""
    epoch = Epoch(3, 0.5, 0.8, 0.7, 0.75, 0.01)
    names = {field.name for field in dataclasses.fields(Epoch)}
    assert all(curve.name in names for curve in EPOCH_CURVES)
    assert [curve.of(epoch) for curve in EPOCH_CURVES] == [0.5, 0.8, 0.7, 0.75, 0.01]
