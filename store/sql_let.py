"""Named intermediate values in SQL: columns computed in steps, each step a CTE.

The rules of `domain.conditions` read a value dozens of times (is it a date? which
day, which wall clock, which zone?). Written out inline, each reading repeats the
expression that produced the value, nested ever deeper; and subqueries nested in
subqueries soon overflow SQLite's parser, whose stack holds 100 entries (a condition
of a few parts with an event and a list in it did). Here each step computes columns
from the columns of the step before, so every expression is spelled once and read by
name, and each step is a CTE of its own: SQLAlchemy writes them all at the top of the
statement, one after the other, nested in nothing.

    rows = Let(Relation.id, Relation, s=Relation.email).then(lambda c: {"n": length(c.s)})
    rows.c.n   # WITH anon_1 AS (SELECT relation.id AS key, ... FROM relation), ...

Every step keeps `key`, the row it belongs to (a relation's or an event's id): a
value's CTE joins its scope on it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import CTE, ColumnElement, FromClause, select
from sqlalchemy.sql.base import ReadOnlyColumnCollection

Sql = ColumnElement[Any]
Columns = ReadOnlyColumnCollection[str, Any]
# A step: the new columns, computed from the columns of the step before.
Step = Callable[[Columns], dict[str, Sql]]


class Let:
    def __init__(
        self,
        key: Sql,
        sources: Sequence[FromClause],
        where: Sequence[Sql] = (),
        **columns: Sql,
    ) -> None:
        query = select(key.label("key"), *(e.label(name) for name, e in columns.items()))
        self.rows: CTE = query.select_from(*sources).where(*where).cte()

    @property
    def c(self) -> Columns:
        return self.rows.c

    def then(self, make: Step) -> Let:
        """A step more: the columns `make` computes from these, and these carried on."""
        made = make(self.rows.c)
        query = select(*self.rows.c, *(e.label(name) for name, e in made.items()))
        following = Let.__new__(Let)
        following.rows = query.select_from(self.rows).cte()
        return following
