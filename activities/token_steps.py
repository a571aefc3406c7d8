"""The encrypt step's activity: a token of chosen fields, stored in a custom field.

One transaction writes the queued path rows, the token into the relation, the passage
and the step's effect record (keyed by trip and step): a retry, or a second attempt
after a crash, finds the record and repeats nothing, so the token an earlier attempt
stored is never replaced. The token is made on the trip's clock (issued at the
passage's entered_at, valid until the expiry the workflow reckoned from it), so any
attempt would have made an equivalent one.

Storing the token changes a custom field, so the relation's segments are re-evaluated
in the same transaction (a segment may ask `token is_set`); the change is dispatched
after the commit.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio import activity
from temporalio.client import Client

from activities.contracts.tokens import ENCRYPT, EncryptInput, EncryptResult
from activities.dispatch import start_dispatch
from activities.passages import write_passage, write_passages
from activities.relation_tokens import RelationTokens, TooLarge
from domain.statuses import Outcome, TripStatus
from domain.steps.tokens import RELATION_FIELDS, describe_fields
from store import effects, paths
from store.db import session_scope
from store.membership import lock_relation, reevaluate
from store.models import Relation, SegmentChange, utcnow

KIND = "encrypt"
RELATION_ERASED = "the relation no longer exists"


def change_cause(data: EncryptInput) -> str:
    """The segment change's cause: finds it again on a retry, to dispatch it."""
    return f"encrypt:{data.passage.trip_id}:{data.passage.seq}"


def carried(relation: Relation, name: str) -> Any:
    """A field's value as a token carries it: the relation's own column, else its custom
    field of that name (None when it has none)."""
    if name in RELATION_FIELDS:
        return getattr(relation, name)
    return (relation.custom or {}).get(name)


class TokenActivities:
    def __init__(
        self, engine: Engine, client: Client, task_queue: str, tokens: RelationTokens
    ) -> None:
        self._engine = engine
        self._client = client
        self._task_queue = task_queue
        self._tokens = tokens

    @activity.defn(name=ENCRYPT)
    async def encrypt(self, data: EncryptInput) -> EncryptResult:
        ended_at = activity.info().started_time
        result, change_id = await asyncio.to_thread(self._apply, data, ended_at)
        if change_id is not None:
            # Raises while Temporal refuses; the retry finds the effect recorded and only
            # starts this dispatch (a dispatch already started is not repeated).
            await start_dispatch(self._client, self._task_queue, change_id=change_id)
        return result

    def _apply(self, data: EncryptInput, ended_at: datetime) -> tuple[EncryptResult, int | None]:
        key = effects.trip_key(data.passage.trip_id, data.passage.step_id)
        with session_scope(self._engine) as session:
            if not write_passages(session, data.writes):
                return EncryptResult(trip_running=False), None
            # The relation's row first: two attempts at once do this one after the other.
            exists = lock_relation(session, data.relation_id)
            earlier = effects.recorded(session, key)
            if earlier is not None:
                return EncryptResult.model_validate(earlier), _undispatched(session, data)
            if not paths.is_running(session, data.passage.trip_id):
                # Cancelled before this attempt began: it stores nothing.
                return EncryptResult(trip_running=False), None
            if not exists:
                # Like a send to an erased relation: the trip ends here.
                write_passage(session, data.passage, Outcome.relation_erased, RELATION_ERASED)
                _close(session, data, ended_at)
                result = EncryptResult(detail=RELATION_ERASED, relation_exists=False, closed=True)
                _record(session, key, data, result)
                return result, None
            result, change = self._store_token(session, data)
            if data.ends_trip:
                _close(session, data, ended_at)
            _record(session, key, data, result)
            return result, change

    def _store_token(
        self, session: Session, data: EncryptInput
    ) -> tuple[EncryptResult, int | None]:
        relation = session.get(Relation, data.relation_id)
        assert relation is not None  # locked above
        values = {name: carried(relation, name) for name in data.fields}
        issued_at = data.passage.entered_at
        try:
            token = self._tokens.make(values, issued_at=issued_at, expires_at=data.expires_at)
        except TooLarge as error:
            # The relation's data, not a passing fault: retrying would not help. The trip
            # goes on, and the path says why no token was stored.
            detail = f"fields {describe_fields(data.fields)}: {error}"
            write_passage(session, data.passage, Outcome.failed, detail)
            return EncryptResult(detail=detail, closed=data.ends_trip), None
        # A new dict: the JSON column sees a change only when it is assigned.
        relation.custom = {**(relation.custom or {}), data.into: token}
        session.add(relation)
        session.flush()
        change = reevaluate(session, data.relation_id, cause=change_cause(data), now=utcnow())
        detail = (
            f"fields {describe_fields(data.fields)} into `{data.into}`, valid until "
            f"{data.expires_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        )
        if change is not None:
            if change.left:
                detail += "; left segment " + ", ".join(f"`{k}`" for k in change.left)
            if change.entered:
                detail += "; entered segment " + ", ".join(f"`{k}`" for k in change.entered)
        write_passage(session, data.passage, Outcome.encrypted, detail)
        return (
            EncryptResult(detail=detail, closed=data.ends_trip),
            change.id if change is not None else None,
        )


def _record(session: Session, key: str, data: EncryptInput, result: EncryptResult) -> None:
    effects.record(
        session,
        key,
        step_id=data.passage.step_id,
        kind=KIND,
        result=result.model_dump(mode="json"),
        trip_id=data.passage.trip_id,
    )


def _undispatched(session: Session, data: EncryptInput) -> int | None:
    return session.exec(
        select(SegmentChange.id).where(
            col(SegmentChange.cause) == change_cause(data),
            col(SegmentChange.dispatched_at).is_(None),
        )
    ).first()


def _close(session: Session, data: EncryptInput, ended_at: datetime) -> None:
    # Temporal's clock, as for every other time in the path.
    paths.close_if_running(
        session, trip_id=data.passage.trip_id, status=TripStatus.completed, ended_at=ended_at
    )
