"""The and/or/not shape of a condition, kept apart from its parts' SQL.

A compiled condition computes each part (a field comparison, a group, an event) once
as a column of a derived table, and combines the columns with this formula in the
WHERE above it. Nested inline, every part would sit as deep as the tree is, and SQLite
parses only so deep (its parser stack holds 100 entries: a condition of a handful of
parts with an event and a list in it overflowed). So the formula is kept shallow:
negations are pushed down onto the parts (De Morgan), and each `and`/`or` names its
deepest child first, since SQLite's parser pays little for nesting on the left of an
operator and three times as much on the right.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, false, not_, or_, true

from store.sql_let import Columns, Sql


@dataclass(frozen=True)
class Part:
    """The part computed as column `index`, or its negation."""

    index: int
    negated: bool = False


@dataclass(frozen=True)
class Known:
    """A part whose outcome needs no SQL (a group inside an event's payload)."""

    value: bool


@dataclass(frozen=True)
class Junction:
    """All (`every`) or any of the children."""

    every: bool
    children: tuple[Formula, ...]


Formula = Part | Known | Junction


def junction(every: bool, children: Sequence[Formula]) -> Formula:
    """`and`/`or` of children, with nested ones of the same kind merged (`a and (b and
    c)` is one list) and known outcomes folded in."""
    flat: list[Formula] = []
    for child in children:
        if isinstance(child, Junction) and child.every == every:
            flat.extend(child.children)
        elif isinstance(child, Known):
            if child.value != every:  # false in an `and`, true in an `or`: decides it
                return child
        else:
            flat.append(child)
    if not flat:
        return Known(every)
    return flat[0] if len(flat) == 1 else Junction(every, tuple(flat))


def depth(formula: Formula) -> int:
    if isinstance(formula, Junction):
        return 1 + max(depth(child) for child in formula.children)
    return 0


def render(formula: Formula, columns: Columns, names: Sequence[str]) -> Sql:
    """The formula over the columns that hold its parts (`names[index]`)."""
    if isinstance(formula, Known):
        return true() if formula.value else false()
    if isinstance(formula, Part):
        column = columns[names[formula.index]]
        return not_(column) if formula.negated else column
    ordered = sorted(formula.children, key=depth, reverse=True)
    rendered = [render(child, columns, names) for child in ordered]
    return and_(*rendered) if formula.every else or_(*rendered)
