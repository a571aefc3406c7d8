"""Writes of the relation data steps: set fields, find by fields, create, and move a
trip to another relation. All in the caller's transaction; values arrive checked
(`domain.relation_fields.fit`), keyed by field name.

Standard fields are columns; any other name is a key of the relation's `custom` JSON,
compared as conditions compare (numbers as numbers, text without regard to case).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, func, update
from sqlmodel import Session, col, select

from domain.conditions import AllCondition, FieldCondition, fold_case
from domain.relation_fields import MAX_CUSTOM_BYTES, WRITABLE, check_custom
from store import locks
from store.condition_sql import UnsupportedCondition, compile_condition
from store.models import Relation, Trip, utcnow


@dataclass
class Written:
    """What a write did, by field name: words for the path, never values."""

    changed: list[str] = field(default_factory=list)
    same: list[str] = field(default_factory=list)
    # "external_id: belongs to another relation"
    refused: list[str] = field(default_factory=list)


def _taken(session: Session, external_id: Any, relation_id: int | None) -> bool:
    if external_id is None:
        return False
    owner = session.exec(
        select(Relation.id).where(col(Relation.external_id) == external_id)
    ).first()
    return owner is not None and owner != relation_id


def write(session: Session, relation: Relation, values: Mapping[str, Any]) -> Written:
    """Set the fields on the relation (flushed); a field already so is left alone."""
    done = Written()
    custom = dict(relation.custom or {})
    custom_changed: list[str] = []
    for name, value in values.items():
        if name in WRITABLE:
            if getattr(relation, name) == value:
                done.same.append(name)
            elif name == "external_id" and _taken(session, value, relation.id):
                done.refused.append(f"{name}: belongs to another relation")
            else:
                setattr(relation, name, value)
                if name == "email":
                    # The claim guarded the address an event created the relation with.
                    relation.email_claim = None
                done.changed.append(name)
        elif name in custom and custom[name] == value and type(custom[name]) is type(value):
            done.same.append(name)
        else:
            custom[name] = value
            custom_changed.append(name)
    if custom_changed:
        try:
            check_custom(custom)
        except ValueError:
            limit = f"custom fields are bounded ({MAX_CUSTOM_BYTES // 1024} KiB, 100 fields)"
            done.refused.extend(f"{name}: {limit}" for name in custom_changed)
        else:
            relation.custom = custom  # a new dict: the JSON column sees the change
            done.changed.extend(custom_changed)
    order = list(values)
    done.changed.sort(key=order.index)
    if done.changed:
        relation.updated_at = utcnow()
        session.add(relation)
        session.flush()
    return done


def create(session: Session, values: Mapping[str, Any]) -> tuple[Relation, Written]:
    """A new relation with these values (flushed, so it has its id)."""
    relation = Relation()
    session.add(relation)
    done = write(session, relation, values)
    session.flush()
    return relation, done


def find(session: Session, criteria: Mapping[str, Any]) -> tuple[int | None, int]:
    """The oldest relation whose fields equal all of `criteria`, and how many do."""
    where = _matching(criteria)
    if where is None:
        return None, 0
    ids = session.exec(select(Relation.id).where(*where).order_by(col(Relation.id))).all()
    return (ids[0] if ids else None), len(ids)


def _matching(criteria: Mapping[str, Any]) -> list[ColumnElement[bool]] | None:
    where: list[ColumnElement[bool]] = []
    custom: list[FieldCondition] = []
    for name, value in criteria.items():
        if name == "email":
            # Addresses are compared case-insensitively, as events reconcile them.
            where.append(func.lower(col(Relation.email)) == str(value).lower())
        elif name in WRITABLE:
            where.append(col(getattr(Relation, name)) == value)
        else:
            custom.append(FieldCondition(field=name, op="eq", value=value))
    if custom:
        try:
            where.append(compile_condition(AllCondition(all=list(custom)), now=utcnow()))
        except UnsupportedCondition:
            return None  # a name SQL cannot address matches nobody
    return where


def lock_upsert(session: Session, unique: Mapping[str, Any]) -> None:
    """Two upserts of the same person wait for each other (before they look), so the
    second finds the relation the first created. Keyed by the unique values as they
    are compared: an address or a custom text in any case is one person."""
    canonical = []
    for name, value in sorted(unique.items()):
        if name == "email":
            value = str(value).lower()
        elif name not in WRITABLE:
            value = fold_case(str(value))
        elif isinstance(value, date):
            value = value.isoformat()
        canonical.append([name, value])
    locks.lock(session, "upsert:" + json.dumps(canonical, default=str))


def become(session: Session, trip_id: str, relation_id: int) -> None:
    """The trip travels on as this relation: its signals, look-backs and listings follow."""
    session.exec(update(Trip).where(col(Trip.id) == trip_id).values(relation_id=relation_id))
