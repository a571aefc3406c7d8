from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.deps import EngineDep, IdPath, Limit, Offset, SessionDep, TaskQueueDep, TemporalDep
from api.dispatching import dispatch_changes
from api.schemas.groups import GroupCreate, GroupDetail, GroupPublic, GroupsPublic
from api.schemas.relations import RelationPublic, RelationsPublic
from api.security import allow
from store import groups
from store.keys import Scope
from store.models import Group

router = APIRouter(prefix="/groups", tags=["groups"])


def _public(session: Session, group: Group, parents: dict[int, str] | None = None) -> GroupPublic:
    assert group.id is not None
    if parents is None:
        parents = groups.keys_of(session, {group.parent_id} if group.parent_id else set())
    return GroupPublic(
        key=group.key,
        name=group.name,
        members=groups.member_count(session, group.id),
        parent=parents.get(group.parent_id) if group.parent_id is not None else None,
        created_at=group.created_at,
    )


@router.post("", dependencies=[allow(Scope.operator)], status_code=201, response_model=GroupPublic)
def create_group(body: GroupCreate, session: SessionDep) -> GroupPublic:
    return _public(session, groups.create(session, body.key, body.name))


@router.get("", dependencies=[allow(Scope.operator, Scope.support)], response_model=GroupsPublic)
def list_groups(session: SessionDep, limit: Limit = 100, offset: Offset = 0) -> GroupsPublic:
    rows, count = groups.list_page(session, limit=limit, offset=offset)
    parents = groups.keys_of(session, {g.parent_id for g in rows if g.parent_id is not None})
    return GroupsPublic(data=[_public(session, g, parents) for g in rows], count=count)


@router.get(
    "/{key}", dependencies=[allow(Scope.operator, Scope.support)], response_model=GroupDetail
)
def read_group(key: str, session: SessionDep) -> GroupDetail:
    group = groups.get(session, key)
    assert group.id is not None
    return GroupDetail(
        **_public(session, group).model_dump(), subgroups=groups.subgroups(session, group.id)
    )


@router.delete(
    "/{key}",
    dependencies=[allow(Scope.operator)],
    status_code=204,
    response_class=Response,
    description="409 while a journey may still use the group (a condition, a group step, "
    "a selection trigger): it is active, or trips of an earlier version (e.g. a drained "
    "journey) are still running. Its subgroups are deleted with it.",
)
def delete_group(key: str, session: SessionDep) -> None:
    groups.delete(session, key)


@router.put(
    "/{key}/members/{relation_id}",
    dependencies=[allow(Scope.operator, Scope.app)],
    status_code=204,
    response_class=Response,
    summary="Add a relation to the group (idempotent)",
)
async def add_member(
    key: str, relation_id: IdPath, engine: EngineDep, temporal: TemporalDep, queue: TaskQueueDep
) -> None:
    await run_in_threadpool(_member, engine, groups.add_member, key, relation_id)
    await dispatch_changes(engine, temporal, queue, relation_id)


@router.delete(
    "/{key}/members/{relation_id}",
    dependencies=[allow(Scope.operator, Scope.app)],
    status_code=204,
    response_class=Response,
    summary="Remove a relation from the group",
)
async def remove_member(
    key: str, relation_id: IdPath, engine: EngineDep, temporal: TemporalDep, queue: TaskQueueDep
) -> None:
    await run_in_threadpool(_member, engine, groups.remove_member, key, relation_id)
    await dispatch_changes(engine, temporal, queue, relation_id)


def _member(
    engine: Engine, change: Callable[[Session, str, int], None], key: str, relation_id: int
) -> None:
    """Segments are re-evaluated in the membership's own transaction (store/groups.py)."""
    with Session(engine) as session:
        change(session, key, relation_id)


@router.get("/{key}/members", dependencies=[allow(Scope.support)], response_model=RelationsPublic)
def list_members(
    key: str, session: SessionDep, limit: Limit = 100, offset: Offset = 0
) -> RelationsPublic:
    rows, count = groups.members(session, key, limit=limit, offset=offset)
    return RelationsPublic(data=[RelationPublic.model_validate(r) for r in rows], count=count)
