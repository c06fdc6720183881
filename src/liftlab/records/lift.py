"""The lift on the test split, as improve.json's `lift` holds it: the winner's mean test accuracy minus the
baseline's, its 95% interval, the test that gave its p-value, what it describes (`kind`, `scope`: a recipe
over fresh seeds, or two trained models) and, where test images have a copy in training, the same figures
without them (`leak_free`). `experiments/improve/lift.py` measures it; `report/verdict.py` words it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from liftlab.records.fields import NUMBER, JsonObject, as_object, bounds_of, value_of

RECIPE, MODELS, NONE = "recipe", "model comparison", "none"
"""`Lift.kind`: what the figures describe (the verdict's words follow it)."""


@dataclass(frozen=True)
class Interval:
    """A figure and its 95% interval; None where nothing was scored."""

    value: float | None
    ci95: tuple[float | None, float | None] = (None, None)

    def to_json(self) -> JsonObject:
        return {"value": self.value, "ci95": list(self.ci95)}

    @classmethod
    def from_json(cls, record: Any, where: str) -> Interval:
        record = as_object(record, where)
        value = value_of(record, "value", NUMBER, where, optional=True)
        return cls(None if value is None else float(value), bounds_of(record, "ci95", where))


MISSING = Interval(None)


@dataclass(frozen=True)
class LiftTest:
    """The lift's p-value and the test that gave it, and McNemar's p (do the two sides differ on these images)."""

    p_value: float | None = None
    method: str | None = None  # improve.json's `test`
    mcnemar_p: float | None = None

    def to_json(self) -> JsonObject:
        return {"p_value": self.p_value, "test": self.method, "mcnemar_p": self.mcnemar_p}

    @classmethod
    def from_json(cls, record: JsonObject, where: str) -> LiftTest:
        return cls(
            value_of(record, "p_value", NUMBER, where, optional=True),
            value_of(record, "test", (str,), where, optional=True),
            value_of(record, "mcnemar_p", NUMBER, where, optional=True),
        )


@dataclass(frozen=True)
class TestFigures:
    """Both sides' mean test accuracy and the lift, each with its 95% interval, on one set of test images
    (`images` of them, `left_out` leaked ones not counted, where the set leaves any out)."""

    __test__ = False  # a record, not a pytest class

    best: Interval
    baseline: Interval
    lift: Interval
    test: LiftTest = LiftTest()
    images: int | None = None
    left_out: int | None = None

    def to_json(self) -> JsonObject:
        found: JsonObject = {"best": self.best.to_json(), "baseline": self.baseline.to_json(),
                                 "lift": self.lift.to_json() | self.test.to_json()}  # fmt: skip
        if self.images is not None:
            found |= {"images": self.images, "left_out": self.left_out}
        return found

    @classmethod
    def from_json(cls, record: Any, where: str) -> TestFigures:
        record = as_object(record, where)
        lift = as_object(record.get("lift", {}), f"{where}: lift")
        return cls(
            Interval.from_json(value_of(record, "best", (dict,), where), f"{where}: best"),
            Interval.from_json(value_of(record, "baseline", (dict,), where), f"{where}: baseline"),
            Interval.from_json(lift, f"{where}: lift") if lift else MISSING,
            LiftTest.from_json(lift, f"{where}: lift"),
            value_of(record, "images", (int,), where, optional=True),
            value_of(record, "left_out", (int,), where, optional=True),
        )


@dataclass(frozen=True)
class Lift:
    """improve.json's `lift`: the figures over every test image, what they describe, how many seed pairs were
    scored and cut, and why there is no verdict (`no_verdict`) or no lift (`no_lift`) where there is none."""

    value: float | None
    ci95: tuple[float | None, float | None]
    test: LiftTest
    kind: str
    scope: str | None = None
    arms_compared: int = 0
    seeds_scored: int = 0
    seeds_cut: int = 0
    compute_ratio: float | None = None  # the winner's training seconds over the baseline's (like for like only)
    no_verdict: str | None = None
    no_lift: str | None = None
    leak_free: TestFigures | None = None

    @property
    def interval(self) -> Interval:
        return Interval(self.value, self.ci95)

    def to_json(self) -> JsonObject:
        found = self.interval.to_json() | self.test.to_json()
        found |= {"kind": self.kind, "scope": self.scope, "arms_compared": self.arms_compared,
                  "seeds_scored": self.seeds_scored, "seeds_cut": self.seeds_cut,
                  "compute_ratio": self.compute_ratio}  # fmt: skip
        found |= {name: text for name, text in (("no_verdict", self.no_verdict), ("no_lift", self.no_lift)) if text}
        if self.leak_free is not None:
            found["leak_free"] = self.leak_free.to_json()
        return found

    @classmethod
    def from_json(cls, record: Any, where: str) -> Lift:
        record = as_object(record, where)
        interval = Interval.from_json(record, where)
        leak_free = value_of(record, "leak_free", (dict,), where, optional=True)
        return cls(
            value=interval.value,
            ci95=interval.ci95,
            test=LiftTest.from_json(record, where),
            kind=value_of(record, "kind", (str,), where, optional=True) or NONE,
            scope=value_of(record, "scope", (str,), where, optional=True),
            arms_compared=value_of(record, "arms_compared", (int,), where, optional=True) or 0,
            seeds_scored=value_of(record, "seeds_scored", (int,), where, optional=True) or 0,
            seeds_cut=value_of(record, "seeds_cut", (int,), where, optional=True) or 0,
            compute_ratio=value_of(record, "compute_ratio", NUMBER, where, optional=True),
            no_verdict=value_of(record, "no_verdict", (str,), where, optional=True),
            no_lift=value_of(record, "no_lift", (str,), where, optional=True),
            leak_free=TestFigures.from_json(leak_free, f"{where}: leak_free") if leak_free is not None else None,
        )
