"""A condition compiled to SQL over `relation`: `select(Relation.id).where(compiled)`
selects exactly the relations for which `domain.conditions.evaluate` says yes, given
what `store.facts.load_facts` loads for them (tests/store/test_condition_sql.py checks
this on SQLite and PostgreSQL). A segment counts and stores its members this way,
without loading every relation into Python.

Fields name columns of `relation` (`STANDARD_FIELDS`) or else keys of its `custom`
JSON; `in_group` is a group membership; an `event` node is an EXISTS over the
relation's events, whose `where` speaks of payload keys. Fields of the event that
admitted a trip (`event.amount`) mean nothing outside a trip: compiling refuses them,
naming where they are, and so do a few constants SQL cannot read as Python does.

The expression is built when the statement is compiled, for the database compiling
it (the two spell JSON, regular expressions and case folding differently), in this
shape, so that no part nests in another and SQLite's parser never runs out of stack:

    relation.id IN (SELECT key FROM (SELECT relation.id AS key, <part> AS part_0, ...
                                     FROM relation JOIN <value CTE> ON ...)
                    WHERE <formula over part_0, ...>)

Each part (a comparison, a group, an event) is a column; the values parts compare are
CTEs keyed by relation (`store/condition_values.py`); an event's part is the same shape
again over the events of its type, keyed by event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Select,
    Table,
    case,
    false,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.selectable import NamedFromClause
from sqlmodel import SQLModel, col

from domain.conditions import (
    STANDARD_FIELDS,
    AllCondition,
    AnyCondition,
    Condition,
    EventCondition,
    FieldCondition,
    GroupCondition,
    NotCondition,
    since,
)
from store.condition_check import UnsupportedCondition, check
from store.condition_compare import Comparer, Constant
from store.condition_formula import Formula, Known, Part, junction, render
from store.condition_values import (
    NOTHING,
    Needs,
    Scope,
    Value,
    bool_column,
    date_column,
    json_value,
    needs_of,
    text_column,
    utc_column,
)
from store.models import Event, Group, GroupMember, Relation
from store.sql_dialects import Dialect, Postgres, Sql, Sqlite

__all__ = ["UnsupportedCondition", "check", "compile_condition"]

DIALECTS: dict[str, type[Dialect]] = {"sqlite": Sqlite, "postgresql": Postgres}


def compile_condition(condition: Condition, *, now: datetime) -> ColumnElement[bool]:
    """The condition as a boolean expression over `relation`, for SQLite and PostgreSQL
    alike. `now` (aware) is the moment an event node's `within` counts back from.
    Raises UnsupportedCondition (a ValueError) for what SQL cannot mean."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    check(condition)
    return _Compiled(condition, now)


class _Compiled(ColumnElement[bool]):
    """A checked condition, built into SQL for whichever database compiles it."""

    # Built anew at each compile: a condition tree makes no cache key (and the SQL
    # depends on its constants, which choose the readings it needs).
    inherit_cache = False
    type = Boolean()

    def __init__(self, condition: Condition, now: datetime) -> None:
        self.condition = condition
        self.now = now

    @property
    def _from_objects(self) -> list[Any]:
        return [_table(Relation)]


@compiles(_Compiled)
def _compile(element: _Compiled, compiler: SQLCompiler, **kw: Any) -> str:
    name = compiler.dialect.name
    if name not in DIALECTS:
        raise NotImplementedError(f"conditions compile to SQLite and PostgreSQL, not {name}")
    relation = _table(Relation).alias()
    scope = Scope(key=relation.c.id, sources=(relation,))
    builder = _Builder(DIALECTS[name](), element.now, scope, relation)
    chosen = builder.matching(builder.formula(element.condition))
    return "(" + compiler.process(col(Relation.id).in_(chosen), **kw) + ")"


# How each standard field is stored: a new one must be given its kind here.
_KINDS = {
    **dict.fromkeys(("email", "phone", "first_name", "last_name", "timezone", "locale"), "text"),
    "birth_date": "date",
    "opt_in_email": "bool",
    "opt_in_sms": "bool",
    "created_at": "utc",
}
if set(_KINDS) != STANDARD_FIELDS:
    raise RuntimeError("store/condition_sql.py does not know every standard field")


def _table(model: type[SQLModel]) -> Table:
    return model.metadata.tables[str(model.__tablename__)]


class _Builder:
    """Builds one database's parts of a checked condition and the formula over them,
    for the rows of `scope`: relations (`relation` the table whose columns standard
    fields name), or events (`relation` None: fields are keys of their payload, and
    groups and events are nobody's, as in `payload_facts`)."""

    def __init__(
        self,
        dialect: Dialect,
        now: datetime,
        scope: Scope,
        relation: NamedFromClause | None,
        payload: Sql | None = None,
    ) -> None:
        self.dialect = dialect
        self.now = now
        self.scope = scope
        self.relation = relation
        self.payload = payload
        self.compare = Comparer(dialect)
        self.parts: list[Sql] = []
        self.values: list[Value] = []

    def matching(self, formula: Formula, owner: Sql | None = None) -> Select[Any]:
        """The keys (or, given, the `owner` column: an event's relation) of the rows
        for which the formula holds: one row per key, each part a column of it, the
        value CTEs the parts read joined on the key."""
        names = [f"part_{index}" for index in range(len(self.parts))]
        scope = self.scope
        parts = [part.label(name) for part, name in zip(self.parts, names, strict=True)]
        columns = [scope.key.label("key"), *parts]
        if owner is not None:
            columns.append(owner.label("owner"))
        table = select(*columns).select_from(*scope.sources)
        for value in self.values:
            table = table.join(value.rows.rows, value.key == scope.key)
        rows = table.where(*scope.where).subquery()
        picked = rows.c.owner if owner is not None else rows.c.key
        return select(picked).where(render(formula, rows.c, names))

    def formula(self, condition: Condition, negated: bool = False) -> Formula:
        """The formula of the condition (its negation: `negated`), pushing `not` down."""
        if isinstance(condition, AllCondition):
            children = [self.formula(child, negated) for child in condition.all]
            return junction(not negated, children)
        if isinstance(condition, AnyCondition):
            children = [self.formula(child, negated) for child in condition.any]
            return junction(negated, children)
        if isinstance(condition, NotCondition):
            return self.formula(condition.not_, not negated)
        if isinstance(condition, (GroupCondition, EventCondition)) and self.relation is None:
            return Known(negated)  # a payload is in no group and has no events
        if isinstance(condition, GroupCondition):
            return self._part(self._in_group(condition.in_group), negated)
        if isinstance(condition, EventCondition):
            return self._part(self._event(condition), negated)
        return self._part(self._field(condition), negated)

    def _part(self, sql: Sql, negated: bool) -> Formula:
        self.parts.append(sql)
        return Part(len(self.parts) - 1, negated)

    def _in_group(self, key: str) -> Sql:
        member, group = _table(GroupMember), _table(Group)
        members = (
            select(member.c.relation_id)
            .join(group, group.c.id == member.c.group_id)
            .where(group.c.key == key)
        )
        return self.scope.key.in_(members)

    def _event(self, condition: EventCondition) -> Sql:
        event = _table(Event).alias()
        found = [event.c.type == condition.event]
        period = condition.period
        if period is not None:
            earliest = since(self.now, period)
            if earliest is not None:
                found.append(event.c.occurred_at >= earliest)
        scope = Scope(key=event.c.id, sources=(event,), where=tuple(found))
        inner = _Builder(self.dialect, self.now, scope, None, event.c.payload)
        formula = Known(True) if condition.where is None else inner.formula(condition.where)
        return self.scope.key.in_(inner.matching(formula, owner=event.c.relation_id))

    def _field(self, condition: FieldCondition) -> Sql:
        op, expected = condition.op, condition.value
        constants = expected if isinstance(expected, list) else [expected]
        if op in ("is_set", "is_not_set"):
            value = self._value(condition.field, NOTHING, NOTHING)
            return value.is_set if op == "is_set" else not_(value.is_set)
        if op == "contains":
            # Text is searched as it is; a list's items are compared with the constant.
            needs = needs_of(constants, ordering=False)
            value = self._value(condition.field, NOTHING, needs)
            body = self.compare.contains(value, Constant(expected))
        else:
            needs = needs_of(constants, ordering=op in ("lt", "lte", "gt", "gte"))
            value = self._value(condition.field, needs, NOTHING)
            body = self._compare(value, op, constants)
        # A missing value satisfies no comparison, only "ne".
        return case((value.is_set, body), else_=true() if op == "ne" else false())

    def _compare(self, value: Value, op: str, constants: list[Any]) -> Sql:
        if op == "in":
            held = [self.compare.equal(value, Constant(c)) for c in constants if c is not None]
            return or_(*held) if held else false()
        if op in ("eq", "ne"):
            equal = self.compare.equal(value, Constant(constants[0]))
            return equal if op == "eq" else not_(equal)
        return self.compare.order(value, Constant(constants[0]), op)

    def _value(self, name: str, needs: Needs, item_needs: Needs) -> Value:
        value = self._read(name, needs, item_needs)
        self.values.append(value)
        return value

    def _read(self, name: str, needs: Needs, item_needs: Needs) -> Value:
        dialect, scope = self.dialect, self.scope
        if self.relation is None:
            assert self.payload is not None
            member = dialect.member(self.payload, name)
            return json_value(dialect, member, scope, needs, item_needs)
        if name not in STANDARD_FIELDS:
            member = dialect.member(self.relation.c.custom, name)
            return json_value(dialect, member, scope, needs, item_needs)
        kind, column = _KINDS[name], self.relation.c[name]
        if kind == "text":
            return text_column(dialect, column, scope, needs)
        if kind == "date":
            return date_column(dialect, column, scope)
        if kind == "bool":
            return bool_column(dialect, column, scope)
        return utc_column(dialect, column, scope)
