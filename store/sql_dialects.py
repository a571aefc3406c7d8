"""What condition SQL needs that SQLite and PostgreSQL spell differently, one class each.

`store/condition_sql.py` builds a condition with the `Dialect` of the database that
compiles the statement: a compiled condition is an ordinary expression that works on
whichever database runs it.

Everything here reproduces a rule of `domain/conditions.py` exactly, so it stays as
small as the rules are: JSON members and array items, ASCII case folding, code-point
ordering, the shapes of number and date text, and moving a wall-clock time by minutes.
In PostgreSQL a cast of bad text raises, and `AND` does not promise to check its left
side first, so every cast sits inside a `CASE` that has checked the shape before.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    TIMESTAMP,
    Boolean,
    ColumnElement,
    Float,
    FromClause,
    Integer,
    Text,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    or_,
    true,
)

from domain.conditions import MAX_INT_DIGITS, TEXT_SPACE
from store.sql_let import Columns, Step

Sql = ColumnElement[Any]


@dataclass(frozen=True)
class Json:
    """A JSON value in the database: a member of an object column, or an array item.

    `type` is the database's name for its JSON type (NULL when absent); `text` the
    string of a JSON string; `raw` the JSON text as stored (for numbers: Python's own
    spelling, since Python wrote it). `where` holds what the dialect needs to reach the
    value again (its array length, its items)."""

    type: Sql
    text: Sql
    raw: Sql
    where: tuple[Any, ...]


def as_integer(text: Sql) -> Sql:
    return cast(text, Integer)


class Dialect:
    """The common part: everything both databases spell alike."""

    name: str
    JSON_TYPES: dict[str, tuple[str, ...]]

    # --- JSON ----------------------------------------------------------------------------

    def member(self, document: Sql, key: str) -> Json:
        raise NotImplementedError

    def items(self, array: Json) -> tuple[FromClause, Json, Sql]:
        """The array's items as rows (a FROM that reads the array's row beside it), one
        of them as a Json, and what must hold besides for the rows to be items
        (nothing but an array has items)."""
        raise NotImplementedError

    def type_is(self, json_type: Sql, kind: str) -> Sql:
        """kind: null, bool, number, string, array, object."""
        names = self.JSON_TYPES[kind]
        return json_type == names[0] if len(names) == 1 else json_type.in_(names)

    def json_true(self, json_type: Sql, raw: Sql) -> Sql:
        raise NotImplementedError

    def array_length(self, value: Json) -> Sql:
        """Only where the value is known to be an array (PostgreSQL raises otherwise)."""
        raise NotImplementedError

    def json_number(self, json_type: Sql, raw: Sql) -> Sql:
        """A JSON number's float; NULL for other values and for integers of more than
        MAX_INT_DIGITS digits (domain.conditions.as_number)."""
        digits = case((func.substr(raw, 1, 1) == "-", func.length(raw) - 1), else_=func.length(raw))
        fits = case((digits <= MAX_INT_DIGITS, cast(raw, Float)), else_=None)
        return case((self.type_is(json_type, "number"), fits), else_=None)

    # --- text ----------------------------------------------------------------------------

    def fold(self, text: Sql) -> Sql:
        """ASCII letters lowered, as domain.conditions.fold_case."""
        raise NotImplementedError

    def contains(self, haystack: Sql, needle: Sql) -> Sql:
        raise NotImplementedError

    def ordered(self, text: Sql) -> Sql:
        """Text that orders by code point, as Python's str does."""
        raise NotImplementedError

    def trim(self, text: Sql) -> Sql:
        raise NotImplementedError

    def number_steps(self) -> list[Step]:
        """Steps that read column `st` (trimmed text) and end with column `nshape`: the
        text is a plain decimal (domain.conditions.NUMBER_TEXT)."""
        raise NotImplementedError

    def day_shape(self, text: Sql) -> Sql:
        """Exactly YYYY-MM-DD, digits where digits go."""
        raise NotImplementedError

    def moment_shape(self, text: Sql, zone: Sql, body: Sql) -> Sql:
        """YYYY-MM-DD[T ]HH:MM[:SS[.f{1,6}]][Z|+HH:MM], digits only where digits go;
        `zone` and `body` as `zone_length` and `moment_body` compute them."""
        raise NotImplementedError

    def real_date(self, day: Sql) -> Sql:
        """'YYYY-MM-DD' (digits known) names a day the month has (Feb 30 is none)."""
        raise NotImplementedError

    def minus_minutes(self, wall: Sql, minutes: Sql) -> Sql:
        """'YYYY-MM-DD HH:MM:SS' moved back by a number of minutes, same spelling."""
        raise NotImplementedError

    # --- columns -------------------------------------------------------------------------

    def day_text(self, column: Sql) -> Sql:
        """A date column as 'YYYY-MM-DD'."""
        raise NotImplementedError

    def utc_wall(self, column: Sql) -> Sql:
        """An aware timestamp column as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC."""
        raise NotImplementedError

    def as_int(self, flag: Sql) -> Sql:
        """A boolean column as 1 or 0."""
        return case((flag, 1), else_=0)


class Sqlite(Dialect):
    name = "sqlite"
    JSON_TYPES = {
        "null": ("null",),
        "bool": ("true", "false"),
        "number": ("integer", "real"),
        "string": ("text",),
        "array": ("array",),
        "object": ("object",),
    }

    def member(self, document: Sql, key: str) -> Json:
        # A path names the key as stored, and SQLAlchemy stores JSON with Python's
        # json.dumps (non-ASCII escaped): the path spells it the same way. SQLite 3.40's
        # paths cannot hold a double quote (the compiler refuses such field names).
        path = literal('$."' + json.dumps(key)[1:-1] + '"', Text)
        return Json(
            type=func.json_type(document, path, type_=Text),
            text=func.json_extract(document, path, type_=Text),
            raw=document.op("->", return_type=Text)(path),
            where=(document, path),
        )

    def items(self, array: Json) -> tuple[FromClause, Json, Sql]:
        document, path = array.where
        rows = func.json_each(document, path).table_valued(
            "value", "type", "fullkey", joins_implicitly=True
        )
        item = Json(
            type=rows.c.type,
            text=rows.c.value,
            raw=document.op("->", return_type=Text)(rows.c.fullkey),
            where=(),
        )
        # json_each walks an object's members too, and yields a scalar as one row.
        return rows, item, self.type_is(array.type, "array")

    def json_true(self, json_type: Sql, raw: Sql) -> Sql:
        return json_type == "true"

    def array_length(self, value: Json) -> Sql:
        document, path = value.where
        return func.json_array_length(document, path)

    def fold(self, text: Sql) -> Sql:
        # SQLite's lower() changes ASCII letters only, which is the rule.
        return func.lower(text, type_=Text)

    def contains(self, haystack: Sql, needle: Sql) -> Sql:
        return func.instr(haystack, needle) > 0

    def ordered(self, text: Sql) -> Sql:
        return text  # BINARY: UTF-8 bytes, which order as code points do

    def trim(self, text: Sql) -> Sql:
        return func.trim(text, literal(TEXT_SPACE, Text), type_=Text)

    def number_steps(self) -> list[Step]:
        # No regular expressions in SQLite: after one sign, the mantissa (digits and at
        # most one dot, at least one digit) and the exponent (one or two digits after
        # an optional sign) are checked apart with GLOB, which matches the whole text.
        def unsigned(c: Columns) -> dict[str, Sql]:
            signed = func.substr(c.st, 1, 1).in_(("+", "-"))
            return {"u": case((signed, func.substr(c.st, 2)), else_=c.st)}

        def shape(c: Columns) -> dict[str, Sql]:
            at = func.instr(func.upper(c.u), "E")
            mantissa = case((at > 0, func.substr(c.u, 1, at - 1)), else_=c.u)
            exponent = func.substr(c.u, at + 1)
            exponents = ("[0-9]", "[0-9][0-9]", "[+-][0-9]", "[+-][0-9][0-9]")
            return {
                "nshape": and_(
                    _glob(mantissa, "*[0-9]*"),
                    ~_glob(mantissa, "*[^0-9.]*"),
                    ~_glob(mantissa, "*.*.*"),
                    or_(at == 0, *(_glob(exponent, pattern) for pattern in exponents)),
                )
            }

        return [unsigned, shape]

    def day_shape(self, text: Sql) -> Sql:
        return _glob(text, _DAY_GLOB)

    def moment_shape(self, text: Sql, zone: Sql, body: Sql) -> Sql:
        end = func.length(text)
        return and_(
            end.between(16, 32),
            _glob(func.substr(text, 1, 10), _DAY_GLOB),
            func.substr(text, 11, 1).in_(("T", " ")),
            _glob(func.substr(text, 12, 5), "[0-9][0-9]:[0-9][0-9]"),
            or_(zone != 6, _glob(func.substr(text, end - 5), "[+-][0-9][0-9]:[0-9][0-9]")),
            or_(
                body == "",
                _glob(body, ":[0-9][0-9]"),
                and_(
                    _glob(body, ":[0-9][0-9].[0-9]*"),
                    func.length(body) <= 10,
                    ~_glob(func.substr(body, 5), "*[^0-9]*"),
                ),
            ),
        )

    def real_date(self, day: Sql) -> Sql:
        # julianday() carries Feb 30 over into March, and knows no month 13.
        return func.date(func.julianday(day)) == day

    def minus_minutes(self, wall: Sql, minutes: Sql) -> Sql:
        modifier = cast(-minutes, Text) + literal(" minutes", Text)
        return func.datetime(wall, modifier, type_=Text)

    def day_text(self, column: Sql) -> Sql:
        return cast(column, Text)  # stored as 'YYYY-MM-DD'

    def utc_wall(self, column: Sql) -> Sql:
        return cast(column, Text)  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff', in UTC


class Postgres(Dialect):
    name = "postgresql"
    JSON_TYPES = {
        "null": ("null",),
        "bool": ("boolean",),
        "number": ("number",),
        "string": ("string",),
        "array": ("array",),
        "object": ("object",),
    }

    def member(self, document: Sql, key: str) -> Json:
        value = document.op("->")(literal(key, Text))
        text = document.op("->>", return_type=Text)(literal(key, Text))
        return Json(type=func.json_typeof(value, type_=Text), text=text, raw=text, where=(value,))

    def items(self, array: Json) -> tuple[FromClause, Json, Sql]:
        (value,) = array.where
        # json_array_elements raises on anything but an array; NULL gives no rows.
        only_array = case((func.json_typeof(value) == "array", value), else_=None)
        rows = (
            func.json_array_elements(only_array)
            .table_valued("value", joins_implicitly=True)
            .render_derived()
        )
        text = rows.c.value.op("#>>", return_type=Text)(literal_column("'{}'"))
        item = Json(type=func.json_typeof(rows.c.value, type_=Text), text=text, raw=text, where=())
        return rows, item, true()

    def json_true(self, json_type: Sql, raw: Sql) -> Sql:
        return raw == "true"

    def array_length(self, value: Json) -> Sql:
        (document,) = value.where
        return func.json_array_length(document)

    def fold(self, text: Sql) -> Sql:
        # lower() would lower every letter the locale knows; the rule is ASCII only.
        return func.translate(text, string.ascii_uppercase, string.ascii_lowercase, type_=Text)

    def contains(self, haystack: Sql, needle: Sql) -> Sql:
        return func.strpos(haystack, needle) > 0

    def ordered(self, text: Sql) -> Sql:
        # The database's collation may be a language's (en_US ignores punctuation).
        return text.collate("C")

    def trim(self, text: Sql) -> Sql:
        return func.btrim(text, literal(TEXT_SPACE, Text), type_=Text)

    def number_steps(self) -> list[Step]:
        return [lambda c: {"nshape": c.st.op("~", return_type=Boolean)(_NUMBER_REGEX)}]

    def day_shape(self, text: Sql) -> Sql:
        return text.op("~", return_type=Boolean)(_DAY_REGEX)

    def moment_shape(self, text: Sql, zone: Sql, body: Sql) -> Sql:
        return text.op("~", return_type=Boolean)(_MOMENT_REGEX)

    def real_date(self, day: Sql) -> Sql:
        # A cast would raise on Feb 30; the calendar fits in a regular expression.
        return day.op("~", return_type=Boolean)(_REAL_DATE_REGEX)

    def minus_minutes(self, wall: Sql, minutes: Sql) -> Sql:
        moved = cast(wall, TIMESTAMP) - func.make_interval(0, 0, 0, 0, 0, minutes)
        return func.to_char(moved, "YYYY-MM-DD HH24:MI:SS", type_=Text)

    def day_text(self, column: Sql) -> Sql:
        return func.to_char(column, "YYYY-MM-DD", type_=Text)

    def utc_wall(self, column: Sql) -> Sql:
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD HH24:MI:SS.US", type_=Text)


_DAY_GLOB = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
_NUMBER_REGEX = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,2})?$"
_DAY_REGEX = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_REAL_DATE_REGEX = (
    r"^([0-9]{4}-((0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])|(0[13-9]|1[0-2])-(29|30)"
    r"|(0[13578]|1[02])-31)"
    r"|([0-9]{2}(0[48]|[2468][048]|[13579][26])|(0[48]|[2468][048]|[13579][26])00)-02-29)$"
)
_MOMENT_REGEX = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}"
    r"(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})?$"
)


def _glob(text: Sql, pattern: str) -> Sql:
    return text.op("GLOB", return_type=Boolean)(literal(pattern, Text))


# --- pieces of date text: both databases alike ------------------------------------------


def zone_length(text: Sql) -> Sql:
    """Characters of the zone at the end of a moment: 1 for 'Z', 6 for '+HH:MM', else 0."""
    end = func.length(text)
    return case(
        (func.substr(text, end, 1) == "Z", 1),
        (func.substr(text, end - 5, 1).in_(("+", "-")), 6),
        else_=0,
    )


def moment_body(text: Sql, zone: Sql) -> Sql:
    """What follows HH:MM before the zone: '', ':SS' or ':SS.fff' (in a moment)."""
    rest = func.length(text) - 16 - zone
    # PostgreSQL refuses a negative length, and this is read of any text.
    return case((rest > 0, func.substr(text, 17, rest)), else_="")


def day_ok(dialect: Dialect, text: Sql) -> Sql:
    """The text is a date as `as_date` reads one: YYYY-MM-DD, a day the month has."""
    return and_(dialect.day_shape(text), _real_day(dialect, text))


def moment_ok(dialect: Dialect, text: Sql, zone: Sql, body: Sql) -> Sql:
    """The text is a moment as `as_date` reads one, hours, minutes, seconds and zone in
    range (compared as text: the shape has made them two digits each)."""
    end = func.length(text)
    return and_(
        dialect.moment_shape(text, zone, body),
        _real_day(dialect, func.substr(text, 1, 10)),
        func.substr(text, 12, 2) <= "23",
        func.substr(text, 15, 2) <= "59",
        or_(func.length(body) < 3, func.substr(body, 2, 2) <= "59"),
        or_(
            zone != 6,
            and_(func.substr(text, end - 4, 2) <= "23", func.substr(text, end - 1, 2) <= "59"),
        ),
    )


def _real_day(dialect: Dialect, day: Sql) -> Sql:
    return and_(func.substr(day, 1, 4) != "0000", dialect.real_date(day))
