"""Helpers for API tests: small builders and bounded polling."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.app import create_app
from api.security import API_KEY_HEADER
from store import keys
from store.keys import Scope
from tests.support.rendering import shared_render_pool

T = TypeVar("T")

# For tests of pure request validation or app wiring: the database plays no part, so
# running them on PostgreSQL as well would only cost time.
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

# The Host the test clients send; the app is told to serve it (and nothing else).
TEST_HOST = "reisplan.test"
# Signs the tokens of tracked links and unsubscribes in the apps the tests make.
TEST_SIGNING_KEY = b"test-signing-key"


def make_app(**parts: Any) -> FastAPI:
    parts.setdefault("allowed_hosts", [TEST_HOST])
    parts.setdefault("renderer", shared_render_pool())
    parts.setdefault("signing_key", TEST_SIGNING_KEY)
    return create_app(**parts)


def new_key(engine: Engine, *scopes: Scope, name: str = "test") -> str:
    with Session(engine) as session:
        return keys.create(session, name=name, scopes=scopes or (Scope.admin,)).key


def keyed_client(app: FastAPI, key: str | None) -> httpx.AsyncClient:
    """A client of the app as a caller with this key would be (no key: anonymous)."""
    headers = {API_KEY_HEADER: key} if key else {}
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url=f"http://{TEST_HOST}", headers=headers)


SEND_ONLY: dict[str, Any] = {
    "name": "Welcome",
    "steps": [
        {"id": "welcome", "type": "send_email", "template": "welcome"},
        {"id": "end", "type": "exit"},
    ],
}


def definition(**overrides: Any) -> dict[str, Any]:
    return {**SEND_ONLY, **overrides}


def parked(reentry: str = "never", wait: str = "P7D") -> dict[str, Any]:
    """A journey whose trips wait (on a Temporal timer) before their only mail."""
    return {
        "name": f"Parked {reentry}",
        "reentry": reentry,
        "steps": [
            {"id": "hold", "type": "wait", "duration": wait},
            {"id": "welcome", "type": "send_email", "template": "welcome"},
        ],
    }


async def ok(response: Awaitable[httpx.Response], status: int = 200) -> Any:
    got = await response
    assert got.status_code == status, f"{got.status_code}: {got.text}"
    return got.json() if got.content else None


async def relation(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"email": "anna@example.org", "first_name": "Anna", **fields}
    created: dict[str, Any] = await ok(api.post("/relations", json=body), 201)
    return created


async def template(api: httpx.AsyncClient, key: str = "welcome", **fields: Any) -> dict[str, Any]:
    body = {
        "key": key,
        "subject": "Welcome, {{ relation.first_name }}",
        "html": "<p>Hello {{ relation.first_name }}, nice to meet you.</p>",
        **fields,
    }
    created: dict[str, Any] = await ok(api.post("/templates", json=body), 201)
    return created


async def active_journey(api: httpx.AsyncClient, spec: dict[str, Any]) -> dict[str, Any]:
    draft = await ok(api.post("/journeys", json={"definition": spec}), 201)
    activated: dict[str, Any] = await ok(api.post(f"/journeys/{draft['id']}/activate"))
    return activated


async def welcome_journey(api: httpx.AsyncClient) -> dict[str, Any]:
    """The `welcome` template and an active journey that sends it (step `welcome`)."""
    await template(api)
    return await active_journey(api, definition())


async def enroll(api: httpx.AsyncClient, journey_id: int, relation_id: int) -> dict[str, Any]:
    trip: dict[str, Any] = await ok(
        api.post(f"/journeys/{journey_id}/enrollments", json={"relation_id": relation_id}), 201
    )
    return trip


async def eventually(
    probe: Callable[[], Awaitable[T]],
    accept: Callable[[T], bool],
    *,
    within: float = 15.0,
    what: str = "condition",
) -> T:
    """Poll until `accept(value)`; fail with the last value after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if accept(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last value: {value!r}")
        await asyncio.sleep(0.05)


async def trip_when(
    api: httpx.AsyncClient, trip_id: str, accept: Callable[[dict[str, Any]], bool], what: str
) -> dict[str, Any]:
    async def probe() -> dict[str, Any]:
        found: dict[str, Any] = await ok(api.get(f"/trips/{trip_id}"))
        return found

    return await eventually(probe, accept, what=f"trip {trip_id}: {what}")


async def trip_status(api: httpx.AsyncClient, trip_id: str, status: str) -> dict[str, Any]:
    return await trip_when(api, trip_id, lambda t: t["status"] == status, status)


async def trip_waiting(api: httpx.AsyncClient, trip_id: str, step: str) -> dict[str, Any]:
    return await trip_when(
        api,
        trip_id,
        lambda t: t["current_step"] == step and t["waiting_until"] is not None,
        f"waiting at {step}",
    )
