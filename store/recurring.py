"""Which relations have a date on given month-days: the query behind recurring dates.

A run of a `recurring_date` trigger (domain/recurring.py) names its month-days ("02-28",
"02-29"); `due_clause` selects the relations whose date field falls on one of them, in
SQL on SQLite and PostgreSQL alike, so the AdmitMembers fan-out can page through them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Date, String, and_, extract, false, func, literal, or_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session, select

from domain.conditions import STANDARD_FIELDS
from store.models import Relation

_MONTH_DAY = re.compile(r"^(\d\d)-(\d\d)$")
# What a custom date must look like: an ISO date and nothing else. A datetime ("...T10:00Z")
# would need its timezone to say which day it is, so it is not taken as a date here.
_ISO_DATE = "____-__-__"


def due_clause(field: str, month_days: Sequence[str]) -> ColumnElement[bool]:
    """True for the relations whose date in `field` falls on one of `month_days` ("MM-DD").

    `field` is read as conditions read it (store/facts.py): a standard field when it has
    a standard field's name, else a custom field. A standard date column compares its
    month and day (not its text: PostgreSQL's DateStyle decides how a date reads as
    text); a custom field must hold an ISO date string "YYYY-MM-DD". Anything else (a
    standard field that is no date, a missing field, a number, a list, other text) is
    never due, and never an SQL error.
    """
    parsed = [_month_day(text) for text in month_days]
    if not parsed:
        return false()
    if field in STANDARD_FIELDS:
        column = Relation.__table__.c.get(field)  # type: ignore[attr-defined]
        if column is None or not isinstance(column.type, Date):
            return false()
        return or_(
            *(
                and_(extract("month", column) == month, extract("day", column) == day)
                for month, day in parsed
            )
        )
    value = _CustomText(Relation.__table__.c.custom, field)  # type: ignore[attr-defined]
    return and_(
        value.like(_ISO_DATE),
        func.substr(value, 6, 5).in_([f"{month:02d}-{day:02d}" for month, day in parsed]),
    )


def anyone_due(session: Session, field: str, month_days: Sequence[str]) -> bool:
    """Whether any relation is due: most days nobody's date comes round, and those days
    need no admission run at all."""
    query = select(Relation.id).where(due_clause(field, month_days)).limit(1)
    return session.exec(query).first() is not None


def _month_day(text: str) -> tuple[int, int]:
    found = _MONTH_DAY.match(text)
    if found is None:
        raise ValueError(f"not a month-day (MM-DD): {text!r}")
    return int(found[1]), int(found[2])


class _CustomText(FunctionElement[str]):
    """The text of one custom field (NULL when absent): `->>` on PostgreSQL.

    Not SQLAlchemy's `custom[field].as_string()`: on SQLite that is json_extract with a
    path, which SQLite (3.40) matches against the key as stored, so a field named
    `jubiléum` (stored escaped, "jubil\\u00e9um") or with a quote in its name is never
    found. json_each compares decoded keys: every name a relation can have works.
    """

    type = String()
    name = "custom_text"
    inherit_cache = True

    def __init__(self, column: Any, field: str) -> None:
        # The name is a bound parameter, part of the statement's cache key.
        super().__init__(column, literal(field, String()))


@compiles(_CustomText)  # PostgreSQL
def _json_operator(element: _CustomText, compiler: SQLCompiler, **kw: Any) -> str:
    column, key = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"({column} ->> {key})"


@compiles(_CustomText, "sqlite")
def _json_each(element: _CustomText, compiler: SQLCompiler, **kw: Any) -> str:
    column, key = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"(SELECT value FROM json_each({column}) WHERE key = {key})"
