"""Groups: static lists of relations, added to and removed from explicitly (through
the API or a journey's group steps), and subgroups made by an add_to_group step."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete as sql_delete
from sqlalchemy import exists, func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from store import journeys
from store.errors import Conflict, NotFound
from store.membership import reevaluate
from store.models import Group, GroupMember, Relation, RunMember, utcnow


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


def find(session: Session, key: str) -> Group | None:
    return session.exec(select(Group).where(col(Group.key) == key)).first()


def list_page(session: Session, *, limit: int = 100, offset: int = 0) -> tuple[list[Group], int]:
    rows = session.exec(select(Group).order_by(col(Group.key)).offset(offset).limit(limit)).all()
    return list(rows), session.exec(select(func.count()).select_from(Group)).one()


def member_count(session: Session, group_id: int) -> int:
    query = (
        select(func.count()).select_from(GroupMember).where(col(GroupMember.group_id) == group_id)
    )
    return session.exec(query).one()


def delete(session: Session, key: str) -> None:
    """With its subgroups (the rows cascade): refused while a journey uses any of them."""
    group = get(session, key)
    assert group.id is not None
    users = journeys.group_users(session)
    for each in [key, *_descendants(session, group.id)]:
        using = sorted(users.get(each, set()))
        if using:
            whose = "" if each == key else f"its subgroup '{each}' "
            raise Conflict(
                f"group '{key}': {whose}is used by journeys {using} "
                "(active, or with trips still running)"
            )
    session.delete(group)
    session.commit()


def _descendants(session: Session, group_id: int) -> list[str]:
    found: list[str] = []
    level = [group_id]
    while level:
        rows = session.exec(
            select(Group.id, Group.key).where(col(Group.parent_id).in_(level))
        ).all()
        found.extend(key for _, key in rows)
        level = [gid for gid, _ in rows if gid is not None]
    return found


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


# --- group steps ----------------------------------------------------------------------


def keys_of(session: Session, ids: set[int]) -> dict[int, str]:
    """Keys by id (a page's parents, in one query)."""
    if not ids:
        return {}
    rows = session.exec(select(Group.id, Group.key).where(col(Group.id).in_(sorted(ids)))).all()
    return {gid: key for gid, key in rows if gid is not None}


def subgroups(session: Session, group_id: int, *, limit: int = 1000) -> list[str]:
    """The keys of a group's subgroups, newest first (a daily subgroup makes many)."""
    rows = session.exec(
        select(Group.key)
        .where(col(Group.parent_id) == group_id)
        .order_by(col(Group.id).desc())
        .limit(limit)
    ).all()
    return list(rows)


def ensure_subgroup(session: Session, parent: Group, key: str) -> tuple[Group, bool]:
    """The group `key`, made as a subgroup of `parent` if it does not exist yet (and
    whether this call made it). Concurrent-safe: two trips making the same subgroup at
    once insert one row, the other finds it. A group of that key that exists already is
    used as it is, whatever its parent."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    made = session.exec(
        insert(Group)
        .values(key=key, name=key, parent_id=parent.id, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(col(Group.id))
    ).first()
    group = find(session, key)
    assert group is not None
    return group, made is not None


def join(session: Session, group_id: int, relation_id: int) -> bool:
    """Add the membership in the caller's transaction; False when it was there."""
    if session.get(GroupMember, (group_id, relation_id)) is not None:
        return False
    session.add(GroupMember(group_id=group_id, relation_id=relation_id))
    session.flush()
    return True


def leave(session: Session, group_id: int, relation_id: int) -> bool:
    """Remove the membership in the caller's transaction; False when there was none."""
    member = session.get(GroupMember, (group_id, relation_id))
    if member is None:
        return False
    session.delete(member)
    session.flush()
    return True


def differences(
    session: Session, group_id: int, run_id: int, limit: int
) -> tuple[list[int], list[int]]:
    """At most `limit` relations by which the group differs from run `run_id`'s
    selection: (selected relations not in it, members not selected). Both empty: the
    group equals the selection (of the relations that still exist)."""
    in_group = exists().where(
        col(GroupMember.group_id) == group_id, col(GroupMember.relation_id) == col(Relation.id)
    )
    selected = exists().where(
        col(RunMember.run_id) == run_id, col(RunMember.relation_id) == col(Relation.id)
    )
    joining = [
        i
        for i in session.exec(
            select(Relation.id).where(selected, ~in_group).order_by(col(Relation.id)).limit(limit)
        ).all()
        if i is not None
    ]
    kept = exists().where(
        col(RunMember.run_id) == run_id,
        col(RunMember.relation_id) == col(GroupMember.relation_id),
    )
    leaving: list[int] = []
    if len(joining) < limit:
        leaving = list(
            session.exec(
                select(GroupMember.relation_id)
                .where(col(GroupMember.group_id) == group_id, ~kept)
                .order_by(col(GroupMember.relation_id))
                .limit(limit - len(joining))
            ).all()
        )
    return joining, leaving


def apply_sync(
    session: Session, group_id: int, joining: Sequence[int], leaving: Sequence[int]
) -> None:
    """Add and remove these memberships in the caller's transaction."""
    session.add_all(GroupMember(group_id=group_id, relation_id=i) for i in joining)
    if leaving:
        session.exec(
            sql_delete(GroupMember).where(
                col(GroupMember.group_id) == group_id, col(GroupMember.relation_id).in_(leaving)
            )
        )
    session.flush()
