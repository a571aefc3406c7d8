"""Helpers for event tests: post events, read a relation's trips, wait for mail."""

from __future__ import annotations

from typing import Any

import httpx

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
