"""The unsubscribe step's activity: from this journey, from all mail, from all SMS.

Everything happens in one transaction with the step's passage, which is the attempt's
idempotency key: a retry (or a second attempt after a crash) that finds the passage
recorded changes nothing more. Withdrawing a channel's consent re-evaluates the
relation's segments in that transaction too, and the segment change it causes is handed
to its Dispatch afterwards (the trip-sync schedule would start it otherwise).
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio import activity
from temporalio.client import Client

from activities.contracts import UNSUBSCRIBE, UnsubscribeInput, UnsubscribeResult
from activities.dispatch import start_dispatch
from activities.passages import write_passage, write_passages
from domain.statuses import Outcome, TripStatus
from store import journey_exits, paths
from store.db import session_scope
from store.membership import lock_relation, reevaluate
from store.models import Passage, Relation, SegmentChange, utcnow

RELATION_ERASED = "the relation no longer exists"
# What each scope changed, for the path: words, never the address or number.
_DONE = {"journey": "left the journey", "email": "opt-in email off", "sms": "opt-in SMS off"}
_ALREADY = {
    "journey": "had already left the journey",
    "email": "opt-in email was already off",
    "sms": "opt-in SMS was already off",
}


def change_cause(data: UnsubscribeInput) -> str:
    """The segment change's cause: finds it again on a retry, to dispatch it."""
    return f"unsubscribe:{data.passage.trip_id}:{data.passage.seq}"


class ConsentActivities:
    def __init__(self, engine: Engine, client: Client, task_queue: str) -> None:
        self._engine = engine
        self._client = client
        self._task_queue = task_queue

    @activity.defn(name=UNSUBSCRIBE)
    async def unsubscribe(self, data: UnsubscribeInput) -> UnsubscribeResult:
        ended_at = activity.info().started_time
        result, change_id = await asyncio.to_thread(self._apply, data, ended_at)
        if change_id is not None:
            # Raises while Temporal refuses; the retry finds the passage recorded and
            # only starts this dispatch (a dispatch already started is not repeated).
            await start_dispatch(self._client, self._task_queue, change_id=change_id)
        return result

    def _apply(
        self, data: UnsubscribeInput, ended_at: datetime
    ) -> tuple[UnsubscribeResult, int | None]:
        with session_scope(self._engine) as session:
            if not write_passages(session, data.writes):
                return UnsubscribeResult(trip_running=False), None
            # The relation's row first: two attempts at once do this one after the other.
            exists = lock_relation(session, data.relation_id)
            earlier = _recorded(session, data)
            if earlier is not None:
                return earlier, _undispatched_change(session, data)
            if not paths.is_running(session, data.passage.trip_id):
                # Cancelled before this attempt began: it unsubscribes nobody.
                return UnsubscribeResult(trip_running=False), None
            if not exists:
                # Like a send to an erased relation: the trip ends here.
                write_passage(session, data.passage, Outcome.relation_erased, RELATION_ERASED)
                _close(session, data, ended_at)
                result = UnsubscribeResult(
                    detail=RELATION_ERASED, relation_exists=False, closed=True
                )
                return result, None
            detail, change = _withdraw(session, data)
            write_passage(session, data.passage, Outcome.unsubscribed, detail)
            if data.ends_trip:
                _close(session, data, ended_at)
            return UnsubscribeResult(detail=detail, closed=data.ends_trip), change


def _recorded(session: Session, data: UnsubscribeInput) -> UnsubscribeResult | None:
    """What an earlier attempt of this passage did, if it committed."""
    row = session.exec(
        select(Passage.outcome, Passage.detail).where(
            col(Passage.trip_id) == data.passage.trip_id,
            col(Passage.seq) == data.passage.seq,
        )
    ).first()
    if row is None or row[0] not in (Outcome.unsubscribed, Outcome.relation_erased):
        return None
    outcome, detail = row
    erased = outcome == Outcome.relation_erased
    return UnsubscribeResult(
        detail=detail, relation_exists=not erased, closed=data.ends_trip or erased
    )


def _withdraw(session: Session, data: UnsubscribeInput) -> tuple[str, int | None]:
    """Apply the scope; the words for the path and the segment change it caused."""
    if data.scope == "journey":
        left = journey_exits.leave(session, data.journey_id, data.relation_id)
        return (_DONE if left else _ALREADY)[data.scope], None
    relation = session.get(Relation, data.relation_id)
    assert relation is not None  # locked above
    field = "opt_in_email" if data.scope == "email" else "opt_in_sms"
    if not getattr(relation, field):
        return _ALREADY[data.scope], None
    setattr(relation, field, False)
    session.add(relation)
    session.flush()
    change = reevaluate(session, data.relation_id, cause=change_cause(data), now=utcnow())
    words = [_DONE[data.scope]]
    if change is not None:
        if change.left:
            words.append("left segment " + ", ".join(f"`{k}`" for k in change.left))
        if change.entered:
            words.append("entered segment " + ", ".join(f"`{k}`" for k in change.entered))
    return "; ".join(words), change.id if change is not None else None


def _undispatched_change(session: Session, data: UnsubscribeInput) -> int | None:
    return session.exec(
        select(SegmentChange.id).where(
            col(SegmentChange.cause) == change_cause(data),
            col(SegmentChange.dispatched_at).is_(None),
        )
    ).first()


def _close(session: Session, data: UnsubscribeInput, ended_at: datetime) -> None:
    # Temporal's clock, as for every other time in the path.
    paths.close_if_running(
        session, trip_id=data.passage.trip_id, status=TripStatus.completed, ended_at=ended_at
    )
