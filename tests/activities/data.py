"""Rows for activity tests, written straight into the store as the API would leave them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from activities.contracts import PassageKey
from store.db import session_scope
from store.models import Group, GroupMember, Journey, Passage, Relation, Send, Template, Trip

ENTERED = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@dataclass(frozen=True)
class Seeded:
    journey_id: int
    relation_id: int
    trip_id: str


def seed_trip(engine: Engine, **relation_fields: Any) -> Seeded:
    """A journey, a relation and that relation's first trip (status running)."""
    with session_scope(engine) as session:
        journey = Journey(name="Welcome", status="active", definition={}, active_version=1)
        relation = Relation(**relation_fields)
        session.add(journey)
        session.add(relation)
        session.flush()
        assert journey.id is not None and relation.id is not None
        trip_id = f"trip:{journey.id}:{relation.id}:1"
        session.add(
            Trip(
                id=trip_id,
                journey_id=journey.id,
                journey_version=1,
                relation_id=relation.id,
                number=1,
                current_step="welcome",
            )
        )
        return Seeded(journey_id=journey.id, relation_id=relation.id, trip_id=trip_id)


def add_template(
    engine: Engine, key: str, subject: str, html: str, text: str | None = None
) -> None:
    with session_scope(engine) as session:
        session.add(Template(key=key, name=key, subject=subject, html=html, text=text))


def add_to_group(engine: Engine, relation_id: int, key: str) -> None:
    with session_scope(engine) as session:
        group = session.exec(select(Group).where(col(Group.key) == key)).first()
        if group is None:
            group = Group(key=key, name=key)
            session.add(group)
            session.flush()
        assert group.id is not None
        session.add(GroupMember(group_id=group.id, relation_id=relation_id))


def update_relation(engine: Engine, relation_id: int, **changes: Any) -> None:
    with session_scope(engine) as session:
        relation = session.get(Relation, relation_id)
        assert relation is not None
        for name, value in changes.items():
            setattr(relation, name, value)
        session.add(relation)


def erase_relation(engine: Engine, relation_id: int) -> None:
    with session_scope(engine) as session:
        relation = session.get(Relation, relation_id)
        assert relation is not None
        session.delete(relation)


def passage(
    trip_id: str, seq: int = 1, step_id: str = "welcome", step_type: str = "send_email"
) -> PassageKey:
    return PassageKey(
        trip_id=trip_id, seq=seq, step_id=step_id, step_type=step_type, entered_at=ENTERED
    )


def path(engine: Engine, trip_id: str) -> list[Passage]:
    with session_scope(engine) as session:
        return list(
            session.exec(
                select(Passage).where(col(Passage.trip_id) == trip_id).order_by(col(Passage.seq))
            ).all()
        )


def trip(engine: Engine, trip_id: str) -> Trip:
    with session_scope(engine) as session:
        found = session.get(Trip, trip_id)
        assert found is not None
        return found


def sends(engine: Engine, trip_id: str) -> list[Send]:
    with session_scope(engine) as session:
        return list(session.exec(select(Send).where(col(Send.trip_id) == trip_id)).all())
