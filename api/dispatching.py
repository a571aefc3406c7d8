"""Handing stored causes to Temporal: the Dispatch workflow of an event or change."""

from __future__ import annotations

import logging

from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.client import Client
from temporalio.service import RPCError

from activities.dispatch import start_dispatch
from store import membership

_log = logging.getLogger("reisplan.api")


async def dispatch_changes(
    engine: Engine, temporal: Client, task_queue: str, relation_id: int
) -> None:
    """Start the Dispatch of every segment change of the relation not yet acted on.

    The change itself is committed already; if Temporal cannot be reached now, the
    trip-sync schedule starts these dispatches later (REDISPATCH_AFTER), so the write
    is not refused for it."""
    ids = await run_in_threadpool(_undispatched, engine, relation_id)
    for change_id in ids:
        try:
            await start_dispatch(temporal, task_queue, change_id=change_id)
        except RPCError as error:
            _log.warning("segment change %s: dispatch deferred: %s", change_id, error.message)


def _undispatched(engine: Engine, relation_id: int) -> list[int]:
    with Session(engine) as session:
        return membership.undispatched(session, relation_id)
