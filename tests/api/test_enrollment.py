"""Enrollment never leaves a half-written trip: a trip row without a workflow is removed,
and a trip started as its journey is deactivated is cancelled."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from temporalio.client import (
    Client,
    DescribeWorkflowInput,
    Interceptor,
    OutboundInterceptor,
    StartWorkflowInput,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from tests.api.support import (
    active_journey,
    definition,
    enroll,
    eventually,
    keyed_client,
    make_app,
    new_key,
    ok,
    parked,
    relation,
    template,
    trip_status,
)
from tests.support.smtp import SmtpSink


@pytest.mark.usefixtures("worker")
async def test_a_trip_temporal_remembers_is_a_conflict(
    api: httpx.AsyncClient, api_engine: Engine
) -> None:
    """Our store lost the trip (say, restored from an old backup) but Temporal still knows
    the workflow id: the relation must not travel twice, and no row is left behind."""
    anna = await relation(api)
    await template(api)
    journey = await active_journey(api, definition(reentry="never"))
    trip = await enroll(api, journey["id"], anna["id"])
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
    app = make_app(engine=api_engine, temporal=elsewhere, task_queue=task_queue)
    async with keyed_client(app, new_key(api_engine)) as broken:
        response = await broken.post(
            f"/journeys/{journey['id']}/enrollments", json={"relation_id": anna["id"]}
        )
    assert response.status_code == 503
    assert (await ok(api.get(f"/relations/{anna['id']}/trips")))["count"] == 0
    assert (await ok(api.get(f"/journeys/{journey['id']}/stats")))["totals"]["running"] == 0


class _Around(Interceptor):
    """Runs test code around the API's calls to Temporal: the seam where a real race or
    a real lost reply happens, driven here on purpose."""

    def __init__(
        self,
        before_start: Callable[[], Awaitable[None]] | None = None,
        lose_start_reply: bool = False,
        describe_unavailable: bool = False,
    ) -> None:
        self.before_start = before_start
        self.lose_start_reply = lose_start_reply
        self.describe_unavailable = describe_unavailable

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _AroundOutbound(next, self)


class _AroundOutbound(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, plan: _Around) -> None:
        super().__init__(next)
        self.plan = plan

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        if self.plan.before_start is not None:
            await self.plan.before_start()
        handle = await super().start_workflow(input)
        if self.plan.lose_start_reply:
            raise RPCError("connection reset", RPCStatusCode.UNAVAILABLE, b"")
        return handle

    async def describe_workflow(self, input: DescribeWorkflowInput) -> WorkflowExecutionDescription:
        if self.plan.describe_unavailable:
            raise RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")
        return await super().describe_workflow(input)


@asynccontextmanager
async def _api_through(
    plan: _Around, engine: Engine, dev_env: WorkflowEnvironment, task_queue: str
) -> AsyncIterator[httpx.AsyncClient]:
    client = Client(
        dev_env.client.service_client,
        namespace=dev_env.client.namespace,
        data_converter=pydantic_data_converter,
        interceptors=[plan],
    )
    app = make_app(engine=engine, temporal=client, task_queue=task_queue)
    async with keyed_client(app, new_key(engine)) as api:
        yield api


@pytest.mark.usefixtures("worker")
async def test_a_trip_started_as_its_journey_is_cancelled_does_not_run(
    api: httpx.AsyncClient,
    api_engine: Engine,
    dev_env: WorkflowEnvironment,
    task_queue: str,
    smtp_sink: SmtpSink,
) -> None:
    """The enrollment saw the journey active; `deactivate?mode=cancel` lands before the
    workflow exists, so its batch cannot see it. The trip must not go on regardless."""
    anna = await relation(api)
    await template(api)
    journey = await active_journey(api, parked())
    url = f"/journeys/{journey['id']}"

    async def deactivate() -> None:
        cancelled = await ok(api.post(f"{url}/deactivate", params={"mode": "cancel"}))
        assert cancelled["running_trips"] == 1  # our trip row, not yet a workflow

    async with _api_through(
        _Around(before_start=deactivate), api_engine, dev_env, task_queue
    ) as racing:
        response = await racing.post(f"{url}/enrollments", json={"relation_id": anna["id"]})

    assert response.status_code == 409, response.text
    assert "deactivated while" in response.json()["detail"]
    [trip] = (await ok(api.get(f"/relations/{anna['id']}/trips")))["data"]
    assert trip["status"] == "cancelled"
    await eventually(
        dev_env.client.get_workflow_handle(trip["id"]).describe,
        lambda d: d.status == WorkflowExecutionStatus.CANCELED,
        what=f"{trip['id']} to be cancelled in Temporal",
    )
    assert smtp_sink.messages == []
    stats = await ok(api.get(f"{url}/stats"))
    assert (stats["totals"]["running"], stats["totals"]["cancelled"]) == (0, 1)


@pytest.mark.usefixtures("worker")
async def test_an_unconfirmed_start_leaves_no_row_and_its_ghost_sends_nothing(
    api: httpx.AsyncClient,
    api_engine: Engine,
    dev_env: WorkflowEnvironment,
    task_queue: str,
    smtp_sink: SmtpSink,
) -> None:
    """The start reached Temporal but its reply was lost, and Temporal cannot be asked
    either (as when it goes down): the enrollment fails (503) and leaves no row, so
    nothing shows a trip that may not exist; the workflow that did start finds no row,
    records nothing and sends nothing."""
    anna = await relation(api)
    await template(api)
    journey = await active_journey(api, definition(reentry="never"))

    plan = _Around(lose_start_reply=True, describe_unavailable=True)
    async with _api_through(plan, api_engine, dev_env, task_queue) as flaky:
        response = await flaky.post(
            f"/journeys/{journey['id']}/enrollments", json={"relation_id": anna["id"]}
        )

    assert response.status_code == 503, response.text
    assert (await ok(api.get(f"/relations/{anna['id']}/trips")))["data"] == []
    ghost = dev_env.client.get_workflow_handle(f"trip:{journey['id']}:{anna['id']}:1")
    await ghost.result()
    assert smtp_sink.messages == []
