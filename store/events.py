"""Events: what relations did. Ingesting one stores it, finds (or creates) its relation
and re-evaluates the relation's segments, all in one transaction; the API then starts
the Dispatch workflow for it before answering (see activities/dispatch.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from store.errors import Invalid, NotFound, Problem
from store.membership import lock_relation, reevaluate
from store.models import Event, Relation, SegmentChange


@dataclass(frozen=True)
class RelationRef:
    """How an event names its relation: by id, by external id or by email (first given
    wins), and whether an unknown one is created (with `fields`)."""

    id: int | None = None
    external_id: str | None = None
    email: str | None = None
    create: bool = False
    fields: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class NewEvent:
    type: str
    # None: the event names no relation (a form post for a journey that starts at the
    # event and finds or adds the relation itself: Deployteq's "start at event").
    relation: RelationRef | None
    payload: dict[str, Any]
    occurred_at: datetime
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Ingested:
    event: Event
    change: SegmentChange | None
    # The same idempotency key came before: this is the first event, unchanged.
    repeated: bool = False


class UnknownRelation(Invalid):
    def __init__(self, loc: tuple[str | int, ...], what: str) -> None:
        super().__init__(
            [
                Problem(
                    loc,
                    f'no relation with {what}; send "create": true in `relation` to create it',
                    "unknown_relation",
                )
            ]
        )


def by_key(session: Session, key: str) -> Event | None:
    return session.exec(select(Event).where(col(Event.idempotency_key) == key)).first()


def ingest(
    session: Session, new: NewEvent, *, now: datetime, loc: tuple[str | int, ...]
) -> Ingested:
    """Store one event (or find the first with its idempotency key) and commit.

    `loc` locates the event in the request, so an unknown relation is a 422 naming it.
    """
    if new.idempotency_key is not None:
        earlier = by_key(session, new.idempotency_key)
        if earlier is not None:
            return Ingested(earlier, _change(session, earlier), repeated=True)
    for _attempt in range(3):
        try:
            if new.relation is None:
                relation_id, created = None, False
            else:
                relation_id, created = _relation(session, new.relation, loc)
                # Before the event takes its id: one relation's events then commit in id
                # order, which the look-backs of its trips (`id > horizon`) rely on.
                lock_relation(session, relation_id)
            event = Event(
                relation_id=relation_id,
                type=new.type,
                payload=new.payload,
                occurred_at=new.occurred_at,
                received_at=now,
                idempotency_key=new.idempotency_key,
                relation_created=created,
            )
            session.add(event)
            session.flush()
            assert event.id is not None
            change = None
            if relation_id is not None:  # without a relation there are no segments
                change = reevaluate(session, relation_id, cause=f"event:{event.id}", now=now)
            event.change_id = change.id if change is not None else None
            session.add(event)
            session.commit()
        except IntegrityError:
            # The same key, or the same new person, at the same moment from another
            # request: the loser finds the winner's row on the next round.
            session.rollback()
            if new.idempotency_key is not None:
                earlier = by_key(session, new.idempotency_key)
                if earlier is not None:
                    return Ingested(earlier, _change(session, earlier), repeated=True)
            continue
        session.refresh(event)
        return Ingested(event, change)
    raise RuntimeError("could not store the event after three attempts")


def _change(session: Session, event: Event) -> SegmentChange | None:
    return None if event.change_id is None else session.get(SegmentChange, event.change_id)


def _relation(session: Session, ref: RelationRef, loc: tuple[str | int, ...]) -> tuple[int, bool]:
    """The relation's id, and whether it was created now (flushed, not committed)."""
    where = (*loc, "relation")
    if ref.id is not None:
        if session.get(Relation, ref.id) is None:
            raise UnknownRelation((*where, "id"), f"id {ref.id}")
        return ref.id, False
    found = find(session, external_id=ref.external_id, email=ref.email)
    if found is not None:
        return found, False
    if not ref.create:
        what = f"external_id {ref.external_id!r}" if ref.external_id else f"email {ref.email!r}"
        raise UnknownRelation((*where, "external_id" if ref.external_id else "email"), what)
    relation = Relation(
        **(dict(ref.fields or {})),
        email=ref.email,
        external_id=ref.external_id,
        email_claim=ref.email.lower() if ref.email else None,
    )
    session.add(relation)
    session.flush()
    assert relation.id is not None
    return relation.id, True


def find(session: Session, *, external_id: str | None, email: str | None) -> int | None:
    """Reconciliation: the relation with this external id, else the oldest with this
    address (case-insensitive), so an event never makes one person into two."""
    if external_id is not None:
        found = session.exec(
            select(Relation.id).where(col(Relation.external_id) == external_id)
        ).first()
        if found is not None or email is None:
            return found
    if email is not None:
        lowered = email.lower()
        claimed = session.exec(
            select(Relation.id).where(col(Relation.email_claim) == lowered)
        ).first()
        if claimed is not None:
            return claimed
        return session.exec(
            select(Relation.id)
            .where(func.lower(col(Relation.email)) == lowered)
            .order_by(col(Relation.id))
        ).first()
    return None


def highest_id(session: Session, relation_id: int) -> int:
    """The id of the relation's newest event (0 without events): later ones are higher."""
    found = session.exec(
        select(func.max(Event.id)).where(col(Event.relation_id) == relation_id)
    ).one()
    return int(found or 0)


def of_relation(
    session: Session, relation_id: int, *, limit: int = 100, offset: int = 0
) -> tuple[list[Event], int]:
    if session.get(Relation, relation_id) is None:
        raise NotFound("relation", relation_id)
    where = col(Event.relation_id) == relation_id
    rows = session.exec(
        select(Event)
        .where(where)
        .order_by(col(Event.occurred_at).desc(), col(Event.id).desc())
        .offset(offset)
        .limit(limit)
    ).all()
    total = session.exec(select(func.count()).select_from(Event).where(where)).one()
    return list(rows), total
