"""Rows read by name: a statement's select list is made from the type it fills.

`columns(View)` writes a select list in the order of the type's fields, and `reader(View)`
turns a driver row into the type, converting each value by its field's type: timestamps
come back as text on SQLite, booleans as integers, JSON as text, enums as their values.
A view type and its statement cannot drift apart: they are one list of names.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Callable, Sequence
from datetime import date, datetime
from enum import Enum
from typing import Any, TypeVar

from storage.driver import read_time

T = TypeVar("T")
Convert = Callable[[Any], Any]


def _same(value: Any) -> Any:
    return value


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _day(value: Any) -> Any:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _converter(annotation: Any) -> Convert:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        annotation = args[0]  # X | None: None passes through every converter below
    origin = typing.get_origin(annotation) or annotation
    convert: Convert = _same
    if annotation is datetime:
        convert = read_time
    elif annotation is date:
        convert = _day
    elif annotation is bool:
        convert = bool
    elif isinstance(annotation, type) and issubclass(annotation, Enum):
        convert = annotation
    elif origin in (dict, list):
        convert = _json
    if convert is _same or convert is read_time:
        return convert
    return lambda value: None if value is None else convert(value)


def fields(cls: type[Any]) -> list[str]:
    """The names a view type is filled from, in order: a dataclass's fields, or a
    SQLModel table's columns."""
    if dataclasses.is_dataclass(cls):
        return [f.name for f in dataclasses.fields(cls) if f.init]
    return list(cls.model_fields)


def columns(cls: type[Any], alias: str = "", **expressions: str) -> str:
    """The select list that fills `cls`: `a.id, a.name, ...`; a field given an expression
    is selected as it (`columns(Card, contact_id="id")`: `id AS contact_id`)."""
    prefix = f"{alias}." if alias else ""
    unknown = set(expressions) - set(fields(cls))
    if unknown:
        raise ValueError(f"{cls.__name__} has no field {sorted(unknown)}")
    return ", ".join(f"{expressions[name]} AS {name}" if name in expressions else prefix + name
                     for name in fields(cls))


def reader(cls: type[T]) -> Callable[[Sequence[Any]], T]:
    """A row (selected with `columns(cls)`) turned into `cls`, each value converted."""
    hints = typing.get_type_hints(cls)
    names = fields(cls)
    converters = [_converter(hints[name]) for name in names]

    def read(row: Sequence[Any]) -> T:
        values = {name: convert(value)
                  for name, convert, value in zip(names, converters, row, strict=True)}
        return cls(**values)

    return read
