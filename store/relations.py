"""Relations: the people in the CRM. Deleting one erases the person.

The relation row is the only place their personal data lives; memberships go with it
(ON DELETE CASCADE) and trips keep only the former id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, delete, select

from domain.statuses import Outcome
from store import paths
from store.errors import Conflict, NotFound
from store.membership import reevaluate
from store.models import (
    Event,
    GroupMember,
    Relation,
    SegmentChange,
    SegmentMember,
    Trip,
    utcnow,
)


def _external_id_free(session: Session, external_id: Any, relation_id: int | None) -> None:
    if external_id is None:
        return
    taken = session.exec(
        select(Relation.id).where(col(Relation.external_id) == external_id)
    ).first()
    if taken is not None and taken != relation_id:
        raise Conflict(f"external_id {external_id!r} belongs to relation {taken}")


def create(session: Session, fields: Mapping[str, Any]) -> Relation:
    """A new relation; its segments are evaluated in the same transaction."""
    _external_id_free(session, fields.get("external_id"), None)
    relation = Relation(**fields)
    session.add(relation)
    session.flush()
    assert relation.id is not None
    reevaluate(session, relation.id, cause="created", now=utcnow())
    session.commit()
    session.refresh(relation)
    return relation


def get(session: Session, relation_id: int) -> Relation:
    relation = session.get(Relation, relation_id)
    if relation is None:
        raise NotFound("relation", relation_id)
    return relation


def exists(session: Session, relation_id: int) -> bool:
    found = session.exec(select(Relation.id).where(col(Relation.id) == relation_id)).first()
    return found is not None


def list_page(
    session: Session, *, email: str | None = None, limit: int = 100, offset: int = 0
) -> tuple[list[Relation], int]:
    query = select(Relation)
    counting = select(func.count()).select_from(Relation)
    if email is not None:
        # Addresses are compared case-insensitively, as mail servers treat the domain.
        same = func.lower(col(Relation.email)) == email.lower()
        query = query.where(same)
        counting = counting.where(same)
    rows = session.exec(query.order_by(col(Relation.id)).offset(offset).limit(limit)).all()
    return list(rows), session.exec(counting).one()


def update(session: Session, relation_id: int, changes: Mapping[str, Any]) -> Relation:
    relation = get(session, relation_id)
    _external_id_free(session, changes.get("external_id"), relation_id)
    for name, value in changes.items():
        setattr(relation, name, value)
    if "email" in changes:
        # The claim guarded the address this relation was created with by an event; it
        # must not keep answering for an address the person no longer has.
        relation.email_claim = None
    session.add(relation)
    session.flush()
    # At the change itself, in its transaction: a segment trigger fires now, not on a timer.
    reevaluate(session, relation_id, cause="fields", now=utcnow())
    session.commit()
    session.refresh(relation)
    return relation


def erase(session: Session, relation_id: int) -> list[str]:
    """Delete the person and close their running trips as cancelled, in one transaction;
    returns those trips' ids, whose workflows the caller cancels. A trip left running
    (Temporal unreachable) sends nothing more: a send refuses a trip that is not running."""
    get(session, relation_id)
    running = erase_rows(session, relation_id)
    session.commit()
    return running


def erase_rows(session: Session, relation_id: int, *, keep_trip: str | None = None) -> list[str]:
    """The erase, in the caller's transaction: the person's row, events, memberships and
    segment changes go, and their running trips (but `keep_trip`, the trip of a
    delete_relation step, which ends itself) are closed as cancelled; returns those."""
    # Explicit, so erasure does not depend on the database enforcing the cascade: the
    # person's events (payloads are personal data), memberships and segment changes.
    session.exec(delete(GroupMember).where(col(GroupMember.relation_id) == relation_id))
    session.exec(delete(SegmentMember).where(col(SegmentMember.relation_id) == relation_id))
    session.exec(delete(SegmentChange).where(col(SegmentChange.relation_id) == relation_id))
    session.exec(delete(Event).where(col(Event.relation_id) == relation_id))
    # An event that named no relation and started a trip that became this person (a
    # form post a lookup, add or upsert step took the person from) holds their data too.
    sources = select(Trip.event_id).where(
        col(Trip.relation_id) == relation_id,
        col(Trip.admitted_relation_id).is_(None),
        col(Trip.event_id).is_not(None),
    )
    session.exec(delete(Event).where(col(Event.id).in_(sources), col(Event.relation_id).is_(None)))
    others = [col(Trip.id) != keep_trip] if keep_trip is not None else []
    running = paths.cancel_running(
        session,
        col(Trip.relation_id) == relation_id,
        *others,
        outcome=Outcome.relation_erased,
        ended_at=utcnow(),
    )
    session.exec(delete(Relation).where(col(Relation.id) == relation_id))
    return running
