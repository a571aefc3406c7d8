"""Journeys over HTTP: drafts, validation naming the step, activation and versions."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from temporalio.testing import WorkflowEnvironment

from activities.contracts import JOURNEY_VERSION
from store.db import session_scope
from store.models import Journey
from tests.api.support import (
    active_journey,
    definition,
    enroll,
    ok,
    parked,
    relation,
    sqlite_only,
    template,
    trip_waiting,
)


def _errors(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    detail: list[dict[str, Any]] = response.json()["detail"]
    return detail


@sqlite_only
@pytest.mark.parametrize(
    ("steps", "loc", "words"),
    [
        pytest.param(
            [{"id": "hello", "type": "send_email", "template": "w", "next": "nowhere"}],
            ["steps", 0, "next"],
            ["'hello'", "unknown step 'nowhere'"],
            id="unknown-target",
        ),
        pytest.param(
            [
                {"id": "first", "type": "jump", "target": "second"},
                {"id": "second", "type": "jump", "target": "first"},
            ],
            ["steps", 1, "target"],
            ["'second'", "loop"],
            id="loop",
        ),
        pytest.param(
            [{"id": "only", "type": "exit"}, {"id": "orphan", "type": "exit"}],
            ["steps", 1, "id"],
            ["'orphan'", "unreachable"],
            id="unreachable",
        ),
        pytest.param(
            [{"id": "pause", "type": "wait", "duration": "P1M"}],
            ["steps", 0, "wait", "duration"],
            ["'pause'", "P1M"],
            id="bad-duration",
        ),
    ],
)
async def test_invalid_definitions_are_rejected_naming_the_step(
    api: httpx.AsyncClient, steps: list[dict[str, Any]], loc: list[Any], words: list[str]
) -> None:
    response = await api.post("/journeys", json={"definition": {"name": "Bad", "steps": steps}})
    (entry,) = _errors(response)
    assert entry["loc"] == ["body", "definition", *loc]
    for word in words:
        assert word in entry["msg"], entry["msg"]
    assert (await ok(api.get("/journeys", params={"status": "draft"})))["count"] == 0


@sqlite_only
async def test_every_graph_issue_is_reported(api: httpx.AsyncClient) -> None:
    steps = [
        {"id": "a", "type": "send_email", "template": "w", "next": "x"},
        {
            "id": "b",
            "type": "if",
            "condition": {"field": "points", "op": "gt", "value": 3},
            "then": "y",
            "else": "a",
        },
    ]
    response = await api.post("/journeys", json={"definition": {"name": "Bad", "steps": steps}})
    entries = _errors(response)
    assert {tuple(e["loc"][2:]) for e in entries} == {("steps", 0, "next"), ("steps", 1, "then")}


@sqlite_only
async def test_a_journey_of_more_than_500_steps_is_refused_naming_the_field(
    api: httpx.AsyncClient,
) -> None:
    steps: list[dict[str, Any]] = [
        {"id": f"s{n}", "type": "jump", "target": f"s{n + 1}"} for n in range(1500)
    ]
    steps.append({"id": "s1500", "type": "exit"})
    response = await api.post("/journeys", json={"definition": {"name": "Long", "steps": steps}})
    (entry,) = _errors(response)
    assert (entry["type"], entry["loc"]) == ("too_long", ["body", "definition", "steps"])


async def test_draft_create_read_edit_delete(api: httpx.AsyncClient) -> None:
    draft = await ok(api.post("/journeys", json={"definition": definition()}), 201)
    assert draft["status"] == "draft"
    assert draft["active_version"] is None
    assert [s["id"] for s in draft["definition"]["steps"]] == ["welcome", "end"]

    edited = await ok(
        api.put(f"/journeys/{draft['id']}", json={"definition": definition(name="Hello")})
    )
    assert edited["name"] == "Hello"
    assert (await ok(api.get(f"/journeys/{draft['id']}")))["name"] == "Hello"

    await ok(api.delete(f"/journeys/{draft['id']}"), 204)
    assert (await api.get(f"/journeys/{draft['id']}")).status_code == 404
    assert (await api.post("/journeys/987/activate")).status_code == 404


async def test_activation_checks_templates_and_groups(api: httpx.AsyncClient) -> None:
    spec = {
        "name": "Refs",
        "steps": [
            {"id": "hello", "type": "send_email", "template": "welcome"},
            {
                "id": "vip",
                "type": "if",
                "condition": {"in_group": "vip"},
                "then": "done",
                "else": "done",
            },
            {"id": "done", "type": "exit"},
        ],
    }
    draft = await ok(api.post("/journeys", json={"definition": spec}), 201)
    entries = _errors(await api.post(f"/journeys/{draft['id']}/activate"))
    assert [(e["loc"], e["msg"]) for e in entries] == [
        (
            ["body", "definition", "steps", 0, "template"],
            "step 'hello': template 'welcome' does not exist",
        ),
        (["body", "definition", "steps", 1, "condition"], "step 'vip': group 'vip' does not exist"),
    ]
    assert (await ok(api.get(f"/journeys/{draft['id']}")))["status"] == "draft"

    await template(api)
    await ok(api.post("/groups", json={"key": "vip", "name": "VIP"}), 201)
    active = await ok(api.post(f"/journeys/{draft['id']}/activate"))
    assert (active["status"], active["active_version"]) == ("active", 1)

    # What an active journey relies on cannot be pulled from under it.
    assert (await api.delete("/templates/welcome")).status_code == 409
    assert (await api.delete("/groups/vip")).status_code == 409


async def test_an_active_journey_is_frozen(api: httpx.AsyncClient) -> None:
    await template(api)
    journey = await active_journey(api, definition())
    url = f"/journeys/{journey['id']}"

    edit = await api.put(url, json={"definition": definition(name="Changed")})
    assert edit.status_code == 409
    assert "deactivate" in edit.json()["detail"]
    assert (await api.delete(url)).status_code == 409
    assert (await api.post(f"{url}/activate")).status_code == 409
    assert (await ok(api.get(url)))["name"] == "Welcome"

    deactivated = await ok(api.post(f"{url}/deactivate"))
    assert deactivated["journey"]["status"] == "inactive"
    assert (await api.post(f"{url}/deactivate")).status_code == 409
    await ok(api.put(url, json={"definition": definition(name="Changed")}))


async def test_versions_are_frozen_and_reused(api: httpx.AsyncClient) -> None:
    await template(api)
    journey = await active_journey(api, definition())
    url = f"/journeys/{journey['id']}"
    v1 = await ok(api.get(f"{url}/versions/1"))
    assert v1["definition"]["name"] == "Welcome"

    # Unchanged draft: reactivating reuses version 1.
    await ok(api.post(f"{url}/deactivate"))
    assert (await ok(api.post(f"{url}/activate")))["active_version"] == 1
    await ok(api.post(f"{url}/deactivate"))
    await ok(api.put(url, json={"definition": definition(name="Welcome v2")}))
    assert (await ok(api.post(f"{url}/activate")))["active_version"] == 2

    versions = await ok(api.get(f"{url}/versions"))
    assert [(v["version"], v["definition"]["name"]) for v in versions["data"]] == [
        (1, "Welcome"),
        (2, "Welcome v2"),
    ]
    assert versions["data"][0]["digest"] != versions["data"][1]["digest"]
    assert (await api.get(f"{url}/versions/3")).status_code == 404


@pytest.mark.usefixtures("worker")
async def test_trips_keep_the_version_they_started_on(
    api: httpx.AsyncClient, dev_env: WorkflowEnvironment
) -> None:
    await template(api)
    anna = await relation(api)
    bert = await relation(api, email="bert@example.org", first_name="Bert")
    journey = await active_journey(api, parked("always"))
    url = f"/journeys/{journey['id']}"
    first = await enroll(api, journey["id"], anna["id"])
    await trip_waiting(api, first["id"], "hold")

    await ok(api.post(f"{url}/deactivate"))
    changed = parked("always") | {"name": "Parked v2"}
    changed["steps"] = [{"id": "intro", "type": "wait", "duration": "P3D"}, *changed["steps"]]
    await ok(api.put(url, json={"definition": changed}))
    await ok(api.post(f"{url}/activate"))
    second = await enroll(api, journey["id"], bert["id"])
    await trip_waiting(api, second["id"], "intro")

    assert (second["journey_version"], first["journey_version"]) == (2, 1)
    still = await ok(api.get(f"/trips/{first['id']}"))
    assert (still["status"], still["current_step"], still["journey_version"]) == (
        "running",
        "hold",
        1,
    )
    described = await dev_env.client.get_workflow_handle(first["id"]).describe()
    assert described.typed_search_attributes.get(JOURNEY_VERSION) == 1

    stats = await ok(api.get(f"{url}/stats"))
    assert stats["version"] == 2
    assert [(s["step_id"], s["waiting"]) for s in stats["steps"]] == [
        ("intro", 1),
        ("hold", 1),
        ("welcome", 0),
    ]


async def test_a_draft_saved_under_looser_bounds_still_reads(
    api: httpx.AsyncClient, api_engine: Engine
) -> None:
    # A release that tightens a bound (here: at most 500 steps) must not turn reading a
    # draft saved before it into a 500.
    steps: list[dict[str, Any]] = [
        {"id": f"s{n}", "type": "wait", "duration": "PT1H"} for n in range(501)
    ]
    with session_scope(api_engine) as session:
        journey = Journey(name="Old", definition={"name": "Old", "steps": steps})
        session.add(journey)
        session.flush()
        journey_id = journey.id
    response = await api.get(f"/journeys/{journey_id}")
    assert response.status_code == 200, response.text
    assert len(response.json()["definition"]["steps"]) == 501
    assert (await api.get("/journeys")).status_code == 200
