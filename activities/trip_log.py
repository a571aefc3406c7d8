"""Trip log activities: the path of every trip and its end, kept in our own store.

Temporal forgets a trip after its retention period; these rows are what support staff
read for ever. Both writes are idempotent, so retries are harmless.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine
from temporalio import activity

from activities.contracts import FINISH_TRIP, RECORD_STEP, FinishTripInput, RecordStepInput
from activities.passages import record_visit
from store import paths
from store.db import session_scope


class TripLogActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name=RECORD_STEP)
    def record_step(self, data: RecordStepInput) -> None:
        visit = data.visit
        with session_scope(self._engine) as session:
            written = record_visit(session, visit, data.outcome, data.detail, data.waiting_until)
        if not written:
            activity.logger.warning("trip %s no longer exists; step not recorded", visit.trip_id)

    @activity.defn(name=FINISH_TRIP)
    def finish_trip(self, data: FinishTripInput) -> None:
        with session_scope(self._engine) as session:
            found = paths.finish_trip(
                session, trip_id=data.trip_id, status=data.status.value, ended_at=data.ended_at
            )
        if not found:
            activity.logger.warning("trip %s no longer exists; end not recorded", data.trip_id)
