"""Segment membership, re-evaluated for one relation at the change itself.

Called in the transaction that changed the relation (its fields, its groups, a new
event), so the stored membership and the `segment_change` row that records an entry or
a shift commit with the change, or not at all: each entry and shift is recorded exactly
once, and the Dispatch workflow started for the change acts on it. The relation's row
is locked first, so two changes of one relation at once are evaluated one after the
other (SQLite serialises writers anyway).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlmodel import Session, col, delete, select

from domain.conditions import Condition, evaluate, event_types_mentioned
from store.facts import load_facts
from store.models import Event, Relation, Segment, SegmentChange, SegmentMember

_CONDITION: TypeAdapter[Condition] = TypeAdapter(Condition)
# Parsed conditions by (segment id, updated_at): parsing 100 segments per change would
# cost more than evaluating them.
_parsed: dict[tuple[int, datetime], Condition] = {}


def parse_condition(raw: Any) -> Condition:
    return _CONDITION.validate_python(raw)


def _conditions(session: Session) -> dict[int, tuple[str, Condition]]:
    """Every segment's key and parsed condition. Only ids and versions are read each
    time; a condition's JSON is read and parsed when its segment is new or edited."""
    # FOR SHARE (PostgreSQL): a segment edit in progress (which locks its row first) is
    # waited for, so its condition and its membership are seen together.
    rows = session.exec(
        select(Segment.id, Segment.key, Segment.updated_at).with_for_update(read=True)
    ).all()
    missing = [sid for sid, _, at in rows if sid is not None and (sid, at) not in _parsed]
    if missing:
        if len(_parsed) > 10_000:
            _parsed.clear()
        fresh = session.exec(
            select(Segment.id, Segment.updated_at, Segment.condition).where(
                col(Segment.id).in_(missing)
            )
        ).all()
        for sid, at, raw in fresh:
            assert sid is not None
            _parsed[(sid, at)] = parse_condition(raw)
    return {sid: (key, _parsed[(sid, at)]) for sid, key, at in rows if sid is not None}


def lock_relation(session: Session, relation_id: int) -> bool:
    """Lock the relation's row for a change (FOR NO KEY UPDATE on PostgreSQL): two
    changes of one relation wait for each other, but not for the key-share locks that
    inserting its events or memberships takes (FOR UPDATE would deadlock two event
    ingests of one relation). False when the relation is gone."""
    locked = session.exec(
        select(Relation.id).where(col(Relation.id) == relation_id).with_for_update(key_share=True)
    ).first()
    return locked is not None


def reevaluate(
    session: Session, relation_id: int, *, cause: str, now: datetime
) -> SegmentChange | None:
    """Bring the relation's stored memberships up to date; the change (segments entered
    and left) is added to the session and returned, or None when nothing changed."""
    if not lock_relation(session, relation_id):
        return None
    segments = _conditions(session)
    if not segments:
        return None
    conditions = {sid: condition for sid, (_, condition) in segments.items()}
    types = set().union(*(event_types_mentioned(c) for c in conditions.values()))
    facts = load_facts(session, relation_id, event_types=types, now=now)
    if facts is None:
        return None
    matching = {sid for sid, c in conditions.items() if evaluate(c, facts).result}
    current = set(
        session.exec(
            select(SegmentMember.segment_id).where(
                col(SegmentMember.relation_id) == relation_id,
                col(SegmentMember.segment_id).in_(list(segments)),
            )
        ).all()
    )
    entered, left = matching - current, current - matching
    if not entered and not left:
        return None
    for segment_id in entered:
        assert segment_id is not None
        session.add(SegmentMember(segment_id=segment_id, relation_id=relation_id, since=now))
    if left:
        session.exec(
            delete(SegmentMember).where(
                col(SegmentMember.relation_id) == relation_id,
                col(SegmentMember.segment_id).in_(left),
            )
        )
    keys = {sid: key for sid, (key, _) in segments.items()}
    change = SegmentChange(
        relation_id=relation_id,
        entered=sorted(keys[i] for i in entered),
        left=sorted(keys[i] for i in left),
        cause=cause,
        at=now,
    )
    session.add(change)
    session.flush()
    return change


def undispatched(session: Session, relation_id: int) -> list[int]:
    """The relation's segment changes that no Dispatch has acted on yet."""
    rows = session.exec(
        select(SegmentChange.id).where(
            col(SegmentChange.relation_id) == relation_id,
            col(SegmentChange.dispatched_at).is_(None),
            # An event's change is dispatched with its event: a second dispatch of it
            # would be a second admission cause.
            col(SegmentChange.cause).not_like("event:%"),
        )
    ).all()
    return [i for i in rows if i is not None]


def undispatched_causes(session: Session, before: datetime) -> list[tuple[str, int]]:
    """("event", id) and ("change", id) stored before `before` and never dispatched. A
    change an event caused is dispatched with its event, so it is not listed apart
    (two dispatches would be two admission keys)."""
    events = session.exec(
        select(Event.id).where(col(Event.dispatched_at).is_(None), col(Event.received_at) < before)
    ).all()
    changes = session.exec(
        select(SegmentChange.id).where(
            col(SegmentChange.dispatched_at).is_(None),
            col(SegmentChange.at) < before,
            col(SegmentChange.cause).not_like("event:%"),
        )
    ).all()
    return [("event", i) for i in events if i is not None] + [
        ("change", i) for i in changes if i is not None
    ]
