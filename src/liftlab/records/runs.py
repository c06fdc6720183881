"""Typed, immutable records of what liftlab trained: an epoch and a run.

The bottom layer (no torch): the runner builds them, the run store keeps them, and `ablate`, `improve`,
`tune`, the statistics and the reports read their fields instead of string keys. Each has `to_json` (the
documented keys, the same as the files written before these classes existed) and `from_json`, which names
the field that is missing or of the wrong type. `FORMAT` is written into every run record; a record
without one is of format 1, the format before it was written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from liftlab.errors import BadInputError
from liftlab.records.fields import (
    FORMAT,
    NUMBER,
    JsonObject,
    as_object,
    check_format,
    fields_json,
    interval_of,
    record_of,
    strings_of,
    value_of,
)


@dataclass(frozen=True)
class Epoch:
    """One epoch of a run's history. `val_loss`/`val_acc` are None on epochs that were not validated;
    `seconds` is None where a record keeps epoch times apart (a run record's `epoch_seconds`)."""

    epoch: int
    train_loss: float
    train_acc: float | None
    val_loss: float | None
    val_acc: float | None
    lr: float
    seconds: float | None = None
    train_seconds: float | None = None
    grad_norms: tuple[float, ...] | None = None

    def to_json(self) -> JsonObject:
        record: JsonObject = {
            "epoch": self.epoch,
            "train_loss": self.train_loss,
            "train_acc": self.train_acc,
            "val_loss": self.val_loss,
            "val_acc": self.val_acc,
            "lr": self.lr,
        }
        for name in ("seconds", "train_seconds"):
            if getattr(self, name) is not None:
                record[name] = getattr(self, name)
        if self.grad_norms is not None:
            record["grad_norms"] = list(self.grad_norms)
        return record

    @classmethod
    def from_json(cls, record: JsonObject, where: str = "epoch") -> Epoch:
        """One epoch from its JSON object; the error names a missing or mistyped field.

        >>> row = {"epoch": 1, "train_loss": 0.5, "train_acc": 0.8, "val_loss": None, "val_acc": None, "lr": 0.1}
        >>> Epoch.from_json(row).to_json() == row
        True
        """
        if not isinstance(record, dict):
            raise BadInputError(f"{where}: expected an object, found {record!r}")
        norms = value_of(record, "grad_norms", (list,), where, optional=True)
        return cls(
            epoch=value_of(record, "epoch", (int,), where),
            train_loss=value_of(record, "train_loss", NUMBER, where),
            train_acc=value_of(record, "train_acc", NUMBER, where, optional=True),
            val_loss=value_of(record, "val_loss", NUMBER, where, optional=True),
            val_acc=value_of(record, "val_acc", NUMBER, where, optional=True),
            lr=value_of(record, "lr", NUMBER, where),
            seconds=value_of(record, "seconds", NUMBER, where, optional=True),
            train_seconds=value_of(record, "train_seconds", NUMBER, where, optional=True),
            grad_norms=tuple(float(n) for n in norms) if norms is not None else None,
        )


@dataclass(frozen=True)
class Geometry:
    """Images' own geometry before liftlab resizes them: median short side (px) and aspect ratio (width over
    height) of `sampled` files (`data.geometry` measures it from the file headers)."""

    short_side: float
    aspect_ratio: float
    sampled: int

    def to_json(self) -> JsonObject:
        return fields_json(self)

    @classmethod
    def from_json(cls, record: Any, where: str) -> Geometry:
        record = as_object(record, where)
        return cls(float(value_of(record, "short_side", NUMBER, where)),
                   float(value_of(record, "aspect_ratio", NUMBER, where)),
                   int(value_of(record, "sampled", (int,), where, optional=True) or 0))  # fmt: skip


@dataclass(frozen=True)
class EpochCurve:
    """One per-epoch quantity of a run's history: the `Epoch` field it reads (also its name in MLflow and in
    a finding's evidence) and what a plot calls it."""

    name: str
    title: str

    def of(self, epoch: Epoch) -> float | None:
        value: float | None = getattr(epoch, self.name)
        return value


TRAIN_LOSS = EpochCurve("train_loss", "training loss")
TRAIN_ACC = EpochCurve("train_acc", "training accuracy")
VAL_LOSS = EpochCurve("val_loss", "validation loss")
VAL_ACC = EpochCurve("val_acc", "validation accuracy")
LEARNING_RATE = EpochCurve("lr", "learning rate")
EPOCH_CURVES = (TRAIN_LOSS, TRAIN_ACC, VAL_LOSS, VAL_ACC, LEARNING_RATE)


def history_from_json(records: list[JsonObject], where: str = "history") -> tuple[Epoch, ...]:
    """A history.json (or a run record's `history`) as epochs."""
    if not isinstance(records, list):
        raise BadInputError(f"{where}: expected a list of epochs, found {type(records).__name__}")
    return tuple(Epoch.from_json(r, f"{where}[{i}]") for i, r in enumerate(records))


@dataclass(frozen=True)
class RunRecord:
    """A finished training run as the run store keeps it: what `ablate`, `improve` and the statistics read.

    `test_predictions` is empty for a run that was not scored on the test split (the search's runs) or that
    failed; `stopped_reason` says why a run failed (then it is never chosen), `stopped_by_time` after which
    epoch the deadline cut it before the end of its schedule (then it is never scored as its recipe).
    """

    key: str
    seed: int
    strategies: tuple[str, ...]
    val_acc: float | None
    test_acc: float | None
    history: tuple[Epoch, ...]
    seconds: float
    epoch_seconds: tuple[float, ...] = ()
    val_labels: tuple[int, ...] = ()
    val_predictions: tuple[int, ...] = ()
    test_labels: tuple[int, ...] = ()
    test_predictions: tuple[int, ...] = ()
    stopped_reason: str | None = None
    stopped_by_time: int | None = None  # the epoch after which the deadline stopped it
    resumed_from_epoch: int | None = None
    dtype: str = ""
    device: str = ""
    liftlab_version: str = ""
    data_fingerprint: str = ""  # `ImageData.fingerprint`: which images, in which split, with which label

    @property
    def failed(self) -> bool:
        """Diverged, crashed or never validated: never chosen, never scored."""
        return self.stopped_reason is not None or self.val_acc is None

    @property
    def scored_on_test(self) -> bool:
        return bool(self.test_predictions)

    def with_test(self, labels: list[int], predictions: list[int]) -> RunRecord:
        """The same run scored on the test split afterwards (from its saved model)."""
        correct = sum(int(p == y) for p, y in zip(predictions, labels, strict=True))
        accuracy = correct / len(labels) if labels else None
        return replace(self, test_labels=tuple(labels), test_predictions=tuple(predictions), test_acc=accuracy)

    def to_json(self) -> JsonObject:
        # a record from before fingerprints were kept writes back the keys it was read with
        skipped = () if self.data_fingerprint else ("data_fingerprint",)
        return fields_json(self, skip=skipped) | {"format": FORMAT}

    @classmethod
    def from_json(cls, record: JsonObject, where: str = "run record") -> RunRecord:
        check_format(as_object(record, where), where)

        def numbers(name: str, kind: type = int) -> tuple[Any, ...]:
            values = value_of(record, name, (list,), where, optional=True) or []
            return tuple(kind(v) for v in values)

        return cls(
            key=value_of(record, "key", (str,), where),
            seed=value_of(record, "seed", (int,), where),
            strategies=tuple(value_of(record, "strategies", (list,), where, optional=True) or ()),
            val_acc=value_of(record, "val_acc", NUMBER, where, optional=True),
            test_acc=value_of(record, "test_acc", NUMBER, where, optional=True),
            history=history_from_json(value_of(record, "history", (list,), where), f"{where}: history"),
            seconds=float(value_of(record, "seconds", NUMBER, where)),
            epoch_seconds=numbers("epoch_seconds", float),
            val_labels=numbers("val_labels"),
            val_predictions=numbers("val_predictions"),
            test_labels=numbers("test_labels"),
            test_predictions=numbers("test_predictions"),
            stopped_reason=value_of(record, "stopped_reason", (str,), where, optional=True),
            stopped_by_time=value_of(record, "stopped_by_time", (int, bool), where, optional=True),
            resumed_from_epoch=value_of(record, "resumed_from_epoch", (int,), where, optional=True),
            dtype=value_of(record, "dtype", (str,), where, optional=True) or "",
            device=value_of(record, "device", (str,), where, optional=True) or "",
            liftlab_version=value_of(record, "liftlab_version", (str,), where, optional=True) or "",
            data_fingerprint=value_of(record, "data_fingerprint", (str,), where, optional=True) or "",
        )


@dataclass(frozen=True)
class RunSummary:
    """What ablation.json and improve.json keep of a run: its accuracies, seconds and curves (and why the
    deadline or a failure stopped it, where one did)."""

    seed: int
    val_acc: float | None
    test_acc: float | None
    history: tuple[Epoch, ...]
    seconds: float | None = None  # ablation.json files of format 1 have none
    stopped_reason: str | None = None
    stopped_by_time: int | None = None

    @classmethod
    def of(cls, run: RunRecord, timed: bool = True) -> RunSummary:
        """`timed=False` leaves the seconds out: an ablation's file is the same however its runs were timed
        (a resumed ablation must equal an uninterrupted one)."""
        return cls(run.seed, run.val_acc, run.test_acc, run.history, run.seconds if timed else None,
                   run.stopped_reason, run.stopped_by_time)  # fmt: skip

    def to_json(self) -> JsonObject:
        return fields_json(self, skip=("seconds",) if self.seconds is None else ())

    @classmethod
    def from_json(cls, record: Any, where: str) -> RunSummary:
        record = as_object(record, where)
        return cls(
            seed=value_of(record, "seed", (int,), where),
            val_acc=value_of(record, "val_acc", NUMBER, where, optional=True),
            test_acc=value_of(record, "test_acc", NUMBER, where, optional=True),
            seconds=value_of(record, "seconds", NUMBER, where, optional=True),
            history=history_from_json(value_of(record, "history", (list,), where, optional=True) or [],
                                      f"{where}: history"),
            stopped_reason=value_of(record, "stopped_reason", (str,), where, optional=True),
            stopped_by_time=value_of(record, "stopped_by_time", (int, bool), where, optional=True),
        )  # fmt: skip


@dataclass(frozen=True)
class LeakFreeAccuracy:
    """Accuracy over the test images without a copy in the training or validation split, with its 95%
    interval, and how many images it kept and left out (`stats.accuracy_without` measures it)."""

    value: float
    ci95: tuple[float, float]
    images: int
    left_out: int

    def to_json(self) -> JsonObject:
        return {"value": self.value, "ci95": list(self.ci95), "images": self.images, "left_out": self.left_out}

    @classmethod
    def from_json(cls, record: Any, where: str) -> LeakFreeAccuracy:
        record = as_object(record, where)
        low, high = interval_of(record, "ci95", where) or (math.nan, math.nan)
        return cls(float(value_of(record, "value", NUMBER, where)), (low, high),
                   value_of(record, "images", (int,), where), value_of(record, "left_out", (int,), where))  # fmt: skip


RUN_METRICS = ("data", "seed", "val_acc", "test_acc", "test_leak_free", "n_train", "n_val", "n_test", "classes",
               "seconds", "images_per_second", "device", "dtype", "stopped_reason", "strategies",
               "liftlab_version", "native_geometry", "skipped", "data_fingerprint")  # fmt: skip


@dataclass(frozen=True)
class RunMetrics:
    """A run folder's metrics.json: what the run scored, on which data, and how it ran. `extra` holds what a
    training path adds beside these (execution evidence, a probe's features, processes, resumes, where the
    schedule annealed by time), written at the top level of the file as before."""

    data: str
    seed: int
    val_acc: float | None
    test_acc: float | None
    n_train: int
    n_val: int
    n_test: int
    classes: tuple[str, ...]
    seconds: float
    images_per_second: float
    device: str
    dtype: str
    stopped_reason: str | None = None
    strategies: tuple[str, ...] = ()
    liftlab_version: str = ""
    data_fingerprint: str = ""
    test_leak_free: LeakFreeAccuracy | None = None
    native_geometry: Geometry | None = None  # the training images
    skipped: tuple[dict[str, str], ...] = ()  # the unusable files left out ({path, reason})
    extra: JsonObject = field(default_factory=dict)

    def with_test(self, test_acc: float, leak_free: LeakFreeAccuracy | None) -> RunMetrics:
        return replace(self, test_acc=test_acc, test_leak_free=leak_free)

    def to_json(self) -> JsonObject:
        return fields_json(self, skip=("extra",)) | self.extra

    @classmethod
    def from_json(cls, record: Any, where: str = "metrics.json") -> RunMetrics:
        record = as_object(record, where)
        leak_free = value_of(record, "test_leak_free", (dict,), where, optional=True)
        return cls(
            data=value_of(record, "data", (str,), where),
            seed=value_of(record, "seed", (int,), where),
            val_acc=value_of(record, "val_acc", NUMBER, where, optional=True),
            test_acc=value_of(record, "test_acc", NUMBER, where, optional=True),
            n_train=value_of(record, "n_train", (int,), where),
            n_val=value_of(record, "n_val", (int,), where),
            n_test=value_of(record, "n_test", (int,), where),
            classes=strings_of(record, "classes", where),
            seconds=float(value_of(record, "seconds", NUMBER, where)),
            images_per_second=float(value_of(record, "images_per_second", NUMBER, where)),
            device=value_of(record, "device", (str,), where),
            dtype=value_of(record, "dtype", (str,), where),
            stopped_reason=value_of(record, "stopped_reason", (str,), where, optional=True),
            strategies=strings_of(record, "strategies", where),
            liftlab_version=value_of(record, "liftlab_version", (str,), where, optional=True) or "",
            data_fingerprint=value_of(record, "data_fingerprint", (str,), where, optional=True) or "",
            test_leak_free=LeakFreeAccuracy.from_json(leak_free, f"{where}: test_leak_free") if leak_free else None,
            native_geometry=record_of(record, "native_geometry", Geometry.from_json, where),
            skipped=tuple(value_of(record, "skipped", (list,), where, optional=True) or ()),
            extra={key: value for key, value in record.items() if key not in RUN_METRICS},
        )
