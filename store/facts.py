"""A relation as conditions and templates see it: one flat dict of fields, plus groups.

Standard fields and custom fields live in one namespace (`member_since` may be either);
when a custom field has the name of a standard one, the standard field wins, so a stray
import column can never change the address a mail goes to.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from domain.conditions import STANDARD_FIELDS, EventFact, RelationFacts
from store import templates
from store.models import Event, Group, GroupMember, Relation, TemplateVersion, Trip

# A relation without a locale reads English (the locale filters' fallback too).
DEFAULT_LOCALE = "en"


@dataclass(frozen=True)
class RelationRecord:
    id: int
    email: str | None
    display_name: str
    opt_in_email: bool
    fields: dict[str, Any]
    external_id: str | None = None


def _fields(relation: Relation) -> dict[str, Any]:
    standard = {name: getattr(relation, name) for name in sorted(STANDARD_FIELDS)}
    return {**(relation.custom or {}), **standard}


def load_relation(session: Session, relation_id: int) -> RelationRecord | None:
    relation = session.get(Relation, relation_id)
    if relation is None or relation.id is None:
        return None
    name = " ".join(part for part in (relation.first_name, relation.last_name) if part)
    return RelationRecord(
        id=relation.id,
        email=relation.email,
        display_name=name,
        opt_in_email=relation.opt_in_email,
        fields=_fields(relation),
        external_id=relation.external_id,
    )


def load_groups(session: Session, relation_id: int) -> frozenset[str]:
    keys = session.exec(
        select(Group.key)
        .join(GroupMember, col(GroupMember.group_id) == col(Group.id))
        .where(col(GroupMember.relation_id) == relation_id)
    ).all()
    return frozenset(keys)


def load_events(
    session: Session, relation_id: int, types: Collection[str]
) -> tuple[EventFact, ...]:
    """The relation's events of these types (only those a condition asks about)."""
    if not types:
        return ()
    rows = session.exec(
        select(Event.type, Event.occurred_at, Event.payload).where(
            col(Event.relation_id) == relation_id, col(Event.type).in_(sorted(types))
        )
    ).all()
    return tuple(
        EventFact(type=t, occurred_at=at, payload=dict(payload)) for t, at, payload in rows
    )


def load_payload(session: Session, event_id: int | None) -> dict[str, Any] | None:
    """The payload of the event that admitted a trip (`event.amount` in conditions)."""
    if event_id is None:
        return None
    event = session.get(Event, event_id)
    return None if event is None else dict(event.payload)


def load_facts(
    session: Session,
    relation_id: int,
    *,
    event_types: Collection[str] = (),
    event_id: int | None = None,
    now: datetime | None = None,
) -> RelationFacts | None:
    """What a condition sees, read fresh; None when the relation has been erased.
    `event_types`: the types its `event` nodes name; `event_id`: the admitting event."""
    record = load_relation(session, relation_id)
    if record is None:
        return None
    return RelationFacts(
        fields=record.fields,
        groups=load_groups(session, relation_id),
        events=load_events(session, relation_id, event_types),
        event=load_payload(session, event_id),
        as_of=now,
    )


def recent_events(
    session: Session, relation_id: int, types: Collection[str], limit: int = 10
) -> dict[str, list[dict[str, Any]]]:
    """`recent` in templates: per event type, the relation's last `limit` events of it,
    newest first, each its payload plus `occurred_at`. Every type asked for is present
    (an empty list when the relation has none), so `{% for p in recent.purchase %}`
    renders nothing rather than failing for a relation that never bought."""
    recent: dict[str, list[dict[str, Any]]] = {}
    for event_type in sorted(types):
        rows = session.exec(
            select(Event.occurred_at, Event.payload)
            .where(col(Event.relation_id) == relation_id, col(Event.type) == event_type)
            .order_by(col(Event.occurred_at).desc(), col(Event.id).desc())
            .limit(limit)
        ).all()
        # Plain dicts: the context is pickled to a render process.
        recent[event_type] = [{**dict(payload), "occurred_at": at} for at, payload in rows]
    return recent


def render_context(
    record: RelationRecord,
    event: dict[str, Any] | None = None,
    recent: dict[str, list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Template variables: `{{ relation.first_name }}`, `{{ relation.member_since }}`, the
    payload of the event that admitted the trip, `{{ event.fund }}` (empty when a trip
    was not admitted by an event), and `recent` (see recent_events). `locale` and
    `timezone` are the relation's, read by the locale filters (`| date`, `| currency`)."""
    return {
        "relation": {**record.fields, "id": record.id, "external_id": record.external_id},
        "event": event or {},
        "recent": recent or {},
        "locale": record.fields.get("locale") or DEFAULT_LOCALE,
        "timezone": record.fields.get("timezone"),
    }


def template_for_send(session: Session, trip_id: str, key: str) -> TemplateVersion | None:
    """The version of template `key` that this trip's journey version sends (its pin,
    see store.templates.pinned); None when the trip or the template is gone."""
    trip = session.get(Trip, trip_id)
    if trip is None:
        return None
    return templates.pinned(session, trip.journey_id, trip.journey_version, key)
