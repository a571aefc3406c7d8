"""A value a condition looks at (a relation's column or custom field, a payload key, a
list item), as SQL sees it: what kind of value it turns out to be, its text, and the
readings of that text that `domain.conditions` makes (as a number, a boolean, a date).

A value is a CTE of rows keyed by the relation (or event) it belongs to, built in steps
(`Let`); only the readings that the comparison at hand needs are computed (`needs_of`),
since each costs SQL to build and to run. `store/condition_compare.py` compares them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
    select,
    true,
)

from domain.conditions import MAX_NUMBER_TEXT, as_date, as_number, is_number
from store.sql_dialects import (
    Dialect,
    Json,
    Sql,
    as_integer,
    day_ok,
    moment_body,
    moment_ok,
    zone_length,
)
from store.sql_let import Columns, Let


def sure(condition: Sql) -> Sql:
    """True or false, never NULL (a comparison with NULL is NULL in SQL)."""
    return case((condition, true()), else_=false())


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

    # An array's length is read where the member is (PostgreSQL: only of an array).
    length = dialect.array_length(json) if item_needs is not None else literal(1)
    n = case((kind(json.type, "array"), length), else_=None)
    base = Let(scope.key, scope.sources, scope.where, t=json.type, s=json.text, r=json.raw, n=n)
    rows = _read_text(dialect, base, "s", needs)
    # The rest reads the columns directly: a step of its own would cost more to build.
    c = rows.c
    is_true = dialect.json_true(c.t, c.r)

    def with_item(holds: Callable[[Value], Sql]) -> Select[Any]:
        items, item, guard = dialect.items(json)
        among = Scope(scope.key, (*scope.sources, items), (*scope.where, guard))
        value = json_value(dialect, item, among, item_needs or NOTHING, None)
        return select(value.key).where(holds(value))

    return Value(
        rows=rows,
        is_set=case(
            (c.t.is_(None), false()),
            (kind(c.t, "null"), false()),
            (kind(c.t, "string"), sure(c.s != "")),
            (kind(c.t, "array"), sure(c.n > 0)),
            else_=true(),
        ),
        text=case(
            (kind(c.t, "bool"), case((is_true, "True"), else_="False")),
            (kind(c.t, "number"), c.r),
            else_=c.s,
        ),
        is_bool=kind(c.t, "bool"),
        truth=case((is_true, 1), else_=0),
        is_number=kind(c.t, "number"),
        number=dialect.json_number(c.t, c.r),
        flag=case((c.r == "1", 1), (c.r == "0", 0), else_=None),
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
    1/0) and `as_date` (`day_ok`, `moment_ok`, `z`, `wall`, `utc`) read it: those that
    `needs` asks for, each step reading the columns of the one before."""
    number, truth, dates = NUMBER in needs, TRUTH in needs, DATES in needs
    if not (number or truth or dates):
        return rows

    def trimmed(c: Columns) -> dict[str, Sql]:
        found = {"st": dialect.trim(c[name])} if number or truth else {}
        return {**found, "z": zone_length(c[name])} if dates else found

    number_steps = dialect.number_steps() if number else []

    def pieces(c: Columns) -> dict[str, Sql]:
        found: dict[str, Sql] = number_steps[0](c) if number_steps else {}
        if truth:
            word = dialect.fold(c.st)
            found["tb"] = case(
                (word.in_(("true", "yes", "1")), 1), (word.in_(("false", "no", "0")), 0), else_=None
            )
        if dates:
            found["body"] = moment_body(c[name], c.z)
        return found

    def readings(c: Columns) -> dict[str, Sql]:
        found: dict[str, Sql] = {}
        if number:
            fits = and_(func.length(c.st) <= MAX_NUMBER_TEXT, c.nshape)
            found["tn"] = case((fits, cast(c.st, Float)), else_=None)
        if dates:
            found.update(_date_readings(dialect, c[name], c.z, c.body))
        return found

    rows = rows.then(trimmed).then(pieces)
    for step in number_steps[1:]:
        rows = rows.then(step)

    def in_utc(c: Columns) -> dict[str, Sql]:
        # A column of its own: inline, it would nest deep in the comparison's CASEs.
        utc = _utc(dialect, c[name], c.z, c.wall)
        return {"utc": case((c.moment_ok, case((c.z > 0, utc), else_=None)), else_=None)}

    rows = rows.then(readings)
    return rows.then(in_utc) if dates else rows


def _date_readings(dialect: Dialect, text: Sql, zone: Sql, body: Sql) -> dict[str, Sql]:
    second = case((func.length(body) >= 3, func.substr(body, 2, 2)), else_="00")
    fraction = case((func.length(body) >= 5, func.substr(body, 5)), else_="")
    return {
        "day_ok": sure(day_ok(dialect, text)),
        "moment_ok": sure(moment_ok(dialect, text, zone, body)),
        "wall": func.substr(text, 1, 10)
        + literal(" ", Text)
        + func.substr(text, 12, 5)
        + literal(":", Text)
        + second
        + literal(".", Text)
        + func.substr(fraction + literal("000000", Text), 1, 6),
    }


def _utc(dialect: Dialect, text: Sql, zone: Sql, wall: Sql) -> Sql:
    """The moment in UTC: to be read only of a valid moment with a zone (it casts)."""
    end = func.length(text)
    sign = case((func.substr(text, end - 5, 1) == "-", -1), else_=1)
    hours, minutes = func.substr(text, end - 4, 2), func.substr(text, end - 1, 2)
    offset = case((zone == 6, sign * (as_integer(hours) * 60 + as_integer(minutes))), else_=0)
    moved = dialect.minus_minutes(func.substr(wall, 1, 19), offset)
    return moved + literal(".", Text) + func.substr(wall, 21, 6)


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
