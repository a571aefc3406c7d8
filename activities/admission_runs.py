"""Large admissions: the current members of a segment at activation, the entrants of a
segment edit, the relations whose date comes round today, a selection trigger's group,
segment or journey (activities/selections.py).

A run is a row (`admission_run`) with its source and a cursor, carried out by the
AdmitMembers workflow one page at a time (the bounded, resumable fan-out of the
batch sliding-window sample): each page admits up to PAGE relations, at most
CONCURRENCY at once, then commits the cursor and the counts. A worker that dies in the
middle of a page makes Temporal retry that page; the relations it already admitted are
found by the run's admission key (one trip per journey, relation and key), so nobody is
admitted twice and nobody after the cursor is left out. A selection run also records
the relations of each page (run_member, with the cursor): its selection, which a
sync_group step makes its group equal to when the run is finished.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from activities.admission import AdmissionConflict, Cause, admit
from activities.contracts import (
    ADMIT_MEMBERS_WORKFLOW,
    ADMIT_PAGE,
    AdmitMembersInput,
    AdmitPageInput,
    AdmitPageResult,
)
from domain.definition import parse_frozen
from domain.statuses import JourneyStatus, TripStatus
from domain.triggers import SegmentEntryTrigger, SelectionTrigger
from store import imports, journeys, recurring
from store.db import session_scope
from store.effects import run_key
from store.errors import NotFound
from store.models import (
    AdmissionRun,
    Group,
    GroupMember,
    Journey,
    Relation,
    RunMember,
    Segment,
    SegmentMember,
    StepEffect,
    Trip,
    utcnow,
)

PAGE = 200
# More starts in flight than this only queue up in the Temporal frontend (measured on the
# dev server: 10-20 in flight is the sweet spot).
CONCURRENCY = 16

RUNNING = "running"
FINISHED = "finished"
STOPPED = "stopped"  # the journey stopped admitting before the run was through


def workflow_id(run_id: int) -> str:
    return f"admit:{run_id}"


def create_run(
    session: Session,
    *,
    journey_id: int,
    journey_version: int,
    trigger_index: int,
    trigger_label: str,
    key: str,
    source: dict[str, Any],
    admission_key: str,
    commit: bool = True,
    start_at: str | None = None,
) -> AdmissionRun:
    """The run for (journey, key), created once: asking again returns the same run.
    With commit=False it is only flushed, into the caller's transaction."""
    found = _by_key(session, journey_id, key)
    if found is not None:
        return found
    run = AdmissionRun(
        journey_id=journey_id,
        journey_version=journey_version,
        key=key,
        trigger=trigger_label,
        trigger_index=trigger_index,
        source=source,
        admission_key=admission_key,
        start_at=start_at,
        total=session.exec(select(func.count()).select_from(Relation).where(_clause(source))).one(),
    )
    session.add(run)
    if not commit:
        session.flush()
        return run
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        found = _by_key(session, journey_id, key)
        assert found is not None
        return found
    session.refresh(run)
    return run


def _by_key(session: Session, journey_id: int, key: str) -> AdmissionRun | None:
    return session.exec(
        select(AdmissionRun).where(
            col(AdmissionRun.journey_id) == journey_id, col(AdmissionRun.key) == key
        )
    ).first()


def _clause(source: dict[str, Any]) -> ColumnElement[bool]:
    """Which relations a run admits, as a condition on `relation`."""
    if "segment" in source:
        members = (
            select(SegmentMember.relation_id)
            .join(Segment, col(Segment.id) == col(SegmentMember.segment_id))
            .where(col(Segment.key) == source["segment"])
        )
        if source.get("entered_at"):
            # The entrants of one segment edit: their membership began at that moment.
            members = members.where(
                col(SegmentMember.since) == datetime.fromisoformat(source["entered_at"])
            )
        return col(Relation.id).in_(members)
    if "date_field" in source:
        return recurring.due_clause(source["date_field"], source["month_days"])
    if "group" in source:
        # A selection of a group's (direct) members.
        return col(Relation.id).in_(
            select(GroupMember.relation_id)
            .join(Group, col(Group.id) == col(GroupMember.group_id))
            .where(col(Group.key) == source["group"])
        )
    if "journey" in source:
        # A selection of the relations travelling through another journey right now.
        return col(Relation.id).in_(
            select(Trip.relation_id).where(
                col(Trip.journey_id) == source["journey"],
                col(Trip.status) == TripStatus.running,
                col(Trip.relation_id).is_not(None),
            )
        )
    if "import_job" in source:
        # The relations an import step's file made or updated, per its way out.
        return imports.run_clause(source)
    raise ValueError(f"unknown admission run source {sorted(source)}")


async def start_run(client: Client, task_queue: str, run_id: int) -> None:
    """Start (or find running) the workflow that carries the run out."""
    await client.start_workflow(
        ADMIT_MEMBERS_WORKFLOW,
        AdmitMembersInput(run_id=run_id),
        id=workflow_id(run_id),
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary=f"admission run {run_id}",
    )


def members_run(session: Session, journey: Journey) -> list[AdmissionRun]:
    """Runs that admit the current members of each segment_entry trigger's segment, for
    an activation that asked for "current members too"."""
    assert journey.id is not None and journey.active_version is not None
    frozen = journeys.version(session, journey.id, journey.active_version)
    definition = parse_frozen(frozen.definition)
    # One admission key for the whole activation: a relation in the segments of two
    # segment_entry triggers is admitted once, as with any other cause.
    activation = f"members:v{frozen.version}:{utcnow().isoformat()}"
    runs = []
    for index, trigger in enumerate(definition.triggers):
        if isinstance(trigger, SegmentEntryTrigger):
            runs.append(
                create_run(
                    session,
                    journey_id=journey.id,
                    journey_version=frozen.version,
                    trigger_index=index,
                    trigger_label=definition.trigger_label(index),
                    key=f"{activation}:{index}",
                    source={"segment": trigger.segment},
                    admission_key=activation,
                )
            )
    return runs


def entry_runs(session: Session, segment: Segment, entered_at: datetime) -> list[int]:
    """Runs (written in the caller's transaction) that admit a segment edit's entrants,
    whose membership began at `entered_at`, to every active journey that a
    `segment_entry` on the segment triggers: one per journey. The caller starts them
    after its commit (start_run)."""
    stamp = entered_at.isoformat()
    found = []
    for frozen in journeys.active_versions(session):
        journey, version = frozen.journey_id, frozen.version
        definition = parse_frozen(frozen.definition)
        for index, trigger in enumerate(definition.triggers):
            if isinstance(trigger, SegmentEntryTrigger) and trigger.segment == segment.key:
                key = f"edit:{segment.id}:{stamp}"
                run = create_run(
                    session,
                    journey_id=journey,
                    journey_version=version,
                    trigger_index=index,
                    trigger_label=definition.trigger_label(index),
                    key=key,
                    source={"segment": segment.key, "entered_at": stamp},
                    admission_key=key,
                    commit=False,
                )
                assert run.id is not None
                found.append(run.id)
                break  # one run per journey, as one event makes one trip
    return found


class AdmissionRunActivities:
    def __init__(self, engine: Engine, client: Client, task_queue: str) -> None:
        self._engine = engine
        self._client = client
        self._task_queue = task_queue

    @activity.defn(name=ADMIT_PAGE)
    async def admit_page(self, data: AdmitPageInput) -> AdmitPageResult:
        """Admit the next page of the run's relations and move its cursor past them."""
        page = await asyncio.to_thread(self._next_page, data.run_id)
        run, ids = page.run, page.ids
        if run is None:
            return AdmitPageResult(admitted=0, skipped=0, done=True)
        cause = Cause(
            trigger=run.trigger,
            key=run.admission_key,
            yearly="date_field" in run.source,
            version=run.journey_version,
            start_at=run.start_at,
        )
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(relation_id: int) -> bool:
            async with gate:
                try:
                    trip = await admit(
                        self._client,
                        self._engine,
                        self._task_queue,
                        run.journey_id,
                        relation_id,
                        cause,
                        eager=True,
                    )
                except (AdmissionConflict, NotFound):
                    return False
                finally:
                    activity.heartbeat()
                # A trip this key admitted before the run began (another day's run of
                # the same year), or another run of the same activation admitted, is no
                # admission of this run.
                return trip.started_at >= run.started_at and trip.trigger == run.trigger

        outcomes = await asyncio.gather(*(one(i) for i in ids))
        admitted = sum(outcomes)
        done = not page.more
        await asyncio.to_thread(
            self._advance,
            data.run_id,
            ids if page.selects else [],
            ids[-1] if ids else None,
            admitted,
            len(ids) - admitted,
            done,
        )
        return AdmitPageResult(admitted=admitted, skipped=len(ids) - admitted, done=done)

    def _next_page(self, run_id: int) -> _Page:
        """The run, its next page of relation ids, and whether more follow (one id
        beyond the page is read, so the last page says so: no empty page at the end,
        which would queue behind the trips the run itself started)."""
        with session_scope(self._engine) as session:
            run = session.get(AdmissionRun, run_id)
            if run is None or run.status != RUNNING:
                return _Page()
            journey = session.get(Journey, run.journey_id)
            if journey is None or (journey.status, journey.active_version) != (
                JourneyStatus.active,
                run.journey_version,
            ):
                # Deactivated (or a new version activated) meanwhile: nobody more enters.
                run.status, run.finished_at = STOPPED, utcnow()
                session.add(run)
                return _Page()
            ids = session.exec(
                select(Relation.id)
                .where(_clause(run.source), col(Relation.id) > run.cursor)
                .order_by(col(Relation.id))
                .limit(PAGE + 1)
            ).all()
            found = [i for i in ids if i is not None]
            return _Page(run, found[:PAGE], len(found) > PAGE, is_selection(session, run))

    def _advance(
        self,
        run_id: int,
        selected: list[int],
        last: int | None,
        admitted: int,
        skipped: int,
        done: bool,
    ) -> None:
        with session_scope(self._engine) as session:
            run = session.get(AdmissionRun, run_id)
            assert run is not None
            if last is not None:
                if last <= run.cursor:
                    # A retried page whose first attempt committed: recorded already.
                    selected = []
                run.cursor = max(run.cursor, last)
            # The selection, with the cursor that moves past it: a sync_group step
            # makes its group equal to this (admitted or refused by re-entry alike).
            session.add_all(RunMember(run_id=run_id, relation_id=i) for i in selected)
            run.admitted += admitted
            run.skipped += skipped
            if done:
                run.status = FINISHED
                run.finished_at = utcnow()
            session.add(run)


@dataclass(frozen=True)
class _Page:
    run: AdmissionRun | None = None
    ids: list[int] = field(default_factory=list)
    more: bool = False
    selects: bool = False  # the run records its selection (a selection trigger's run)


def is_selection(session: Session, run: AdmissionRun) -> bool:
    """Whether the run is a `selection` trigger's (its selection is recorded)."""
    frozen = journeys.version(session, run.journey_id, run.journey_version)
    triggers = parse_frozen(frozen.definition).triggers
    index = run.trigger_index
    return 0 <= index < len(triggers) and isinstance(triggers[index], SelectionTrigger)


def runs_of(session: Session, journey_id: int) -> list[AdmissionRun]:
    return list(
        session.exec(
            select(AdmissionRun)
            .where(col(AdmissionRun.journey_id) == journey_id)
            .order_by(col(AdmissionRun.id).desc())
        ).all()
    )


@dataclass(frozen=True)
class Synced:
    """What a run's sync_group step did to its group (store.effects, keyed by run)."""

    step_id: str
    group: str
    added: int
    removed: int
    done: bool


def selection_sizes(session: Session, run_ids: list[int]) -> dict[int, int]:
    """How many relations each run selected (recorded for selection runs only)."""
    if not run_ids:
        return {}
    rows = session.exec(
        select(RunMember.run_id, func.count())
        .where(col(RunMember.run_id).in_(run_ids))
        .group_by(col(RunMember.run_id))
    ).all()
    return {run_id: count for run_id, count in rows}


def sync_results(session: Session, runs: list[AdmissionRun]) -> dict[int, list[Synced]]:
    """Each run's sync_group results, from the effects its finish_run recorded."""
    wanted: dict[str, tuple[int, str]] = {}
    steps_of: dict[tuple[int, int], list[str]] = {}
    for run in runs:
        assert run.id is not None
        version = (run.journey_id, run.journey_version)
        if version not in steps_of:
            frozen = journeys.version(session, *version)
            steps_of[version] = [
                s.id for s in parse_frozen(frozen.definition).steps if s.type == "sync_group"
            ]
        for step_id in steps_of[version]:
            wanted[run_key(run.id, step_id)] = (run.id, step_id)
    found: dict[int, list[Synced]] = {}
    if not wanted:
        return found
    rows = session.exec(select(StepEffect).where(col(StepEffect.key).in_(list(wanted)))).all()
    for row in sorted(rows, key=lambda r: r.key):
        run_id, step_id = wanted[row.key]
        result = row.result
        found.setdefault(run_id, []).append(
            Synced(
                step_id=step_id,
                group=str(result.get("group", "")),
                added=int(result.get("added", 0)),
                removed=int(result.get("removed", 0)),
                done=bool(result.get("done", False)),
            )
        )
    return found


def running_runs(session: Session, before: datetime) -> list[int]:
    """Runs still running that began before `before`."""
    rows = session.exec(
        select(AdmissionRun.id).where(
            col(AdmissionRun.status) == RUNNING, col(AdmissionRun.started_at) < before
        )
    ).all()
    return [i for i in rows if i is not None]
