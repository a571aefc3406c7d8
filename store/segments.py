"""Segments: stored conditions with stored membership.

Membership of one relation is kept current at each change (store/membership.py); here
it is computed for all relations at once with the condition compiled to SQL
(store/condition_sql.py): when a segment is created (its first members, no entries: a
segment that did not exist had none) and when its condition is edited (the difference
enters and leaves; the entrants' membership begins at the edit's moment, by which an
admission run finds them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select

from domain.conditions import Condition
from domain.definition import parse_frozen
from domain.triggers import SegmentEntryTrigger
from store import journeys
from store.condition_sql import compile_condition
from store.errors import Conflict, NotFound
from store.models import Relation, Segment, SegmentMember


def stored(condition: Condition) -> dict[str, Any]:
    return condition.model_dump(mode="json", by_alias=True, exclude_none=True)


def get(session: Session, key: str) -> Segment:
    segment = session.exec(select(Segment).where(col(Segment.key) == key)).first()
    if segment is None:
        raise NotFound("segment", key)
    return segment


def list_page(session: Session, *, limit: int = 100, offset: int = 0) -> tuple[list[Segment], int]:
    rows = session.exec(select(Segment).order_by(col(Segment.key)).offset(offset).limit(limit))
    return list(rows.all()), session.exec(select(func.count()).select_from(Segment)).one()


def member_count(session: Session, segment_id: int) -> int:
    query = select(func.count()).select_from(SegmentMember)
    return session.exec(query.where(col(SegmentMember.segment_id) == segment_id)).one()


def members(
    session: Session, key: str, *, limit: int = 100, offset: int = 0
) -> tuple[list[Relation], int]:
    segment = get(session, key)
    assert segment.id is not None
    rows = session.exec(
        select(Relation)
        .join(SegmentMember, col(SegmentMember.relation_id) == col(Relation.id))
        .where(col(SegmentMember.segment_id) == segment.id)
        .order_by(col(Relation.id))
        .offset(offset)
        .limit(limit)
    ).all()
    return list(rows), member_count(session, segment.id)


def matching_ids(session: Session, condition: Condition, now: datetime) -> set[int]:
    query = select(Relation.id).where(compile_condition(condition, now=now))
    return {i for i in session.exec(query).all() if i is not None}


def preview(session: Session, condition: Condition, now: datetime) -> int:
    query = select(func.count()).select_from(Relation)
    return session.exec(query.where(compile_condition(condition, now=now))).one()


def create(
    session: Session, *, key: str, name: str, condition: Condition, now: datetime
) -> Segment:
    if session.exec(select(Segment.id).where(col(Segment.key) == key)).first() is not None:
        raise Conflict(f"segment '{key}' already exists")
    segment = Segment(key=key, name=name, condition=stored(condition))
    session.add(segment)
    try:
        session.flush()
        assert segment.id is not None
        session.add_all(
            SegmentMember(segment_id=segment.id, relation_id=i, since=now)
            for i in sorted(matching_ids(session, condition, now))
        )
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"segment '{key}' already exists") from None
    session.refresh(segment)
    return segment


@dataclass(frozen=True)
class Difference:
    entering: list[int]
    leaving: list[int]


def difference(
    session: Session, segment: Segment, condition: Condition, now: datetime
) -> Difference:
    """Who would enter and leave if the segment had this condition (nothing written)."""
    assert segment.id is not None
    current = set(
        session.exec(
            select(SegmentMember.relation_id).where(col(SegmentMember.segment_id) == segment.id)
        ).all()
    )
    wanted = matching_ids(session, condition, now)
    return Difference(sorted(wanted - current), sorted(current - wanted))


def lock(session: Session, key: str, now: datetime) -> Segment:
    """The segment, locked for an edit: a write first (SQLite takes its write lock,
    PostgreSQL the row's), so relation changes meanwhile wait for the edit and then see
    its condition and membership together (store/membership.py reads segments FOR SHARE)."""
    segment = get(session, key)
    session.exec(update(Segment).where(col(Segment.id) == segment.id).values(updated_at=now))
    session.refresh(segment)
    return segment


def edit(
    session: Session, segment: Segment, *, name: str | None, condition: Condition, now: datetime
) -> Difference:
    """Save the condition and apply its membership (entrants' membership begins `now`),
    in the caller's transaction: the caller commits, with the admission runs for the
    entrants, so the edit and what it admits are written together or not at all."""
    assert segment.id is not None
    change = difference(session, segment, condition, now)
    segment.condition = stored(condition)
    if name is not None:
        segment.name = name
    segment.updated_at = now
    session.add(segment)
    session.add_all(
        SegmentMember(segment_id=segment.id, relation_id=i, since=now) for i in change.entering
    )
    if change.leaving:
        session.exec(
            delete(SegmentMember).where(
                col(SegmentMember.segment_id) == segment.id,
                col(SegmentMember.relation_id).in_(change.leaving),
            )
        )
    session.flush()
    return change


def active_journeys_using(session: Session, key: str) -> tuple[list[int], list[int]]:
    """(active journeys whose triggers name the segment, those of them that admit its
    entrants with a segment_entry trigger)."""
    using, admitting = [], []
    for frozen in journeys.active_versions(session):
        journey_id, definition = frozen.journey_id, parse_frozen(frozen.definition)
        if key not in definition.references().segments:
            continue
        using.append(journey_id)
        if any(
            isinstance(t, SegmentEntryTrigger) and t.segment == key for t in definition.triggers
        ):
            admitting.append(journey_id)
    return sorted(using), sorted(admitting)


def delete_segment(session: Session, key: str) -> None:
    segment = get(session, key)
    using, _ = active_journeys_using(session, key)
    if using:
        raise Conflict(f"segment '{key}' is used by active journeys {using}: deactivate them first")
    session.delete(segment)
    session.commit()
