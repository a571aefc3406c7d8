from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.service import RPCError

from activities.admission import admit
from activities.admission_runs import (
    Synced,
    members_run,
    runs_of,
    selection_sizes,
    start_run,
    sync_results,
)
from activities.recurring_schedules import ensure_recurring_schedules, remove_recurring_schedules
from activities.selection_schedules import (
    ensure_selection_schedules,
    remove_selection_schedules,
    scheduled,
)
from activities.selections import one_off_runs
from api.batch import cancel_running_trips, terminate_stuck_trips
from api.deps import EngineDep, IdPath, Limit, Offset, SessionDep, TaskQueueDep, TemporalDep
from api.schemas.journeys import (
    ActivationPublic,
    AdmissionRunPublic,
    AdmissionRunsPublic,
    DeactivationPublic,
    EnrollmentCreate,
    JourneyCreate,
    JourneyPublic,
    JourneysPublic,
    JourneyStats,
    JourneyUpdate,
    SendCounts,
    StepStats,
    SyncedGroupPublic,
    TripTotals,
    VersionPublic,
    VersionsPublic,
    WaitingRelation,
    WaitingRelations,
)
from api.schemas.mail_stats import ConversionOverride, MailStats
from api.schemas.trips import TripSummary
from api.security import allow
from domain.definition import JourneyDefinition, parse_frozen
from domain.statuses import JourneyStatus
from domain.steps.relations import CONFIRM_DELETE_MANY
from domain.triggers import RecurringDateTrigger, SegmentEntryTrigger, SelectionTrigger
from store import journeys, mail_stats, problems, sends, trips
from store.errors import Conflict, Invalid, NotFound, Problem
from store.keys import Scope
from store.models import AdmissionRun, Journey, utcnow

router = APIRouter(prefix="/journeys", tags=["journeys"])


@router.post(
    "",
    dependencies=[allow(Scope.operator)],
    status_code=201,
    response_model=JourneyPublic,
    description="Create a draft. Schema and graph errors (unknown targets, loops, "
    "unreachable steps) are 422 entries naming the step and field.",
)
def create_journey(body: JourneyCreate, session: SessionDep) -> JourneyPublic:
    return JourneyPublic.model_validate(journeys.create(session, body.definition))


@router.get("", dependencies=[allow(Scope.operator, Scope.support)], response_model=JourneysPublic)
def list_journeys(
    session: SessionDep,
    status: Annotated[JourneyStatus | None, Query()] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> JourneysPublic:
    rows, count = journeys.list_page(session, status=status, limit=limit, offset=offset)
    return JourneysPublic(data=[JourneyPublic.model_validate(j) for j in rows], count=count)


@router.get(
    "/{journey_id}",
    dependencies=[allow(Scope.operator, Scope.support)],
    response_model=JourneyPublic,
)
def read_journey(journey_id: IdPath, session: SessionDep) -> JourneyPublic:
    return JourneyPublic.model_validate(journeys.get(session, journey_id))


@router.put(
    "/{journey_id}",
    dependencies=[allow(Scope.operator)],
    response_model=JourneyPublic,
    description="Replace the draft. 409 while active: deactivate first.",
)
def edit_journey(journey_id: IdPath, body: JourneyUpdate, session: SessionDep) -> JourneyPublic:
    return JourneyPublic.model_validate(journeys.edit_draft(session, journey_id, body.definition))


@router.delete(
    "/{journey_id}",
    dependencies=[allow(Scope.operator)],
    status_code=204,
    response_class=Response,
    description="Only for journeys that never ran (409 otherwise): trip history is kept.",
)
def delete_journey(journey_id: IdPath, session: SessionDep) -> None:
    journeys.delete(session, journey_id)


@router.post(
    "/{journey_id}/activate",
    dependencies=[allow(Scope.operator)],
    response_model=ActivationPublic,
    description="Check the templates, groups and segments the draft refers to, freeze it "
    "as a new version (or reuse the latest if unchanged) and admit relations. 409 if "
    "active. A journey with a segment_entry trigger admits those who enter the segment "
    "from now on (`members=new`, the default), or its current members too "
    "(`members=current`: a resumable admission run, see /journeys/{id}/admissions). "
    "Recurring-date triggers and scheduled selection triggers get their Temporal Schedule "
    "here; a selection trigger without a schedule makes its one run now.",
)
async def activate_journey(
    journey_id: IdPath,
    engine: EngineDep,
    temporal: TemporalDep,
    task_queue: TaskQueueDep,
    members: Annotated[
        Literal["new", "current"],
        Query(description="Segment triggers: admit current members too, or only new entrants"),
    ] = "new",
    confirm: Annotated[
        Literal["delete_many"] | None,
        Query(
            description="delete_many: confirms a delete_relation step with many: true, "
            "which deletes every relation a bulk trigger (selection, segment, recurring "
            "date) admits, for good"
        ),
    ] = None,
) -> ActivationPublic:
    journey, definition = await run_in_threadpool(
        _activate, engine, journey_id, members, confirm == CONFIRM_DELETE_MANY
    )
    try:
        if any(isinstance(t, RecurringDateTrigger) for t in definition.triggers):
            await ensure_recurring_schedules(temporal, journey_id, definition, task_queue)
        if scheduled(definition):
            await ensure_selection_schedules(temporal, journey_id, definition, task_queue)
    except RPCError as error:
        await run_in_threadpool(_undo_activation, engine, journey_id)
        raise HTTPException(
            status_code=503,
            detail=f"journey {journey_id} was not activated: its schedules could not be "
            f"created in Temporal ({error.message})",
        ) from error
    runs: list[AdmissionRun] = []
    if members == "current":
        runs = await run_in_threadpool(_members_runs, engine, journey_id)
    if any(isinstance(t, SelectionTrigger) and not t.schedule for t in definition.triggers):
        runs += await run_in_threadpool(_selection_runs, engine, journey_id)
    for run in runs:
        assert run.id is not None
        await start_run(temporal, task_queue, run.id)
    public = JourneyPublic.model_validate(journey).model_dump()
    return ActivationPublic(**public, admission_runs=[_run_public(r) for r in runs])


def _activate(
    engine: Engine, journey_id: int, members: str, confirm_delete_many: bool
) -> tuple[Journey, JourneyDefinition]:
    with Session(engine, expire_on_commit=False) as session:
        if members == "current":
            draft = parse_frozen(journeys.get(session, journey_id).definition)
            if not any(isinstance(t, SegmentEntryTrigger) for t in draft.triggers):
                raise Invalid(
                    [
                        Problem(
                            ("query", "members"),
                            "members=current needs a segment_entry trigger",
                            "no_segment_trigger",
                        )
                    ]
                )
        journey = journeys.activate(session, journey_id, confirm_delete_many=confirm_delete_many)
        _, definition = journeys.shown_definition(session, journey)
        return journey, definition


def _undo_activation(engine: Engine, journey_id: int) -> None:
    with Session(engine) as session:
        journeys.deactivate(session, journey_id)


def _members_runs(engine: Engine, journey_id: int) -> list[AdmissionRun]:
    with Session(engine, expire_on_commit=False) as session:
        return members_run(session, journeys.get(session, journey_id))


def _selection_runs(engine: Engine, journey_id: int) -> list[AdmissionRun]:
    with Session(engine, expire_on_commit=False) as session:
        return one_off_runs(session, journeys.get(session, journey_id))


def _run_public(
    run: AdmissionRun, selected: int | None = None, synced: list[Synced] | None = None
) -> AdmissionRunPublic:
    return AdmissionRunPublic.model_validate(run).model_copy(
        update={
            "selected": selected,
            "synced": [SyncedGroupPublic(**vars(s)) for s in synced or []],
        }
    )


@router.get(
    "/{journey_id}/admissions",
    dependencies=[allow(Scope.operator, Scope.support)],
    response_model=AdmissionRunsPublic,
    description="Large admissions of this journey, newest first, with their progress: "
    "segment members at activation, segment edits, recurring dates and selections "
    "(with the selection's size and what each sync_group step did to its group).",
)
def admission_runs(journey_id: IdPath, session: SessionDep) -> AdmissionRunsPublic:
    journeys.get(session, journey_id)
    rows = runs_of(session, journey_id)
    ids = [r.id for r in rows if r.id is not None]
    sizes = selection_sizes(session, ids)
    synced = sync_results(session, rows)
    return AdmissionRunsPublic(
        data=[_run_public(r, sizes.get(r.id or 0), synced.get(r.id or 0)) for r in rows],
        count=len(rows),
    )


@router.post(
    "/{journey_id}/deactivate",
    dependencies=[allow(Scope.operator)],
    response_model=DeactivationPublic,
    description="Stop admitting relations. `drain` lets running trips finish; `cancel` "
    "cancels them with one Temporal batch operation (also allowed on an inactive journey, "
    "e.g. to stop a drain).",
)
async def deactivate_journey(
    journey_id: IdPath,
    engine: EngineDep,
    temporal: TemporalDep,
    mode: Literal["drain", "cancel"] = "drain",
) -> DeactivationPublic:
    journey, running, dated, selecting = await run_in_threadpool(
        _deactivate, engine, journey_id, mode
    )
    if dated or selecting:
        # Stop new entries by date and by schedule too. A run that starts meanwhile
        # admits nobody (the journey is inactive); a failure here is repaired by
        # deactivating again with mode=cancel, which is allowed on an inactive journey.
        try:
            if dated:
                await remove_recurring_schedules(temporal, journey_id)
            if selecting:
                await remove_selection_schedules(temporal, journey_id)
        except RPCError as error:
            raise HTTPException(
                status_code=503,
                detail=f"journey {journey_id} is inactive but removing its schedules failed "
                f"({error.message}); retry with mode=cancel",
            ) from error
    job_id: str | None = None
    if mode == "cancel" and running:
        try:
            reason = f"journey {journey_id} deactivated (mode=cancel)"
            job_id = await cancel_running_trips(temporal, journey_id, reason=reason)
            stuck = await terminate_stuck_trips(temporal, journey_id, reason=reason)
            await run_in_threadpool(_close_stuck, engine, journey_id, stuck)
        except RPCError as error:
            raise HTTPException(
                status_code=503,
                detail=f"journey {journey_id} is inactive but cancelling its trips failed "
                f"({error.message}); retry with mode=cancel",
            ) from error
    return DeactivationPublic(
        journey=JourneyPublic.model_validate(journey),
        mode=mode,
        running_trips=running,
        batch_job_id=job_id,
    )


def _close_stuck(engine: Engine, journey_id: int, terminated: list[str]) -> None:
    with Session(engine) as session:
        problems.cancel_stuck(session, journey_id, terminated, utcnow())
        session.commit()


def _deactivate(engine: Engine, journey_id: int, mode: str) -> tuple[Journey, int, bool, bool]:
    """The journey, its running trips, and whether the version that was active (the
    latest) admits by date or by scheduled selection, so those schedules must go."""
    with Session(engine, expire_on_commit=False) as session:
        journey = journeys.get(session, journey_id)
        if journey.status == JourneyStatus.active:
            journey = journeys.deactivate(session, journey_id)
        elif not (mode == "cancel" and journey.status == JourneyStatus.inactive):
            raise Conflict(f"journey {journey_id} is not active")
        _, definition = journeys.shown_definition(session, journey)
        dated = any(isinstance(t, RecurringDateTrigger) for t in definition.triggers)
        selecting = bool(scheduled(definition))
        return journey, trips.running_count(session, journey_id), dated, selecting


@router.get(
    "/{journey_id}/versions",
    dependencies=[allow(Scope.operator, Scope.support)],
    response_model=VersionsPublic,
)
def list_versions(journey_id: IdPath, session: SessionDep) -> VersionsPublic:
    rows = journeys.versions(session, journey_id)
    return VersionsPublic(data=[VersionPublic.model_validate(v) for v in rows], count=len(rows))


@router.get(
    "/{journey_id}/versions/{version}",
    dependencies=[allow(Scope.operator, Scope.support)],
    response_model=VersionPublic,
)
def read_version(journey_id: IdPath, version: IdPath, session: SessionDep) -> VersionPublic:
    return VersionPublic.model_validate(journeys.version(session, journey_id, version))


@router.get(
    "/{journey_id}/stats",
    dependencies=[allow(Scope.operator, Scope.support)],
    response_model=JourneyStats,
    description="Per step of the active (else latest) version: how many relations wait "
    "there now and how many trips passed it, and for send steps what became of their "
    "mails (`sends`, and the full statistics in `mail`); plus trip and mail totals. "
    "Conversions are counted as each send step's `conversion` says, or for every step "
    "as `conversion` and `within` say.",
)
def journey_stats(
    journey_id: IdPath, session: SessionDep, override: ConversionOverride
) -> JourneyStats:
    journey = journeys.get(session, journey_id)
    version, definition = journeys.shown_definition(session, journey)
    counted = trips.counts(session, journey_id, definition)
    # Steps that send something are those that use a template (the step registry says).
    sending = {s.id for s in definition.steps if s.references().templates}
    rules = mail_stats.rules_of(definition)
    mails = mail_stats.for_journey(session, journey_id, sending, rules, override)
    return JourneyStats(
        journey_id=journey_id,
        version=version,
        steps=[
            StepStats(
                step_id=s.step_id,
                type=s.step_type,
                waiting=s.waiting,
                passed=s.passed,
                cancelled=s.cancelled,
                sends=SendCounts(**mails[s.step_id].outcomes) if s.step_id in sending else None,
                mail=MailStats.of(mails[s.step_id]) if s.step_id in sending else None,
            )
            for s in counted.steps
        ],
        totals=TripTotals(**counted.totals),
        sends=SendCounts(**sends.total(m.outcomes for m in mails.values())),
        mail=MailStats.of(mail_stats.total(mails.values())),
    )


@router.get(
    "/{journey_id}/steps/{step_id}/relations",
    dependencies=[allow(Scope.support)],
    response_model=WaitingRelations,
    description="The relations waiting at this step now, longest waiting first, with "
    "their name and email so support staff know who they are.",
)
def waiting_relations(
    journey_id: IdPath, step_id: str, session: SessionDep, limit: Limit = 100, offset: Offset = 0
) -> WaitingRelations:
    journey = journeys.get(session, journey_id)
    if step_id not in journeys.known_step_ids(session, journey):
        raise NotFound(f"step of journey {journey_id}", step_id)
    rows, count = trips.waiting_at(session, journey_id, step_id, limit=limit, offset=offset)
    return WaitingRelations(
        step_id=step_id,
        data=[
            WaitingRelation(
                relation_id=w.relation_id,
                first_name=w.first_name,
                last_name=w.last_name,
                email=w.email,
                trip_id=w.trip_id,
                journey_version=w.journey_version,
                since=w.since,
                waiting_until=w.waiting_until,
            )
            for w in rows
        ],
        count=count,
    )


@router.post(
    "/{journey_id}/enrollments",
    dependencies=[allow(Scope.app, Scope.operator)],
    status_code=201,
    response_model=TripSummary,
    tags=["trips"],
    summary="Add a relation to the journey (start a trip)",
    description="404 for an unknown journey or relation; 409 when the journey is not "
    "active or its re-entry setting forbids another trip for this relation, or when the "
    "journey was deactivated while the trip was starting (the trip is then cancelled). "
    "503 when Temporal failed; if it could not tell whether the trip started, the trip "
    "is kept (see the relation's trips) rather than risk one running unrecorded.",
)
async def enroll(
    journey_id: IdPath,
    body: EnrollmentCreate,
    response: Response,
    engine: EngineDep,
    temporal: TemporalDep,
    task_queue: TaskQueueDep,
) -> TripSummary:
    trip = await admit(temporal, engine, task_queue, journey_id, body.relation_id)
    response.headers["Location"] = f"/trips/{trip.id}"
    return TripSummary.model_validate(trip)
