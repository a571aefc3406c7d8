"""A value a condition looks at (a relation's column or custom field, a payload key, a
list item), as SQL sees it, and how it compares with a condition's constant.

Each function mirrors one step of `domain.conditions` (`_equal`, `_comparable`,
`_apply`); the constant is known when the SQL is built, so its side of every rule is
decided here in Python, with the very functions `evaluate` uses, and only the stored
value's side becomes SQL: a `CASE` over what kind of value it turns out to be.
A value's readings (its text as a number, a boolean, a date) are columns of a one-row
derived table (`Let`), and every expression is true or false, never NULL, so `NOT`
keeps its meaning.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Float,
    FromClause,
    Select,
    Text,
    and_,
    case,
    cast,
    false,
    func,
    literal,
    or_,
    select,
    true,
)

from domain.conditions import MAX_NUMBER_TEXT, as_bool, as_date, as_number, fold_case, is_number
from store.sql_dialects import (
    Dialect,
    Json,
    Sql,
    as_integer,
    moment_body,
    valid_day,
    valid_time,
    zone_length,
)
from store.sql_let import Columns, Let

ORDER = {"lt": operator.lt, "lte": operator.le, "gt": operator.gt, "gte": operator.ge}
Op = Callable[[Any, Any], Any]
_EQ: Op = operator.eq


def sure(condition: Sql) -> Sql:
    """True or false, never NULL (a comparison with NULL is NULL in SQL)."""
    return case((condition, true()), else_=false())


def guarded(shape: Sql, then: Sql) -> Sql:
    """`then` where `shape` holds, false elsewhere: casts in `then` see only good text."""
    return case((shape, sure(then)), else_=false())


@dataclass(frozen=True)
class Dates:
    """A value read as a date (`day`, 'YYYY-MM-DD') or a moment: its wall clock as
    written (`wall`, 'YYYY-MM-DD HH:MM:SS.ffffff') and, if it names a zone, in UTC."""

    is_day: Sql
    is_moment: Sql
    has_zone: Sql
    day: Sql
    wall: Sql
    utc: Sql


@dataclass(frozen=True)
class Reading:
    """Text read as `as_number`, `as_bool` (1/0) and `as_date` read it (NULL: it is not);
    None where the comparison at hand does not need that reading."""

    number: Sql | None
    truth: Sql | None
    dates: Dates | None


# Readings of text a comparison may need (see `needs_of`).
NUMBER, TRUTH, DATES = "number", "truth", "dates"
Needs = frozenset[str]
NOTHING: Needs = frozenset()


@dataclass(frozen=True)
class Scope:
    """The rows a condition's parts are about: relations (`key` their id), or the events
    of one type (`where` says which)."""

    key: Sql
    sources: tuple[FromClause, ...]
    where: tuple[Sql, ...] = ()


@dataclass(frozen=True)
class Value:
    """What SQL can ask of a value, as columns of `rows`. Each `is_*` says the value is
    of that kind; None where it never is. `text` is Python's str() of it (for bools,
    numbers, strings, dates and moments); `truth` 1/0 for bools; `flag` 1/0 for the
    integers 1 and 0 (which read as booleans), NULL for other numbers."""

    rows: Let
    is_set: Sql
    text: Sql
    is_bool: Sql | None = None
    truth: Sql | None = None
    is_number: Sql | None = None
    number: Sql | None = None
    flag: Sql | None = None
    is_string: Sql | None = None
    reading: Reading | None = None  # of a string
    is_dated: Sql | None = None  # a date or datetime column
    dates: Dates | None = None
    is_list: Sql | None = None
    # The keys that have an item satisfying a condition over the item's columns.
    items: Callable[[Callable[[Value], Sql]], Select[Any]] | None = None

    @property
    def key(self) -> Sql:
        """Whose value it is: the id of the relation (or event) its row belongs to."""
        key: Sql = self.rows.c.key
        return key


# --- building values -----------------------------------------------------------------


def json_value(
    dialect: Dialect,
    json: Json,
    scope: Scope,
    needs: Needs = NOTHING,
    item_needs: Needs | None = NOTHING,
) -> Value:
    """A JSON member, or (`item_needs` None) an item of an array. List items are never
    lists to look into: a list inside a list equals nothing (nor is an item asked
    whether it is set)."""
    kind = dialect.type_is
    t, r = json.type, json.raw
    is_true = dialect.json_true(t, r)
    length = sure(dialect.array_length(json) > 0) if item_needs is not None else true()
    rows = Let(
        scope.key,
        scope.sources,
        scope.where,
        t=t,
        s=json.text,
        r=r,
        is_set=case(
            (t.is_(None), false()),
            (kind(t, "null"), false()),
            (kind(t, "string"), sure(json.text != "")),
            (kind(t, "array"), length),
            else_=true(),
        ),
        txt=case(
            (kind(t, "bool"), case((is_true, "True"), else_="False")),
            (kind(t, "number"), r),
            else_=json.text,
        ),
        truth=case((is_true, 1), else_=0),
        number=dialect.json_number(t, r),
        flag=case((r == "1", 1), (r == "0", 0), else_=None),
    )
    rows = _read_text(dialect, rows, "s", needs)
    c = rows.c

    def with_item(holds: Callable[[Value], Sql]) -> Select[Any]:
        items, item, guard = dialect.items(json)
        among = Scope(scope.key, (*scope.sources, items), (*scope.where, guard))
        value = json_value(dialect, item, among, item_needs or NOTHING, None)
        return select(value.key).where(holds(value))

    return Value(
        rows=rows,
        is_set=c.is_set,
        text=c.txt,
        is_bool=kind(c.t, "bool"),
        truth=c.truth,
        is_number=kind(c.t, "number"),
        number=c.number,
        flag=c.flag,
        is_string=kind(c.t, "string"),
        reading=_reading(c, needs),
        is_list=kind(c.t, "array") if item_needs is not None else None,
        items=with_item if item_needs is not None else None,
    )


def text_column(dialect: Dialect, column: Sql, scope: Scope, needs: Needs = NOTHING) -> Value:
    rows = _read_text(dialect, Let(scope.key, scope.sources, s=column), "s", needs)
    c = rows.c
    return Value(
        rows=rows,
        is_set=and_(c.s.is_not(None), c.s != ""),
        text=c.s,
        is_string=c.s.is_not(None),
        reading=_reading(c, needs),
    )


def bool_column(dialect: Dialect, column: Sql, scope: Scope) -> Value:
    rows = Let(scope.key, scope.sources, b=column)
    c = rows.c
    return Value(
        rows=rows,
        is_set=c.b.is_not(None),
        text=case((c.b, "True"), else_="False"),
        is_bool=c.b.is_not(None),
        truth=dialect.as_int(c.b),
    )


def date_column(dialect: Dialect, column: Sql, scope: Scope) -> Value:
    rows = Let(scope.key, scope.sources, d=dialect.day_text(column))
    c = rows.c
    day = Dates(is_day=true(), is_moment=false(), has_zone=false(), day=c.d, wall=c.d, utc=c.d)
    return Value(rows=rows, is_set=c.d.is_not(None), text=c.d, is_dated=c.d.is_not(None), dates=day)


def utc_column(dialect: Dialect, column: Sql, scope: Scope) -> Value:
    """An aware datetime column, always UTC: str() of it is '... HH:MM:SS[.ffffff]+00:00'."""
    rows = Let(scope.key, scope.sources, w=dialect.utc_wall(column))
    c = rows.c
    micro = func.substr(c.w, 21, 6)
    text = (
        func.substr(c.w, 1, 19)
        + case((micro == "000000", ""), else_=literal(".", Text) + micro)
        + literal("+00:00", Text)
    )
    moment = Dates(
        is_day=false(),
        is_moment=true(),
        has_zone=true(),
        day=func.substr(c.w, 1, 10),
        wall=c.w,
        utc=c.w,
    )
    return Value(
        rows=rows, is_set=c.w.is_not(None), text=text, is_dated=c.w.is_not(None), dates=moment
    )


def _read_text(dialect: Dialect, rows: Let, name: str, needs: Needs) -> Let:
    """Columns that read the text column `name` as `as_number` (`tn`), `as_bool` (`tb`,
    1/0) and `as_date` (`day_ok`, `moment_ok`, `z`, `wall`) read it: those that `needs`
    asks for. Two steps at most: every step nests a subquery, and SQLite's parser
    allows only so many."""
    number, truth, dates = NUMBER in needs, TRUTH in needs, DATES in needs
    if not (number or truth or dates):
        return rows

    def pieces(c: Columns) -> dict[str, Sql]:
        text, trimmed = c[name], dialect.trim(c[name])
        found: dict[str, Sql] = {"st": trimmed}
        if number:
            found["nshape"] = dialect.number_shape(trimmed)
        if truth:
            word = dialect.fold(trimmed)
            found["tb"] = case(
                (word.in_(("true", "yes", "1")), 1), (word.in_(("false", "no", "0")), 0), else_=None
            )
        if dates:
            found["z"] = zone_length(text)
            found["body"] = moment_body(text, zone_length(text))
        return found

    def readings(c: Columns) -> dict[str, Sql]:
        found: dict[str, Sql] = {}
        if number:
            fits = and_(func.length(c.st) <= MAX_NUMBER_TEXT, c.nshape)
            found["tn"] = case((fits, cast(c.st, Float)), else_=None)
        if dates:
            found.update(_date_readings(dialect, c[name], c.z, c.body))
        return found

    def in_utc(c: Columns) -> dict[str, Sql]:
        return {"utc": _utc(dialect, c[name], c.z, c.wall, c.moment_ok)}

    rows = rows.then(pieces).then(readings)
    return rows.then(in_utc) if dates else rows


def _date_readings(dialect: Dialect, text: Sql, zone: Sql, body: Sql) -> dict[str, Sql]:
    second = case((func.length(body) >= 3, func.substr(body, 2, 2)), else_="00")
    fraction = case((func.length(body) >= 5, func.substr(body, 5)), else_="")
    return {
        "day_ok": guarded(dialect.day_shape(text), valid_day(dialect, text)),
        "moment_ok": guarded(
            dialect.moment_shape(text, zone, body),
            and_(valid_day(dialect, text), valid_time(text, zone, body)),
        ),
        "wall": func.substr(text, 1, 10)
        + literal(" ", Text)
        + func.substr(text, 12, 5)
        + literal(":", Text)
        + second
        + literal(".", Text)
        + func.substr(fraction + literal("000000", Text), 1, 6),
    }


def _utc(dialect: Dialect, text: Sql, zone: Sql, wall: Sql, moment_ok: Sql) -> Sql:
    """The moment in UTC; NULL unless it is a valid moment with a zone (it casts)."""
    end = func.length(text)
    sign = case((func.substr(text, end - 5, 1) == "-", -1), else_=1)
    hours, minutes = func.substr(text, end - 4, 2), func.substr(text, end - 1, 2)
    offset = case((zone == 6, sign * (as_integer(hours) * 60 + as_integer(minutes))), else_=0)
    moved = dialect.minus_minutes(func.substr(wall, 1, 19), offset)
    utc = moved + literal(".", Text) + func.substr(wall, 21, 6)
    return case((moment_ok, case((zone > 0, utc), else_=None)), else_=None)


def _reading(c: Columns, needs: Needs) -> Reading:
    dates = None
    if DATES in needs:
        dates = Dates(
            is_day=c.day_ok,
            is_moment=c.moment_ok,
            has_zone=c.z > 0,
            day=func.substr(c.s, 1, 10),
            wall=c.wall,
            utc=c.utc,
        )
    return Reading(
        number=c.tn if NUMBER in needs else None,
        truth=c.tb if TRUTH in needs else None,
        dates=dates,
    )


def needs_of(values: list[Any], *, ordering: bool) -> Needs:
    """The readings of text that comparing with these constants takes (`_comparable`):
    a boolean's, a number's, a date's, and for an order a number's of numeric text."""
    needs: set[str] = set()
    for value in values:
        if isinstance(value, bool):
            needs.add(TRUTH)
        elif is_number(value):
            needs.add(NUMBER)
        else:
            if as_date(value) is not None:
                needs.add(DATES)
            if ordering and as_number(str(value)) is not None:
                needs.add(NUMBER)
    return frozenset(needs)


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
    value's columns (wrap the result in `value.holds`)."""

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
            whens.append((value.is_list, false()))
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
