"""What a condition compiled to SQL (`store/condition_sql.py`) cannot mean, refused
before anything is built, naming where in the condition it is (`("all", 1, "field")`):
a segment's API answers 422 with that place.

- Fields of the event that admitted a trip (`event.amount`): a segment has no such
  event (nor does an event's `where`, where they would never hold).
- A field name with a double quote: SQLite 3.40's JSON paths cannot spell one.
- A list as the constant of an operator other than `in`, a NaN or infinite number, a
  moment that has no UTC time (at the very ends of the calendar): SQL cannot compare
  with them as Python does.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from domain.conditions import (
    EVENT_FIELD_PREFIX,
    AllCondition,
    AnyCondition,
    Condition,
    EventCondition,
    FieldCondition,
    NotCondition,
    as_date,
)

Path = tuple[str | int, ...]


class UnsupportedCondition(ValueError):
    """A condition that has no meaning in SQL over relations; `path` locates the part
    (`("all", 1, "field")`) within the condition as written."""

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message)
        self.path = path


def check(condition: Condition, path: Path = ()) -> None:
    """Refuse, naming where, what compiling could not mean: `event.` fields (also in a
    `where`, where they would be nothing), field names SQLite cannot address, constants
    SQL cannot read as Python does."""
    if isinstance(condition, AllCondition):
        for index, child in enumerate(condition.all):
            check(child, (*path, "all", index))
    elif isinstance(condition, AnyCondition):
        for index, child in enumerate(condition.any):
            check(child, (*path, "any", index))
    elif isinstance(condition, NotCondition):
        check(condition.not_, (*path, "not"))
    elif isinstance(condition, EventCondition):
        if condition.where is not None:
            check(condition.where, (*path, "where"))
    elif isinstance(condition, FieldCondition):
        _check_name(condition.field, (*path, "field"))
        if condition.op not in ("is_set", "is_not_set"):
            _check_constant(condition, (*path, "value"))


def _check_name(name: str, path: Path) -> None:
    if name.startswith(EVENT_FIELD_PREFIX):
        raise UnsupportedCondition(
            f"field '{name}' is a field of the event that admitted a trip; "
            "outside a journey there is no such event",
            path,
        )
    if '"' in name:
        raise UnsupportedCondition(f"field '{name}': a field name cannot hold '\"'", path)


def _check_constant(condition: FieldCondition, path: Path) -> None:
    """One value (a list only for `in`), finite, and a moment that has a UTC time."""
    value = condition.value
    if isinstance(value, list) and condition.op != "in":
        raise UnsupportedCondition(
            f"field '{condition.field}': op '{condition.op}' takes one value, not a list", path
        )
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, float) and not math.isfinite(item):
            raise UnsupportedCondition(
                f"field '{condition.field}': {item} is not a number to compare with", path
            )
        moment = as_date(item)
        if isinstance(moment, datetime) and moment.tzinfo is not None:
            try:
                moment.replace(tzinfo=None) - (moment.utcoffset() or timedelta(0))
            except OverflowError:
                raise UnsupportedCondition(
                    f"field '{condition.field}': the moment is out of range", path
                ) from None
