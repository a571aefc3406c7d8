"""Segments: dynamic lists. Editing one that active journeys use asks for confirmation."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.service import RPCError

from activities.admission_runs import entry_runs, start_run
from api.deps import EngineDep, Limit, Offset, SessionDep, TaskQueueDep, TemporalDep
from api.schemas.relations import RelationPublic, RelationsPublic
from api.schemas.segments import (
    PreviewPublic,
    SegmentCreate,
    SegmentEdited,
    SegmentPreview,
    SegmentPublic,
    SegmentsPublic,
    SegmentUpdate,
)
from api.security import allow
from domain.conditions import Condition
from store import segments
from store.condition_sql import UnsupportedCondition, check
from store.errors import Conflict, Invalid, Problem
from store.keys import Scope
from store.models import Segment, utcnow

router = APIRouter(prefix="/segments", tags=["segments"])
_log = logging.getLogger("reisplan.api")


def _public(session: Session, segment: Segment) -> SegmentPublic:
    assert segment.id is not None
    return SegmentPublic(
        key=segment.key,
        name=segment.name,
        condition=segment.condition,
        members=segments.member_count(session, segment.id),
        created_at=segment.created_at,
        updated_at=segment.updated_at,
    )


def _meaningful(condition: Condition) -> None:
    """A condition SQL can evaluate over relations, or a 422 naming the part."""
    try:
        check(condition)
    except UnsupportedCondition as error:
        raise Invalid(
            [Problem(("body", "condition", *error.path), str(error), "segment_condition")]
        ) from None


@router.post(
    "",
    dependencies=[allow(Scope.operator)],
    status_code=201,
    response_model=SegmentPublic,
    description="Its current matches become its members (no journey entry: the segment "
    "did not exist before).",
)
def create_segment(body: SegmentCreate, session: SessionDep) -> SegmentPublic:
    _meaningful(body.condition)
    segment = segments.create(
        session, key=body.key, name=body.name, condition=body.condition, now=utcnow()
    )
    return _public(session, segment)


@router.get("", dependencies=[allow(Scope.operator, Scope.support)], response_model=SegmentsPublic)
def list_segments(session: SessionDep, limit: Limit = 100, offset: Offset = 0) -> SegmentsPublic:
    rows, count = segments.list_page(session, limit=limit, offset=offset)
    return SegmentsPublic(data=[_public(session, s) for s in rows], count=count)


@router.post(
    "/preview",
    dependencies=[allow(Scope.operator)],
    response_model=PreviewPublic,
    description="How many relations match this condition now; nothing is stored.",
)
def preview_segment(body: SegmentPreview, session: SessionDep) -> PreviewPublic:
    _meaningful(body.condition)
    return PreviewPublic(count=segments.preview(session, body.condition, utcnow()))


@router.get(
    "/{key}", dependencies=[allow(Scope.operator, Scope.support)], response_model=SegmentPublic
)
def read_segment(key: str, session: SessionDep) -> SegmentPublic:
    return _public(session, segments.get(session, key))


@router.get("/{key}/members", dependencies=[allow(Scope.support)], response_model=RelationsPublic)
def list_members(
    key: str, session: SessionDep, limit: Limit = 100, offset: Offset = 0
) -> RelationsPublic:
    rows, count = segments.members(session, key, limit=limit, offset=offset)
    return RelationsPublic(data=[RelationPublic.model_validate(r) for r in rows], count=count)


@router.put(
    "/{key}",
    dependencies=[allow(Scope.operator)],
    response_model=SegmentEdited,
    description="Change the condition (and name) and apply the membership at once. If "
    "an active journey uses the segment in a trigger, the answer is 409 saying how many "
    "relations would enter and leave, unless `confirm=true`: entrants are then admitted "
    "to journeys with a segment_entry trigger on it, by an admission run each.",
)
async def edit_segment(
    key: str,
    body: SegmentUpdate,
    engine: EngineDep,
    temporal: TemporalDep,
    task_queue: TaskQueueDep,
    confirm: Annotated[
        bool, Query(description="Apply although active journeys use the segment")
    ] = False,
) -> SegmentEdited:
    _meaningful(body.condition)
    now = utcnow()
    edited, entered, left, runs = await run_in_threadpool(_edit, engine, key, body, confirm, now)
    for run_id in runs:
        try:
            await start_run(temporal, task_queue, run_id)
        except RPCError as error:
            # The edit and its runs are saved: the trip-sync schedule starts the run.
            _log.warning("admission run %s: start deferred: %s", run_id, error.message)
    return SegmentEdited(segment=edited, entered=entered, left=left, admission_runs=runs)


def _edit(
    engine: Engine, key: str, body: SegmentUpdate, confirm: bool, now: datetime
) -> tuple[SegmentPublic, int, int, list[int]]:
    """Apply the edit and write the runs that admit its entrants in one transaction; if
    starting a run's workflow fails after it, the trip-sync schedule starts it."""
    with Session(engine, expire_on_commit=False) as session:
        using, admitting = segments.active_journeys_using(session, key)
        if using and not confirm:
            # Counted without the lock: an edit that is not applied must not hold up
            # every relation change meanwhile.
            change = segments.difference(session, segments.get(session, key), body.condition, now)
            raise Conflict(
                f"segment '{key}' is used by active journeys {using}: this edit would let "
                f"{len(change.entering)} relations enter (admitted by journeys {admitting}) "
                f"and {len(change.leaving)} leave; repeat with confirm=true to apply it"
            )
        segment = segments.lock(session, key, now)
        change = segments.edit(session, segment, name=body.name, condition=body.condition, now=now)
        runs = entry_runs(session, segment, now) if change.entering else []
        session.commit()
        session.refresh(segment)
        return _public(session, segment), len(change.entering), len(change.leaving), runs


@router.delete(
    "/{key}",
    dependencies=[allow(Scope.operator)],
    status_code=204,
    response_class=Response,
    description="409 while an active journey's trigger names it.",
)
def delete_segment(key: str, session: SessionDep) -> None:
    segments.delete_segment(session, key)
