"""A trip whose workflow task keeps failing is visible as such, and a cancel ends it.

No definition the API accepts today can do this (the bounds see to it); a version frozen
before a bound existed, or a bug, still can. Such a version is written here directly."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker

from activities.contracts import SyncClosedTripsInput
from activities.trip_sync import TripSyncActivities
from store.models import JourneyVersion
from tests.api.support import active_journey, enroll, eventually, ok, relation, template


async def _sync(engine: Engine, client: Client) -> int:
    activities = TripSyncActivities(engine, client)
    result = await ActivityEnvironment().run(activities.sync_closed_trips, SyncClosedTripsInput())
    return result.stuck


async def test_a_stuck_trip_is_shown_and_cancel_ends_it(
    api: httpx.AsyncClient, worker: Worker, dev_env: WorkflowEnvironment, api_engine: Engine
) -> None:
    await template(api)
    journey = await active_journey(
        api,
        {
            "name": "Old version",
            "steps": [
                {"id": "hold", "type": "wait", "duration": "P1D"},
                {"id": "hi", "type": "send_email", "template": "welcome"},
            ],
        },
    )
    # As frozen by a release without the ten-year bound: no trip can compute this wait.
    with Session(api_engine) as session:
        version = session.exec(
            select(JourneyVersion).where(col(JourneyVersion.journey_id) == journey["id"])
        ).one()
        frozen: dict[str, Any] = dict(version.definition)
        frozen["steps"] = [{**frozen["steps"][0], "duration": "P99999999W"}, frozen["steps"][1]]
        version.definition = frozen
        session.add(version)
        session.commit()
    trip = await enroll(api, journey["id"], (await relation(api))["id"])

    async def flagged() -> int:
        return await _sync(api_engine, dev_env.client)

    assert await eventually(flagged, lambda n: n == 1, what="the stuck trip flagged") == 1
    shown = await ok(api.get(f"/trips/{trip['id']}"))
    assert shown["status"] == "running"
    assert shown["problem"].startswith("workflow task failing: category=WorkflowTaskFailed")
    stats = await ok(api.get(f"/journeys/{journey['id']}/stats"))
    assert stats["totals"]["stuck"] == 1

    await ok(api.post(f"/journeys/{journey['id']}/deactivate", params={"mode": "cancel"}))
    ended = await ok(api.get(f"/trips/{trip['id']}"))
    assert ended["status"] == "cancelled"
    handle = dev_env.client.get_workflow_handle(trip["id"])

    async def status() -> WorkflowExecutionStatus | None:
        return (await handle.describe()).status

    await eventually(status, lambda s: s == WorkflowExecutionStatus.TERMINATED, what="ended")
    assert await _sync(api_engine, dev_env.client) == 0
    assert (await ok(api.get(f"/trips/{trip['id']}")))["problem"] is None
