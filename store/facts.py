"""A relation as conditions and templates see it: one flat dict of fields, plus groups.

Standard fields and custom fields live in one namespace (`member_since` may be either);
when a custom field has the name of a standard one, the standard field wins, so a stray
import column can never change the address a mail goes to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from domain.conditions import STANDARD_FIELDS, RelationFacts
from store.models import Group, GroupMember, Relation


@dataclass(frozen=True)
class RelationRecord:
    id: int
    email: str | None
    display_name: str
    opt_in_email: bool
    fields: dict[str, Any]


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
    )


def load_groups(session: Session, relation_id: int) -> frozenset[str]:
    keys = session.exec(
        select(Group.key)
        .join(GroupMember, col(GroupMember.group_id) == col(Group.id))
        .where(col(GroupMember.relation_id) == relation_id)
    ).all()
    return frozenset(keys)


def load_facts(session: Session, relation_id: int) -> RelationFacts | None:
    """What a condition sees, read fresh; None when the relation has been erased."""
    record = load_relation(session, relation_id)
    if record is None:
        return None
    return RelationFacts(fields=record.fields, groups=load_groups(session, relation_id))


def render_context(record: RelationRecord) -> dict[str, Any]:
    """Template variables: `{{ relation.first_name }}`, `{{ relation.member_since }}`."""
    return {"relation": {**record.fields, "id": record.id}}
