"""Reading a record's JSON object field by field: the error names the field, what was expected and what
was found. `FORMAT` is the format version every record writes; a file without one is of format 1, the
format before it was written."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any, TypeVar

from liftlab.errors import BadInputError

FORMAT = 1

T = TypeVar("T")

JsonObject = dict[str, Any]
"""A JSON object as it is written to, or was read from, one of liftlab's files: what a record's `to_json`
returns and its `from_json` parses, and the sections one module documents that stay JSON inside a record (a
recipe's dump, a learning curve, the data check). Code reads a record's fields, never such an object's keys,
except where it parses one."""


def value_of(record: JsonObject, name: str, kinds: tuple[type, ...], where: str, optional: bool = False) -> Any:
    if name not in record:
        if optional:
            return None
        raise BadInputError(f"{where}: field '{name}' is missing")
    value = record[name]
    if value is None and optional:
        return None
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):  # True is an int too
        raise BadInputError(f"{where}: field '{name}' expected {'/'.join(k.__name__ for k in kinds)}, found {value!r}")
    return value


NUMBER = (int, float)


def as_object(record: Any, where: str) -> JsonObject:
    if not isinstance(record, dict):
        raise BadInputError(f"{where}: expected an object, found {type(record).__name__}")
    return record


def check_format(record: JsonObject, where: str) -> None:
    version = record.get("format", 1)
    if version != FORMAT:
        raise BadInputError(
            f"{where}: format {version!r}, this liftlab reads format {FORMAT}; use the liftlab that wrote it"
        )


def record_of(record: JsonObject, name: str, parse: Callable[[Any, str], T], where: str) -> T | None:
    """The nested record in field `name` parsed by `parse(value, where)`; None where the field is missing or null."""
    value = record.get(name)
    return None if value is None else parse(value, f"{where}: {name}")


def strings_of(record: JsonObject, name: str, where: str) -> tuple[str, ...]:
    values = value_of(record, name, (list,), where, optional=True) or []
    for index, value in enumerate(values):
        if not isinstance(value, str):
            raise BadInputError(f"{where}: field '{name}[{index}]' expected str, found {value!r}")
    return tuple(values)


def _pair(value: list[Any], name: str, where: str, null_bounds: bool) -> list[Any]:
    def bound(v: Any) -> bool:
        return (null_bounds and v is None) or (isinstance(v, NUMBER) and not isinstance(v, bool))

    if len(value) != 2 or not all(bound(v) for v in value):
        raise BadInputError(f"{where}: field '{name}' expected [low, high], found {value!r}")
    return value


def interval_of(record: JsonObject, name: str, where: str) -> tuple[float, float] | None:
    """[low, high] of numbers, or None where the field is missing or null."""
    value = value_of(record, name, (list,), where, optional=True)
    if value is None:
        return None
    low, high = _pair(value, name, where, null_bounds=False)
    return float(low), float(high)


def bounds_of(record: JsonObject, name: str, where: str) -> tuple[float | None, float | None]:
    """[low, high] where either bound may be null (no estimate: no final run finished); missing reads as
    (None, None)."""
    low, high = _pair(value_of(record, name, (list,), where, optional=True) or [None, None], name, where, True)
    return low, high


def plain(value: Any) -> Any:
    """A record's field as JSON: records by their `to_json`, tuples as lists, the rest as it is."""
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, (tuple, list)):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return value


def fields_json(record: Any, skip: tuple[str, ...] = ()) -> JsonObject:
    """Every field of the dataclass `record` but `skip`, by name, as JSON (`plain`)."""
    return {item.name: plain(getattr(record, item.name)) for item in fields(record) if item.name not in skip}
