"""Selection runs: a `selection` trigger admits a group's, a segment's or another
journey's relations, once at activation (the API creates the run) or on its Schedule
(the Selection workflow calls `run_selection`). AdmitMembers carries each run out page
by page, recording the selection (run_member), and ends with `finish_run`: the
journey's sync_group steps make their groups equal to that selection, once per run.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio import activity
from temporalio.client import Client

from activities.admission_runs import RUNNING, create_run
from activities.contracts.selections import (
    FINISH_RUN,
    RUN_SELECTION,
    FinishRunInput,
    FinishRunResult,
    SelectionRunInput,
    SelectionRunResult,
)
from activities.exports import close_run_buckets
from activities.group_steps import sync_run_groups
from domain.definition import JourneyDefinition, parse_frozen
from domain.statuses import JourneyStatus
from domain.triggers import SelectionTrigger
from store import journeys
from store.db import session_scope
from store.errors import NotFound
from store.models import AdmissionRun, Journey, utcnow


def selection_key(trigger_index: int, moment: datetime) -> str:
    """A run's key and admission key: the trigger and the moment it stands for (the
    scheduled time, or the activation). Its own admission key lets a trip find its run."""
    return f"selection:{trigger_index}:{moment.isoformat()}"


def one_off_runs(session: Session, journey: Journey) -> list[AdmissionRun]:
    """At activation: a run for every selection trigger without a schedule, written and
    committed; the caller starts them (admission_runs.start_run)."""
    assert journey.id is not None and journey.active_version is not None
    frozen = journeys.version(session, journey.id, journey.active_version)
    definition = parse_frozen(frozen.definition)
    now = utcnow()
    return [
        _create(session, journey.id, frozen.version, definition, index, trigger, now)
        for index, trigger in enumerate(definition.triggers)
        if isinstance(trigger, SelectionTrigger) and trigger.schedule is None
    ]


def _create(
    session: Session,
    journey_id: int,
    version: int,
    definition: JourneyDefinition,
    index: int,
    trigger: SelectionTrigger,
    moment: datetime,
) -> AdmissionRun:
    key = selection_key(index, moment)
    return create_run(
        session,
        journey_id=journey_id,
        journey_version=version,
        trigger_index=index,
        trigger_label=definition.trigger_label(index),
        key=key,
        source=trigger.source(),
        admission_key=key,
    )


async def finish_run_hooks(client: Client, engine: Engine, run_id: int) -> None:
    """What else a run does once it has admitted everyone (after its groups synced).
    Each hook is idempotent: finish_run may run again."""
    await close_run_buckets(client, engine, run_id)


class SelectionActivities:
    def __init__(self, engine: Engine, client: Client, task_queue: str) -> None:
        self._engine = engine
        self._client = client
        self._task_queue = task_queue

    @activity.defn(name=RUN_SELECTION)
    def run_selection(self, data: SelectionRunInput) -> SelectionRunResult:
        """Create the run this scheduled moment stands for (or find it: a retry, a
        backfill of the same moment)."""
        with session_scope(self._engine) as session:
            found = _active_selection(session, data.journey_id, data.trigger_index)
            if isinstance(found, str):
                activity.logger.info("selection skipped: %s", found)
                return SelectionRunResult(skipped=found)
            version, definition, trigger = found
            run = _create(
                session,
                data.journey_id,
                version,
                definition,
                data.trigger_index,
                trigger,
                data.scheduled_at,
            )
            assert run.id is not None
            if run.status != RUNNING:
                return SelectionRunResult(skipped=f"run {run.id} is {run.status} already")
            return SelectionRunResult(run_id=run.id)

    @activity.defn(name=FINISH_RUN)
    async def finish_run(self, data: FinishRunInput) -> FinishRunResult:
        """The run admitted its last page: its sync_group steps, then the other hooks."""
        synced, skipped = await sync_run_groups(
            self._engine, self._client, self._task_queue, data.run_id
        )
        await finish_run_hooks(self._client, self._engine, data.run_id)
        return FinishRunResult(synced=synced, skipped=skipped)


def _active_selection(
    session: Session, journey_id: int, index: int
) -> tuple[int, JourneyDefinition, SelectionTrigger] | str:
    """The active version's number, definition and selection trigger at `index`, or why
    there is none (a schedule can outlive its journey's activation briefly)."""
    try:
        journey = journeys.get(session, journey_id)
    except NotFound:
        return f"journey {journey_id} no longer exists"
    if journey.status != JourneyStatus.active or journey.active_version is None:
        return f"journey {journey_id} is not active"
    frozen = journeys.version(session, journey_id, journey.active_version)
    definition = parse_frozen(frozen.definition)
    triggers = definition.triggers
    trigger = triggers[index] if 0 <= index < len(triggers) else None
    if not isinstance(trigger, SelectionTrigger):
        return f"journey {journey_id} v{frozen.version} has no selection trigger {index}"
    return frozen.version, definition, trigger
