"""The daily run of a recurring_date trigger: one admission run per anniversary day.

The RecurringDate workflow (started by the trigger's Schedule) calls this with the
moment it was scheduled for; this reads the journey's active version, turns the moment
into the local day, and creates the admission run of the relations whose date comes
round, which the AdmitMembers workflow then carries out. Runs are keyed by trigger and
anniversary, so a retry, a backfill or a second run for the same day finds the run it
made before.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio import activity

from activities.admission_runs import RUNNING, create_run
from activities.contracts import RUN_RECURRING_DATE, RecurringRunInput, RecurringRunResult
from domain.definition import JourneyDefinition, parse_frozen
from domain.recurring import (
    admission_key,
    anniversary,
    days_of_run,
    local_run_day,
    month_days,
    run_key,
)
from domain.statuses import JourneyStatus
from domain.triggers import RecurringDateTrigger
from store import journeys
from store.db import session_scope
from store.errors import NotFound
from store.recurring import anyone_due


class RecurringActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name=RUN_RECURRING_DATE)
    def run_recurring_date(self, data: RecurringRunInput) -> RecurringRunResult:
        with session_scope(self._engine) as session:
            found = _active_trigger(session, data.journey_id, data.trigger_index)
            if isinstance(found, str):
                activity.logger.info("recurring date skipped: %s", found)
                return RecurringRunResult(skipped=found)
            version, definition, trigger = found
            run_day = local_run_day(data.scheduled_at, definition.zone)
            days = days_of_run(run_day, trigger.at, definition.zone)
            run_ids: list[int] = []
            for day in days:
                target = anniversary(day, trigger.days_before)
                dates = month_days(target)
                if not anyone_due(session, trigger.field, dates):
                    continue
                run = create_run(
                    session,
                    journey_id=data.journey_id,
                    journey_version=version,
                    trigger_index=data.trigger_index,
                    trigger_label=definition.trigger_label(data.trigger_index),
                    key=run_key(data.trigger_index, target),
                    source={"date_field": trigger.field, "month_days": dates},
                    admission_key=admission_key(data.trigger_index, target.year),
                )
                # A run finished before (this day ran already) needs no fan-out again.
                if run.status == RUNNING and run.id is not None:
                    run_ids.append(run.id)
            return RecurringRunResult(days=days, run_ids=run_ids)


def _active_trigger(
    session: Session, journey_id: int, index: int
) -> tuple[int, JourneyDefinition, RecurringDateTrigger] | str:
    """The active version's number, definition and recurring_date trigger at `index`, or
    why there is none (a schedule can outlive its journey's activation briefly: removing
    it is a separate call, after the journey's row says inactive)."""
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
    if not isinstance(trigger, RecurringDateTrigger):
        return f"journey {journey_id} v{frozen.version} has no recurring_date trigger {index}"
    return frozen.version, definition, trigger
