"""Conditions on relation data: a small tree with one meaning everywhere.

A condition is evaluated against `RelationFacts` (a relation's fields, group keys, its
events and the event that admitted the trip) and explains itself, so a trip's path can
say *why* a branch was taken without copying the relation's personal data into workflow
history. Segments use the same tree; `store/condition_sql.py` compiles it to SQL with
the same meaning (a property test keeps the two equal).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from domain.durations import Duration

# Columns of a relation; any other name refers to a custom field.
STANDARD_FIELDS = frozenset(
    {
        "email",
        "phone",
        "first_name",
        "last_name",
        "birth_date",
        "timezone",
        "locale",
        "opt_in_email",
        "opt_in_sms",
        "created_at",
    }
)

Operator = Literal["eq", "ne", "lt", "lte", "gt", "gte", "in", "contains", "is_set", "is_not_set"]
_UNARY = frozenset({"is_set", "is_not_set"})
Scalar = bool | int | float | str | date | datetime | None


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldCondition(_Node):
    """Compare one relation field with a value (`{field: age, op: gte, value: 18}`)."""

    field: str = Field(min_length=1)
    op: Operator
    value: Scalar | list[Scalar] = None

    def model_post_init(self, __context: Any) -> None:
        if self.op in _UNARY and self.value is not None:
            raise ValueError(f"op '{self.op}' takes no value")
        if self.op not in _UNARY and self.value is None:
            raise ValueError(f"op '{self.op}' needs a value")
        if self.op == "in" and not isinstance(self.value, list):
            raise ValueError("op 'in' needs a list as value")


class GroupCondition(_Node):
    """The relation is (or is not, under `not`) a member of the group with this key."""

    in_group: str = Field(min_length=1)


# Fields of the event that admitted the trip: `event.amount`, `event.fund`.
EVENT_FIELD_PREFIX = "event."


class EventCondition(_Node):
    """The relation has an event of this type (whose payload matches `where`), at most
    `within` ago (ISO-8601 duration; default: ever). `where` speaks of payload keys."""

    event: str = Field(min_length=1, max_length=100)
    where: Condition | None = None
    within: str | None = Field(default=None, max_length=60)

    def model_post_init(self, __context: Any) -> None:
        if self.within is not None:
            Duration.parse(self.within)

    @property
    def period(self) -> timedelta | None:
        if self.within is None:
            return None
        return timedelta(seconds=Duration.parse(self.within).seconds)


class AllCondition(_Node):
    all: list[Condition] = Field(min_length=1)


class AnyCondition(_Node):
    any: list[Condition] = Field(min_length=1)


class NotCondition(_Node):
    not_: Condition = Field(alias="not")
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _kind(value: Any) -> str | None:
    # Anything else (a marketer's "age > 18" string) is no condition: None lets pydantic
    # report it as a validation error instead of crashing.
    if isinstance(value, dict):
        keys = set(value)
    elif isinstance(value, BaseModel):
        keys = set(type(value).model_fields)
    else:
        return None
    for tag, key in (
        ("all", "all"),
        ("any", "any"),
        ("not", "not"),
        ("not", "not_"),
        ("group", "in_group"),
        ("event", "event"),
        ("field", "field"),
    ):
        if key in keys:
            return tag
    return None


Condition = Annotated[
    Annotated[AllCondition, Tag("all")]
    | Annotated[AnyCondition, Tag("any")]
    | Annotated[NotCondition, Tag("not")]
    | Annotated[GroupCondition, Tag("group")]
    | Annotated[EventCondition, Tag("event")]
    | Annotated[FieldCondition, Tag("field")],
    Discriminator(
        _kind,
        custom_error_type="condition",
        custom_error_message="a condition needs one of: all, any, not, in_group, event, field",
    ),
]

for _model in (AllCondition, AnyCondition, NotCondition, EventCondition):
    _model.model_rebuild()


# Far beyond what a marketer writes by hand, and well inside what pydantic (here) and
# the workflow's payload decoding (in the worker) can nest: the API once accepted 253
# levels that trips could not decode.
MAX_CONDITION_DEPTH = 32
MAX_CONDITION_NODES = 500


def bounded(raw: Any) -> Any:
    """Refuse a condition nested too deep or too large, before pydantic recurses into it.
    Depth counts conditions (`{"not": {"all": [...]}}` is two levels), not JSON lists."""
    nodes = 0
    pending: list[tuple[Any, int]] = [(raw, 0)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, list):
            pending.extend((item, depth) for item in value)
        elif isinstance(value, dict):
            nodes += 1
            if depth + 1 > MAX_CONDITION_DEPTH:
                raise ValueError(f"a condition may nest at most {MAX_CONDITION_DEPTH} levels deep")
            if nodes > MAX_CONDITION_NODES:
                raise ValueError(f"a condition may have at most {MAX_CONDITION_NODES} parts")
            pending.extend((item, depth + 1) for item in value.values())
    return raw


@dataclass(frozen=True)
class EventFact:
    """One of the relation's events, as a condition sees it."""

    type: str
    occurred_at: datetime
    payload: dict[str, Any]


@dataclass(frozen=True)
class RelationFacts:
    """What a condition may look at: field values (standard and custom), group keys,
    the relation's events (those of the types the condition names), the payload of the
    event that admitted the trip (`event.amount`), and `as_of`, the moment `within`
    counts back from."""

    fields: dict[str, Any]
    groups: frozenset[str] = field(default_factory=frozenset)
    events: tuple[EventFact, ...] = ()
    event: dict[str, Any] | None = None
    as_of: datetime | None = None


@dataclass(frozen=True)
class Evaluation:
    result: bool
    reason: str


def evaluate(condition: Condition, facts: RelationFacts) -> Evaluation:
    """Evaluate for one relation; the reason names fields, operators and groups, never a
    value (the path and Temporal history keep it, and a value compared with says what
    the relation's own value is or is not)."""
    if isinstance(condition, AllCondition):
        outcomes = [evaluate(child, facts) for child in condition.all]
        failed = [o for o in outcomes if not o.result]
        if failed:
            return Evaluation(False, failed[0].reason)
        return Evaluation(True, " and ".join(o.reason for o in outcomes))
    if isinstance(condition, AnyCondition):
        outcomes = [evaluate(child, facts) for child in condition.any]
        passed = [o for o in outcomes if o.result]
        if passed:
            return Evaluation(True, passed[0].reason)
        return Evaluation(False, " and ".join(o.reason for o in outcomes))
    if isinstance(condition, NotCondition):
        inner = evaluate(condition.not_, facts)
        return Evaluation(not inner.result, f"not ({inner.reason})")
    if isinstance(condition, GroupCondition):
        member = condition.in_group in facts.groups
        verb = "is" if member else "is not"
        return Evaluation(member, f"{verb} in group '{condition.in_group}'")
    if isinstance(condition, EventCondition):
        found = any(_event_matches(condition, e, facts.as_of) for e in facts.events)
        verb = "has" if found else "has no"
        period = f" within {condition.within}" if condition.within else ""
        return Evaluation(found, f"{verb} event '{condition.event}'{period}")
    return _compare(condition, facts)


def _event_matches(condition: EventCondition, fact: EventFact, as_of: datetime | None) -> bool:
    if fact.type != condition.event:
        return False
    period = condition.period
    if period is not None:
        if as_of is None:
            return False
        earliest = since(as_of, period)
        if earliest is not None and fact.occurred_at < earliest:
            return False
    return condition.where is None or evaluate(condition.where, payload_facts(fact.payload)).result


def since(as_of: datetime, period: timedelta) -> datetime | None:
    """The earliest moment `within` reaches back to; None when that is before the year
    1 (a `within` of millennia: every event is within it, where subtracting overflows)."""
    try:
        return as_of - period
    except OverflowError:
        return None


def payload_facts(payload: dict[str, Any]) -> RelationFacts:
    """An event's payload as the facts a payload condition (`where`) looks at."""
    return RelationFacts(fields=payload)


def field_value(facts: RelationFacts, name: str) -> Any:
    if name.startswith(EVENT_FIELD_PREFIX):
        return (facts.event or {}).get(name[len(EVENT_FIELD_PREFIX) :])
    return facts.fields.get(name)


def _compare(condition: FieldCondition, facts: RelationFacts) -> Evaluation:
    actual = field_value(facts, condition.field)
    result = _apply(condition.op, actual, condition.value)
    # Field and operator only: with the constant, `city eq 'Utrecht': yes` would tell the
    # relation's city to anyone reading the path or Temporal history, also after an erase.
    return Evaluation(result, f"{condition.field} {condition.op}: {'yes' if result else 'no'}")


def _show(value: Any) -> str:
    """A condition's constant as written in the definition's JSON, whichever Python type
    it was given as: a reason reads `'2000-01-01'`, never `datetime.date(2000, 1, 1)`."""
    if isinstance(value, list):
        return "[" + ", ".join(_show(item) for item in value) + "]"
    if isinstance(value, date):
        return repr(value.isoformat())
    return repr(value)


def _is_set(value: Any) -> bool:
    return value is not None and value != "" and value != []


# --- how values compare ------------------------------------------------------------------
#
# Segments select with SQL what `evaluate` decides here (`store/condition_sql.py`, kept
# equal by a property test on SQLite and PostgreSQL), so every rule below is one that
# both databases can follow exactly. Where Python alone could do more, the rule was
# narrowed to what SQL can do too (a segment and an `if` on the same condition must
# agree on every relation):
# - case is ignored for ASCII letters only (SQLite's lower() knows no other letters),
#   not with str.casefold();
# - text reads as a number when it is a plain decimal (`42`, ` -1.5 `, `1e3`), not any
#   float() spelling (`inf`, `1_000`, Unicode digits); at most 40 characters, and an
#   exponent of at most two digits, so no database overflows where Python would not;
# - text reads as a date when it is `YYYY-MM-DD`, or a moment `YYYY-MM-DD[T ]HH:MM`
#   with optional `:SS`, `.ffffff` (1 to 6 digits) and `Z` or `+HH:MM`, not every
#   spelling fromisoformat() accepts;
# - a list or an object (in custom fields or payloads) equals nothing and orders with
#   nothing; `contains` looks at a list's items and finds nothing in an object; None
#   (a list item, an `in` item) equals nothing;
# - integers of more than 300 digits are no numbers.

# What str.strip() would remove, limited to what SQL's trim() can be told.
TEXT_SPACE = " \t\n\r\x0b\x0c"
NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,2})?")
MAX_NUMBER_TEXT = 40
MAX_INT_DIGITS = 300
_DATE_TEXT = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_MOMENT_TEXT = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2})"
    r"(?::([0-9]{2})(?:\.([0-9]{1,6}))?)?(Z|[+-][0-9]{2}:[0-9]{2})?"
)
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def fold_case(text: str) -> str:
    """Text as compared without regard to case: ASCII letters lowered, nothing else."""
    return text.translate(_ASCII_LOWER)


def _apply(op: str, actual: Any, expected: Any) -> bool:
    if op == "is_set":
        return _is_set(actual)
    if op == "is_not_set":
        return not _is_set(actual)
    if not _is_set(actual):
        # A missing value satisfies no comparison, only "ne": it is not equal to anything.
        return op == "ne"
    if op == "in":
        return any(_equal(actual, item) for item in expected)
    if op == "contains":
        if isinstance(actual, list):
            return any(_equal(item, expected) for item in actual)
        if isinstance(actual, dict):
            return False
        return fold_case(str(expected)) in fold_case(str(actual))
    if op == "eq":
        return _equal(actual, expected)
    if op == "ne":
        return not _equal(actual, expected)
    if not (_scalar(actual) and _scalar(expected)):
        return False
    left, right = _comparable(actual, expected)
    if isinstance(left, str) and isinstance(right, str):
        # Text that holds numbers ("9" from a form, value "18") orders by value: as text
        # "9" would come after "18".
        left_number, right_number = as_number(left), as_number(right)
        if left_number is not None and right_number is not None:
            left, right = left_number, right_number
    if left is None or right is None:
        return False
    try:
        if op == "lt":
            return bool(left < right)
        if op == "lte":
            return bool(left <= right)
        if op == "gt":
            return bool(left > right)
        return bool(left >= right)  # gte
    except TypeError:
        return False


def _scalar(value: Any) -> bool:
    return value is not None and not isinstance(value, (list, tuple, dict))


def _equal(actual: Any, expected: Any) -> bool:
    if not (_scalar(actual) and _scalar(expected)):
        return False
    left, right = _comparable(actual, expected)
    if left is None or right is None:
        return False
    if isinstance(left, str) and isinstance(right, str):
        return fold_case(left) == fold_case(right)
    return bool(left == right)


def _comparable(actual: Any, expected: Any) -> tuple[Any, Any]:
    """Bring both sides to one type: dates with dates, numbers with numbers, else text.

    Custom fields arrive from JSON as strings, so '2024-05-01' must compare as a date
    and '42' as a number when the condition says so.
    """
    if isinstance(actual, bool) or isinstance(expected, bool):
        return as_bool(actual), as_bool(expected)
    if is_number(actual) or is_number(expected):
        return as_number(actual), as_number(expected)
    left_date, right_date = as_date(actual), as_date(expected)
    if left_date is not None and right_date is not None:
        return _align_dates(left_date, right_date)
    return str(actual), str(expected)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def as_number(value: Any) -> float | None:
    """A number, or text that holds a plain decimal, as a float; None for anything else."""
    if is_number(value):
        if isinstance(value, int) and abs(value) >= 10**MAX_INT_DIGITS:
            return None
        return float(value)
    if not isinstance(value, str):
        return None
    text = value.strip(TEXT_SPACE)
    if len(text) > MAX_NUMBER_TEXT or NUMBER_TEXT.fullmatch(text) is None:
        return None
    return float(text)


def as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = fold_case(str(value).strip(TEXT_SPACE))
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0"):
        return False
    return None


def as_date(value: Any) -> date | datetime | None:
    """A date or datetime as is; text in one of the two ISO shapes parsed; else None."""
    if isinstance(value, (date, datetime)):
        return value
    if not isinstance(value, str):
        return None
    day = _DATE_TEXT.fullmatch(value)
    moment = None if day else _MOMENT_TEXT.fullmatch(value)
    try:
        if day:
            return date(*(int(part) for part in day.groups()))
        if moment:
            return _moment(moment.groups())
    except ValueError:  # 2024-02-30, 25:00, year 0
        return None
    return None


def _moment(parts: tuple[str | None, ...]) -> datetime | None:
    year, month, day, hour, minute, second, fraction, offset = parts
    zone: tzinfo | None = None
    if offset == "Z":
        zone = UTC
    elif offset is not None:
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        if hours > 23 or minutes > 59:
            return None
        sign = -1 if offset[0] == "-" else 1
        zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
    return datetime(
        int(str(year)),
        int(str(month)),
        int(str(day)),
        int(str(hour)),
        int(str(minute)),
        int(second or 0),
        int((fraction or "").ljust(6, "0")),
        tzinfo=zone,
    )


def _align_dates(left: date | datetime, right: date | datetime) -> tuple[Any, Any]:
    # A date compared with a datetime compares on the calendar day.
    if isinstance(left, datetime) != isinstance(right, datetime):
        left = left.date() if isinstance(left, datetime) else left
        right = right.date() if isinstance(right, datetime) else right
        return left, right
    if (
        isinstance(left, datetime)
        and isinstance(right, datetime)
        and (left.tzinfo is None) != (right.tzinfo is None)
    ):
        return left.replace(tzinfo=None), right.replace(tzinfo=None)
    return left, right


def groups_mentioned(condition: Condition) -> set[str]:
    """Group keys a condition refers to, so activation can check they exist."""
    return {n.in_group for n in walk(condition) if isinstance(n, GroupCondition)}


def walk(condition: Condition) -> list[Condition]:
    """Every node of the tree, the root first (payload conditions of `event` nodes not
    included: they speak of an event's payload, not of the relation)."""
    found: list[Condition] = []
    pending: list[Condition] = [condition]
    while pending:
        node = pending.pop()
        found.append(node)
        if isinstance(node, AllCondition):
            pending.extend(reversed(node.all))
        elif isinstance(node, AnyCondition):
            pending.extend(reversed(node.any))
        elif isinstance(node, NotCondition):
            pending.append(node.not_)
    return found


def event_types_mentioned(condition: Condition) -> set[str]:
    """Event types an `event` node asks about: the events to load for evaluating it."""
    return {n.event for n in walk(condition) if isinstance(n, EventCondition)}


def describe_condition(condition: Condition) -> str:
    """The condition as an operator reads it in the Web UI: `member_since is_set`."""
    if isinstance(condition, AllCondition):
        return "(" + " and ".join(describe_condition(c) for c in condition.all) + ")"
    if isinstance(condition, AnyCondition):
        return "(" + " or ".join(describe_condition(c) for c in condition.any) + ")"
    if isinstance(condition, NotCondition):
        return f"not {describe_condition(condition.not_)}"
    if isinstance(condition, GroupCondition):
        return f"in group '{condition.in_group}'"
    if isinstance(condition, EventCondition):
        wording = f"has event '{condition.event}'"
        if condition.where is not None:
            wording += f" where {describe_condition(condition.where)}"
        if condition.within is not None:
            wording += f" within {condition.within}"
        return wording
    wording = f"{condition.field} {condition.op}"
    if condition.op not in _UNARY:
        wording += f" {_show(condition.value)}"
    return wording
