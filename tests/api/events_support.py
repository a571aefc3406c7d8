"""Helpers for event tests: post events, read a relation's trips, wait for mail."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from store.models import Event, SegmentChange
from tests.api.support import eventually, ok
from tests.support.smtp import SmtpSink


async def post_event(
    api: httpx.AsyncClient, type_: str, status: int = 201, **fields: Any
) -> dict[str, Any]:
    body = {"type": type_, **fields}
    body.setdefault("relation", {"id": 1})
    found: dict[str, Any] = await ok(api.post("/events", json=body), status)
    return found


async def trips_of(api: httpx.AsyncClient, relation_id: int) -> list[dict[str, Any]]:
    found = await ok(api.get(f"/relations/{relation_id}/trips"))
    trips: list[dict[str, Any]] = found["data"]
    return trips


async def settled_trips(
    api: httpx.AsyncClient, relation_id: int, count: int
) -> list[dict[str, Any]]:
    """The relation's trips once `count` of them exist and none is running."""
    return await eventually(
        lambda: trips_of(api, relation_id),
        lambda found: len(found) >= count and all(t["status"] != "running" for t in found),
        what=f"{count} ended trips of relation {relation_id}",
    )


async def mail_to(sink: SmtpSink, address: str, count: int = 1) -> list[Any]:
    async def probe() -> list[Any]:
        return sink.to(address)

    return await eventually(probe, lambda found: len(found) >= count, what=f"mail to {address}")


async def all_dispatched(engine: Engine) -> None:
    """Until every stored event and segment change has been dispatched: from then on,
    every trip they admit exists. A test that asserts no (second) trip came waits for
    this instead of sleeping, so a busy machine cannot make it pass by being slow."""

    def pending() -> int:
        with Session(engine) as session:
            events = session.exec(
                select(func.count()).select_from(Event).where(col(Event.dispatched_at).is_(None))
            ).one()
            changes = session.exec(
                select(func.count())
                .select_from(SegmentChange)
                .where(col(SegmentChange.dispatched_at).is_(None))
            ).one()
            return int(events) + int(changes)

    async def probe() -> int:
        return pending()

    await eventually(probe, lambda left: left == 0, what="every event and change dispatched")
