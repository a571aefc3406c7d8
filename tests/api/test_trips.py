"""Trips end to end: the API starts real workflows on the Temporal dev server, a real
worker runs them against the same database, and aiosmtpd receives the mail."""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime, timedelta
from email.message import EmailMessage

import httpx
import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from tests.api.support import (
    active_journey,
    definition,
    enroll,
    eventually,
    ok,
    parked,
    relation,
    template,
    trip_status,
    trip_waiting,
)
from tests.support.smtp import SmtpSink

pytestmark = pytest.mark.usefixtures("worker")

BRANCHING = {
    "name": "Welcome members",
    "steps": [
        {"id": "welcome", "type": "send_email", "template": "welcome"},
        {
            "id": "is_member",
            "type": "if",
            "condition": {"field": "member_since", "op": "is_set"},
            "then": "thanks",
            "else": "done",
        },
        {"id": "thanks", "type": "send_email", "template": "thanks"},
        {"id": "done", "type": "exit"},
    ],
}


def _html(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_happy_path_mail_arrives_and_the_path_is_readable(
    api: httpx.AsyncClient, smtp_sink: SmtpSink
) -> None:
    anna = await relation(api, last_name="de Vries", custom={"member_since": "2019-05-01"})
    await template(api)
    await template(
        api,
        "thanks",
        subject="Thank you for {{ relation.member_since }} onwards",
        html="<p>Dear {{ relation.first_name }} {{ relation.last_name }}, thanks!</p>",
    )
    journey = await active_journey(api, BRANCHING)
    started = await enroll(api, journey["id"], anna["id"])
    assert started["id"] == f"trip:{journey['id']}:{anna['id']}:1"
    assert (started["number"], started["status"]) == (1, "running")

    trip = await trip_status(api, started["id"], "completed")

    mails = smtp_sink.handler.to("anna@example.org")
    assert [m["Subject"] for m in mails] == [
        "Welcome, Anna",
        "Thank you for 2019-05-01 onwards",
    ]
    assert "Hello Anna, nice to meet you." in _html(mails[0])
    assert "Dear Anna de Vries, thanks!" in _html(mails[1])

    path = trip["path"]
    assert [(p["seq"], p["step_id"], p["type"], p["outcome"]) for p in path] == [
        (1, "welcome", "send_email", "sent"),
        (2, "is_member", "if", "then"),
        (3, "thanks", "send_email", "sent"),
        (4, "done", "exit", "exited"),
    ]
    assert "member_since" in path[1]["detail"], "the path says why the branch was taken"
    for here, following in itertools.pairwise(path):
        assert here["left_at"] == following["entered_at"]
        assert _at(here["entered_at"]) <= _at(here["left_at"])
    assert path[-1]["left_at"] == trip["ended_at"]

    trips = await ok(api.get(f"/relations/{anna['id']}/trips"))
    assert trips["count"] == 1
    assert (trips["data"][0]["id"], trips["data"][0]["status"]) == (started["id"], "completed")
    assert trips["data"][0]["current_step"] == "done"


async def test_the_else_branch_is_explained_too(
    api: httpx.AsyncClient, smtp_sink: SmtpSink
) -> None:
    bert = await relation(api, email="bert@example.org", first_name="Bert")
    await template(api)
    await template(api, "thanks")
    journey = await active_journey(api, BRANCHING)
    trip = await trip_status(api, (await enroll(api, journey["id"], bert["id"]))["id"], "completed")
    branch = trip["path"][1]
    assert (branch["step_id"], branch["outcome"]) == ("is_member", "else")
    assert "member_since" in branch["detail"]
    assert [p["step_id"] for p in trip["path"]] == ["welcome", "is_member", "done"]
    assert len(smtp_sink.handler.to("bert@example.org")) == 1


async def test_enrollment_errors(api: httpx.AsyncClient) -> None:
    anna = await relation(api)
    await template(api)
    draft = await ok(api.post("/journeys", json={"definition": definition()}), 201)
    url = f"/journeys/{draft['id']}/enrollments"

    not_active = await api.post(url, json={"relation_id": anna["id"]})
    assert not_active.status_code == 409
    assert "not active" in not_active.json()["detail"]

    await ok(api.post(f"/journeys/{draft['id']}/activate"))
    assert (await api.post(url, json={"relation_id": 999999})).status_code == 404
    unknown_journey = f"/journeys/{draft['id'] + 1000}/enrollments"
    assert (await api.post(unknown_journey, json={"relation_id": anna["id"]})).status_code == 404
    missing = await api.post(url, json={})
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "relation_id"]
    assert (await ok(api.get(f"/relations/{anna['id']}/trips")))["count"] == 0


async def test_reentry_never(api: httpx.AsyncClient) -> None:
    anna = await relation(api)
    await template(api)
    journey = await active_journey(api, definition(reentry="never"))
    first = await enroll(api, journey["id"], anna["id"])
    await trip_status(api, first["id"], "completed")

    again = await api.post(
        f"/journeys/{journey['id']}/enrollments", json={"relation_id": anna["id"]}
    )
    assert again.status_code == 409
    assert "never" in again.json()["detail"]


async def test_reentry_after_exit(api: httpx.AsyncClient) -> None:
    anna = await relation(api)
    await template(api)
    journey = await active_journey(api, parked("after_exit", wait="PT1S"))
    url = f"/journeys/{journey['id']}/enrollments"
    first = await enroll(api, journey["id"], anna["id"])

    while_running = await api.post(url, json={"relation_id": anna["id"]})
    assert while_running.status_code == 409
    assert "after_exit" in while_running.json()["detail"]

    await trip_status(api, first["id"], "completed")
    second = await enroll(api, journey["id"], anna["id"])
    assert second["number"] == 2
    assert second["id"] == f"trip:{journey['id']}:{anna['id']}:2"


async def test_reentry_always_allows_trips_side_by_side(
    api: httpx.AsyncClient, dev_env: WorkflowEnvironment
) -> None:
    anna = await relation(api)
    await template(api)
    journey = await active_journey(api, parked("always"))
    first = await enroll(api, journey["id"], anna["id"])
    second = await enroll(api, journey["id"], anna["id"])
    assert (first["number"], second["number"]) == (1, 2)
    for trip in (first, second):
        await trip_waiting(api, trip["id"], "hold")

    running = await dev_env.client.count_workflows(
        f"JourneyId = '{journey['id']}' AND RelationId = '{anna['id']}' "
        "AND ExecutionStatus = 'Running'"
    )
    assert running.count == 2


@pytest.mark.parametrize("reentry", ["never", "after_exit"])
async def test_the_same_relation_added_twice_at_once_makes_one_trip(
    api: httpx.AsyncClient, smtp_sink: SmtpSink, reentry: str
) -> None:
    anna = await relation(api)
    await template(api)
    journey = await active_journey(api, definition(reentry=reentry))
    url = f"/journeys/{journey['id']}/enrollments"

    responses = await asyncio.gather(
        api.post(url, json={"relation_id": anna["id"]}),
        api.post(url, json={"relation_id": anna["id"]}),
    )
    assert sorted(r.status_code for r in responses) == [201, 409]
    winner = next(r.json() for r in responses if r.status_code == 201)
    await trip_status(api, winner["id"], "completed")

    trips = await ok(api.get(f"/relations/{anna['id']}/trips"))
    assert [t["id"] for t in trips["data"]] == [winner["id"]]
    assert len(smtp_sink.handler.to("anna@example.org")) == 1


async def test_stats_and_the_relations_waiting_at_a_step(api: httpx.AsyncClient) -> None:
    await template(api)
    people = [
        await relation(api, email=f"p{n}@example.org", first_name=f"P{n}", last_name="Park")
        for n in range(3)
    ]
    journey = await active_journey(api, parked())
    url = f"/journeys/{journey['id']}"
    started = [await enroll(api, journey["id"], p["id"]) for p in people]
    for trip in started:
        await trip_waiting(api, trip["id"], "hold")

    stats = await ok(api.get(f"{url}/stats"))
    assert stats["version"] == 1
    assert [(s["step_id"], s["type"], s["waiting"], s["passed"]) for s in stats["steps"]] == [
        ("hold", "wait", 3, 0),
        ("welcome", "send_email", 0, 0),
    ]
    assert stats["totals"] == {
        "running": 3,
        "stuck": 0,
        "completed": 0,
        "cancelled": 0,
        "failed": 0,
    }

    waiting = await ok(api.get(f"{url}/steps/hold/relations"))
    assert waiting["count"] == 3
    assert {w["relation_id"] for w in waiting["data"]} == {p["id"] for p in people}
    assert {w["trip_id"] for w in waiting["data"]} == {t["id"] for t in started}
    # Support staff see who each one is, not just an id.
    assert {(w["first_name"], w["last_name"], w["email"]) for w in waiting["data"]} == {
        (f"P{n}", "Park", f"p{n}@example.org") for n in range(3)
    }
    for entry in waiting["data"]:
        assert _at(entry["waiting_until"]) - _at(entry["since"]) == timedelta(days=7)
    page = await ok(api.get(f"{url}/steps/hold/relations", params={"limit": 1, "offset": 2}))
    assert (page["count"], len(page["data"])) == (3, 1)

    assert (await ok(api.get(f"{url}/steps/welcome/relations")))["count"] == 0
    assert (await api.get(f"{url}/steps/nowhere/relations")).status_code == 404


async def test_deactivate_drain_lets_running_trips_finish(
    api: httpx.AsyncClient, smtp_sink: SmtpSink
) -> None:
    anna = await relation(api)
    bert = await relation(api, email="bert@example.org", first_name="Bert")
    await template(api)
    journey = await active_journey(api, parked(wait="PT2S"))
    url = f"/journeys/{journey['id']}"
    trip = await enroll(api, journey["id"], anna["id"])
    await trip_waiting(api, trip["id"], "hold")

    drained = await ok(api.post(f"{url}/deactivate", params={"mode": "drain"}))
    assert (drained["running_trips"], drained["batch_job_id"]) == (1, None)
    refused = await api.post(f"{url}/enrollments", json={"relation_id": bert["id"]})
    assert refused.status_code == 409

    finished = await trip_status(api, trip["id"], "completed")
    assert [p["step_id"] for p in finished["path"]] == ["hold", "welcome"]
    assert [m["Subject"] for m in smtp_sink.handler.to("anna@example.org")] == ["Welcome, Anna"]
    assert smtp_sink.handler.to("bert@example.org") == []


async def test_deactivate_cancel_stops_running_trips_with_one_batch(
    api: httpx.AsyncClient, dev_env: WorkflowEnvironment, smtp_sink: SmtpSink
) -> None:
    from temporalio.api.enums.v1 import BatchOperationState
    from temporalio.api.workflowservice.v1 import DescribeBatchOperationRequest

    await template(api)
    people = [await relation(api, email=f"c{n}@example.org") for n in range(3)]
    journey = await active_journey(api, parked())
    url = f"/journeys/{journey['id']}"
    started = [await enroll(api, journey["id"], p["id"]) for p in people]
    for trip in started:
        await trip_waiting(api, trip["id"], "hold")

    cancelled = await ok(api.post(f"{url}/deactivate", params={"mode": "cancel"}))
    assert cancelled["journey"]["status"] == "inactive"
    assert cancelled["running_trips"] == 3
    job_id = cancelled["batch_job_id"]
    assert job_id

    async def batch() -> object:
        return await dev_env.client.workflow_service.describe_batch_operation(
            DescribeBatchOperationRequest(namespace=dev_env.client.namespace, job_id=job_id)
        )

    done = await eventually(
        batch,
        lambda b: b.state == BatchOperationState.BATCH_OPERATION_STATE_COMPLETED,  # type: ignore[attr-defined]
        what="the batch operation",
    )
    assert done.total_operation_count == 3  # type: ignore[attr-defined]

    for trip in started:
        ended = await trip_status(api, trip["id"], "cancelled")
        assert ended["ended_at"] is not None
        assert ended["waiting_until"] is None
        # The trip closes itself in the store just before Temporal closes the workflow.
        await eventually(
            dev_env.client.get_workflow_handle(trip["id"]).describe,
            lambda d: d.status == WorkflowExecutionStatus.CANCELED,
            what=f"{trip['id']} to be cancelled in Temporal",
        )

    stats = await ok(api.get(f"{url}/stats"))
    assert stats["totals"]["cancelled"] == 3
    # Cancelled at "hold": no longer waiting there, and not counted as having passed it.
    hold = stats["steps"][0]
    assert (hold["waiting"], hold["passed"], hold["cancelled"]) == (0, 0, 3)
    for trip in started:
        path = (await ok(api.get(f"/trips/{trip['id']}")))["path"]
        assert [(p["step_id"], p["outcome"]) for p in path] == [("hold", "cancelled")]
    assert smtp_sink.messages == []
    refused = await api.post(f"{url}/enrollments", json={"relation_id": people[0]["id"]})
    assert refused.status_code == 409


async def test_erasing_a_relation_keeps_its_trips(api: httpx.AsyncClient) -> None:
    anna = await relation(api)
    await template(api)
    journey = await active_journey(api, definition())
    trip = await trip_status(api, (await enroll(api, journey["id"], anna["id"]))["id"], "completed")

    await ok(api.delete(f"/relations/{anna['id']}"), 204)

    assert (await api.get(f"/relations/{anna['id']}")).status_code == 404
    assert (await ok(api.get("/relations", params={"email": "anna@example.org"})))["count"] == 0
    kept = await ok(api.get(f"/trips/{trip['id']}"))
    assert (kept["relation_id"], kept["status"]) == (anna["id"], "completed")
    assert [p["step_id"] for p in kept["path"]] == ["welcome", "end"]
    assert (await ok(api.get(f"/relations/{anna['id']}/trips")))["count"] == 1
    assert (await ok(api.get(f"/journeys/{journey['id']}/stats")))["totals"]["completed"] == 1


async def test_unknown_trip_is_404(api: httpx.AsyncClient) -> None:
    assert (await api.get("/trips/trip:1:1:1")).status_code == 404


async def test_cancel_after_drain_and_a_journey_that_ran_is_kept(api: httpx.AsyncClient) -> None:
    """A drain taking weeks can be cut short; a journey with trips cannot be deleted."""
    anna = await relation(api)
    await template(api)
    journey = await active_journey(api, parked())
    url = f"/journeys/{journey['id']}"
    trip = await enroll(api, journey["id"], anna["id"])
    await trip_waiting(api, trip["id"], "hold")

    await ok(api.post(f"{url}/deactivate", params={"mode": "drain"}))
    cut_short = await ok(api.post(f"{url}/deactivate", params={"mode": "cancel"}))
    assert (cut_short["running_trips"], bool(cut_short["batch_job_id"])) == (1, True)
    await trip_status(api, trip["id"], "cancelled")
    nothing_left = await ok(api.post(f"{url}/deactivate", params={"mode": "cancel"}))
    assert (nothing_left["running_trips"], nothing_left["batch_job_id"]) == (0, None)

    kept = await api.delete(url)
    assert kept.status_code == 409
    assert (await ok(api.get(f"/trips/{trip['id']}")))["status"] == "cancelled"

    draft = await ok(api.post("/journeys", json={"definition": definition()}), 201)
    never_active = await api.post(f"/journeys/{draft['id']}/deactivate", params={"mode": "cancel"})
    assert never_active.status_code == 409
