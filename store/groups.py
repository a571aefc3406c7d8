"""Groups: static lists of relations, added to and removed from explicitly."""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from store import journeys
from store.errors import Conflict, NotFound
from store.membership import reevaluate
from store.models import Group, GroupMember, Relation, utcnow


def create(session: Session, key: str, name: str) -> Group:
    if session.exec(select(Group).where(col(Group.key) == key)).first() is not None:
        raise Conflict(f"group '{key}' already exists")
    group = Group(key=key, name=name)
    session.add(group)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"group '{key}' already exists") from None
    session.refresh(group)
    return group


def get(session: Session, key: str) -> Group:
    group = session.exec(select(Group).where(col(Group.key) == key)).first()
    if group is None:
        raise NotFound("group", key)
    return group


def list_page(session: Session, *, limit: int = 100, offset: int = 0) -> tuple[list[Group], int]:
    rows = session.exec(select(Group).order_by(col(Group.key)).offset(offset).limit(limit)).all()
    return list(rows), session.exec(select(func.count()).select_from(Group)).one()


def member_count(session: Session, group_id: int) -> int:
    query = (
        select(func.count()).select_from(GroupMember).where(col(GroupMember.group_id) == group_id)
    )
    return session.exec(query).one()


def delete(session: Session, key: str) -> None:
    group = get(session, key)
    using = journeys.journeys_using_group(session, key)
    if using:
        raise Conflict(
            f"group '{key}' is used by journeys {using} (active, or with trips still running)"
        )
    session.delete(group)
    session.commit()


def add_member(session: Session, key: str, relation_id: int) -> None:
    """Idempotent: adding a member twice leaves one membership."""
    group = get(session, key)
    if session.get(Relation, relation_id) is None:
        raise NotFound("relation", relation_id)
    if session.get(GroupMember, (group.id, relation_id)) is not None:
        return
    assert group.id is not None
    session.add(GroupMember(group_id=group.id, relation_id=relation_id))
    try:
        session.flush()
    except IntegrityError:
        # Added at the same moment by another request: the membership exists, as asked
        # (and that request re-evaluates the segments).
        session.rollback()
        return
    reevaluate(session, relation_id, cause="groups", now=utcnow())
    session.commit()


def remove_member(session: Session, key: str, relation_id: int) -> None:
    group = get(session, key)
    member = session.get(GroupMember, (group.id, relation_id))
    if member is None:
        raise NotFound(f"member of group '{key}'", relation_id)
    session.delete(member)
    session.flush()
    reevaluate(session, relation_id, cause="groups", now=utcnow())
    session.commit()


def members(
    session: Session, key: str, *, limit: int = 100, offset: int = 0
) -> tuple[list[Relation], int]:
    group = get(session, key)
    query = (
        select(Relation)
        .join(GroupMember, col(GroupMember.relation_id) == col(Relation.id))
        .where(col(GroupMember.group_id) == group.id)
        .order_by(col(Relation.id))
    )
    rows = session.exec(query.offset(offset).limit(limit)).all()
    assert group.id is not None
    return list(rows), member_count(session, group.id)
