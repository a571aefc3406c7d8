"""Trip log activities: the path of every trip and its end, kept in our own store.

Temporal forgets a trip after its retention period; these rows are what support staff
read for ever. Every write is idempotent, so retries (and local activities that run
again after a failed workflow task) are harmless.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine
from temporalio import activity

from activities.contracts import (
    FINISH_TRIP,
    RECORD_PASSAGES,
    RECORD_STEP,
    FinishTripInput,
    RecordPassagesInput,
    RecordStepInput,
)
from activities.passages import write_passage, write_passages
from store import paths
from store.db import session_scope


class TripLogActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name=RECORD_PASSAGES)
    def record_passages(self, data: RecordPassagesInput) -> None:
        with session_scope(self._engine) as session:
            written = write_passages(session, data.writes)
        if not written:
            activity.logger.warning("a trip no longer exists; its path was not recorded")

    @activity.defn(name=FINISH_TRIP)
    def finish_trip(self, data: FinishTripInput) -> None:
        """The passages still to write and the trip's end, in one transaction."""
        with session_scope(self._engine) as session:
            write_passages(session, data.writes)
            found = paths.finish_trip(
                session, trip_id=data.trip_id, status=data.status.value, ended_at=data.ended_at
            )
        if not found:
            activity.logger.warning("trip %s no longer exists; end not recorded", data.trip_id)

    @activity.defn(name=RECORD_STEP)
    def record_step(self, data: RecordStepInput) -> None:
        """One passage at a time: what trips started before the folding still call."""
        passage = data.passage
        with session_scope(self._engine) as session:
            written = write_passage(session, passage, data.outcome, data.detail, data.waiting_until)
        if not written:
            activity.logger.warning("trip %s no longer exists; step not recorded", passage.trip_id)
