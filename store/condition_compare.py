"""How a value compares with a condition's constant, as SQL: `_equal`, the orderings
and `contains` of `domain.conditions`, step by step.

The constant is known when the SQL is built, so its side of every rule is decided here
in Python, with the very functions `evaluate` uses (`as_bool`, `as_number`,
`as_date`), and only the stored value's side becomes SQL: a `CASE` over what kind of
value it turns out to be. Every expression is true or false, never NULL, so that `NOT`
keeps its meaning.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Text, case, false, literal, or_

from domain.conditions import as_bool, as_date, as_number, fold_case, is_number
from store.condition_values import Dates, Reading, Value, sure
from store.sql_dialects import Dialect, Sql

ORDER = {"lt": operator.lt, "lte": operator.le, "gt": operator.gt, "gte": operator.ge}
Op = Callable[[Any, Any], Any]
_EQ: Op = operator.eq


@dataclass(frozen=True)
class Constant:
    """A condition's constant, read once the way `_comparable` reads it."""

    value: Any

    @property
    def is_bool(self) -> bool:
        return isinstance(self.value, bool)

    @property
    def is_number(self) -> bool:
        return is_number(self.value)

    @property
    def text(self) -> str:
        return str(self.value)


# --- comparing -----------------------------------------------------------------------


class Comparer:
    """`_equal`, the orderings and `contains` of `domain.conditions`, as SQL over a
    value's columns (for a set value: whether it is set is the caller's question)."""

    def __init__(self, dialect: Dialect) -> None:
        self.d = dialect

    def equal(self, value: Value, constant: Constant) -> Sql:
        return self._compare(value, constant, _EQ)

    def order(self, value: Value, constant: Constant, op: str) -> Sql:
        return self._compare(value, constant, ORDER[op])

    def contains(self, value: Value, constant: Constant) -> Sql:
        whens: list[tuple[Sql, Sql]] = []
        if value.is_list is not None and value.items is not None:
            having = value.items(lambda item: self.equal(item, constant))
            whens.append((value.is_list, value.key.in_(having)))
        textual = [
            kind
            for kind in (value.is_bool, value.is_number, value.is_string, value.is_dated)
            if kind is not None
        ]
        if textual:
            needle = literal(fold_case(constant.text), Text)
            whens.append((or_(*textual), sure(self.d.contains(self.d.fold(value.text), needle))))
        # An object (or anything else) contains nothing.
        return case(*whens, else_=false()) if whens else false()

    def _compare(self, value: Value, constant: Constant, op: Op) -> Sql:
        """Equality or an order between a set value and a constant, kind by kind."""
        whens: list[tuple[Sql, Sql]] = []
        if value.is_bool is not None:
            # A bool on either side: both as booleans.
            wanted = constant.value if constant.is_bool else as_bool(constant.value)
            whens.append((value.is_bool, _against(value.truth, op, _as_int(wanted))))
        if value.is_number is not None:
            if constant.is_bool:
                number = _against(value.flag, op, int(constant.value))
            else:
                number = _against(value.number, op, as_number(constant.value))
            whens.append((value.is_number, number))
        if value.is_string is not None and value.reading is not None:
            whens.append((value.is_string, self._string(value.text, value.reading, constant, op)))
        if value.is_dated is not None:
            # A date is neither a boolean nor a number.
            dated: Sql = false()
            if not (constant.is_bool or constant.is_number):
                dated = self._text_or_dates(value.text, value.dates, constant, op)
            whens.append((value.is_dated, dated))
        return case(*whens, else_=false()) if whens else false()

    def _string(self, text: Sql, reading: Reading, constant: Constant, op: Op) -> Sql:
        if constant.is_bool:
            return _against(reading.truth, op, int(constant.value))
        if constant.is_number:
            return _against(reading.number, op, as_number(constant.value))
        return self._text_or_dates(text, reading.dates, constant, op, reading.number)

    def _text_or_dates(
        self,
        text: Sql,
        dates: Dates | None,
        constant: Constant,
        op: Op,
        number: Sql | None = None,
    ) -> Sql:
        """Dates with dates when both sides are dates, else text (`_comparable`)."""
        as_text = self._text(text, constant, op, number)
        moment = as_date(constant.value)
        if moment is None or dates is None:
            return as_text
        is_date = or_(dates.is_day, dates.is_moment)
        return case((is_date, self._dates(dates, moment, op)), else_=as_text)

    def _text(self, text: Sql, constant: Constant, op: Op, number: Sql | None) -> Sql:
        if op is _EQ:
            return sure(self.d.fold(text) == fold_case(constant.text))
        as_text = sure(op(self.d.ordered(text), literal(constant.text, Text)))
        wanted = as_number(constant.text)
        if wanted is None or number is None:
            return as_text
        # Text holding numbers on both sides orders by value ("9" before "18").
        return case((number.is_not(None), sure(op(number, wanted))), else_=as_text)

    def _dates(self, dates: Dates, moment: date | datetime, op: Op) -> Sql:
        """`_align_dates`: a day with a moment compares days; a moment with a zone and
        one without compare wall clocks; two with zones compare instants."""
        ordered = self.d.ordered
        if isinstance(moment, datetime):
            day = moment.date().isoformat()
            wall = _wall(moment)
            if moment.tzinfo is None:
                at_moment = sure(op(ordered(dates.wall), wall))
            else:
                at_moment = case(
                    (dates.has_zone, sure(op(ordered(dates.utc), _wall(_in_utc(moment))))),
                    else_=sure(op(ordered(dates.wall), wall)),
                )
        else:
            day = moment.isoformat()
            at_moment = sure(op(ordered(dates.day), day))
        return case(
            (dates.is_day, sure(op(ordered(dates.day), day))),
            (dates.is_moment, at_moment),
            else_=false(),
        )


def _against(left: Sql | None, op: Op, right: Any) -> Sql:
    """`left op right`, false where either side has no value (`_comparable`'s None)."""
    if left is None or right is None:
        return false()
    return sure(op(left, right))


def _as_int(flag: bool | None) -> int | None:
    return None if flag is None else int(flag)


def _wall(moment: datetime) -> str:
    return moment.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _in_utc(moment: datetime) -> datetime:
    offset = moment.utcoffset()
    assert offset is not None
    return moment.replace(tzinfo=None) - offset
