"""Enrolment never leaves a half-written trip: a trip row without a workflow is removed."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from tests.api.support import active_journey, definition, enrol, ok, relation, template, trip_status


@pytest.mark.usefixtures("worker")
async def test_a_trip_temporal_remembers_is_a_conflict(
    api: httpx.AsyncClient, api_engine: Engine
) -> None:
    """Our store lost the trip (say, restored from an old backup) but Temporal still knows
    the workflow id: the relation must not travel twice, and no row is left behind."""
    anna = await relation(api)
    await template(api)
    journey = await active_journey(api, definition(reentry="never"))
    trip = await enrol(api, journey["id"], anna["id"])
    await trip_status(api, trip["id"], "completed")
    with api_engine.begin() as connection:
        connection.execute(text("DELETE FROM trip WHERE id = :id"), {"id": trip["id"]})

    again = await api.post(
        f"/journeys/{journey['id']}/enrollments", json={"relation_id": anna["id"]}
    )
    assert again.status_code == 409
    assert "already exists in Temporal" in again.json()["detail"]
    assert (await ok(api.get(f"/relations/{anna['id']}/trips")))["count"] == 0


async def test_a_failed_start_leaves_no_trip(
    api: httpx.AsyncClient, api_engine: Engine, dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    anna = await relation(api)
    await template(api)
    journey = await active_journey(api, definition())
    # A namespace the server does not have: the start request itself is refused.
    elsewhere = Client(
        dev_env.client.service_client,
        namespace="no-such-namespace",
        data_converter=pydantic_data_converter,
    )
    app = create_app(engine=api_engine, temporal=elsewhere, task_queue=task_queue)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://reisplan.test") as broken:
        response = await broken.post(
            f"/journeys/{journey['id']}/enrollments", json={"relation_id": anna["id"]}
        )
    assert response.status_code == 503
    assert (await ok(api.get(f"/relations/{anna['id']}/trips")))["count"] == 0
    assert (await ok(api.get(f"/journeys/{journey['id']}/stats")))["totals"]["running"] == 0
