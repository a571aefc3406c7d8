"""Segments through the API: counts, members, preview, and edits that need confirming."""

from __future__ import annotations

from typing import Any

import httpx
from temporalio.worker import Worker

from tests.api.events_support import settled_trips, trips_of
from tests.api.support import active_journey, eventually, ok, relation, template
from tests.support.smtp import SmtpSink

UTRECHT = {"field": "city", "op": "eq", "value": "Utrecht"}


async def people(api: httpx.AsyncClient) -> dict[str, int]:
    cities = {"anna": "Utrecht", "bert": "utrecht", "carla": "Delft", "dirk": None}
    found = {}
    for name, city in cities.items():
        custom = {"city": city} if city else {}
        found[name] = (await relation(api, email=f"{name}@example.org", custom=custom))["id"]
    return found


async def test_a_segment_counts_and_lists_its_members_and_previews_without_storing(
    api: httpx.AsyncClient,
) -> None:
    who = await people(api)
    preview = await ok(api.post("/segments/preview", json={"condition": UTRECHT}))
    assert preview == {"count": 2}
    assert (await ok(api.get("/segments")))["count"] == 0

    created = await ok(
        api.post("/segments", json={"key": "utrecht", "name": "Utrecht", "condition": UTRECHT}),
        201,
    )
    assert created["members"] == 2 and created["condition"] == UTRECHT
    members = await ok(api.get("/segments/utrecht/members"))
    assert [m["id"] for m in members["data"]] == [who["anna"], who["bert"]]

    # Kept current at each change, not on a timer.
    await ok(api.patch(f"/relations/{who['carla']}", json={"custom": {"city": "Utrecht"}}))
    await ok(api.patch(f"/relations/{who['anna']}", json={"custom": {"city": "Zeist"}}))
    members = await ok(api.get("/segments/utrecht/members"))
    assert [m["id"] for m in members["data"]] == [who["bert"], who["carla"]]
    assert (await ok(api.get("/segments/utrecht")))["members"] == 2


async def test_bad_segments_are_refused_naming_the_field(api: httpx.AsyncClient) -> None:
    await ok(api.post("/segments", json={"key": "a", "name": "A", "condition": UTRECHT}), 201)
    again = await ok(
        api.post("/segments", json={"key": "a", "name": "A", "condition": UTRECHT}), 409
    )
    assert "already exists" in again["detail"]
    trip_only = {"all": [UTRECHT, {"field": "event.amount", "op": "gt", "value": 5}]}
    refused = await ok(
        api.post("/segments", json={"key": "b", "name": "B", "condition": trip_only}), 422
    )
    assert refused["detail"][0]["loc"] == ["body", "condition", "all", 1, "field"]
    assert "event.amount" in refused["detail"][0]["msg"]
    await ok(api.get("/segments/nope"), 404)
    malformed = await ok(
        api.post("/segments", json={"key": "c", "name": "C", "condition": {"city": "x"}}), 422
    )
    assert malformed["detail"][0]["loc"][:2] == ["body", "condition"]


async def test_editing_a_segment_that_an_active_journey_uses_needs_confirmation(
    api: httpx.AsyncClient, worker: Worker, smtp_sink: SmtpSink
) -> None:
    who = await people(api)
    await ok(api.post("/segments", json={"key": "city", "name": "City", "condition": UTRECHT}), 201)
    await template(api)
    journey = await active_journey(
        api,
        {
            "name": "Welcome to the city",
            "triggers": [{"type": "segment_entry", "segment": "city"}],
            "steps": [{"id": "hello", "type": "send_email", "template": "welcome"}],
        },
    )
    delft = {"condition": {"field": "city", "op": "in", "value": ["Utrecht", "Delft"]}}
    refused = await ok(api.put("/segments/city", json=delft), 409)
    assert "1 relations enter" in refused["detail"] and "0 leave" in refused["detail"]
    assert f"journeys [{journey['id']}]" in refused["detail"]
    assert (await ok(api.get("/segments/city")))["members"] == 2  # nothing applied

    applied = await ok(api.put("/segments/city", params={"confirm": "true"}, json=delft))
    assert (applied["entered"], applied["left"]) == (1, 0)
    assert len(applied["admission_runs"]) == 1
    (trip,) = await settled_trips(api, who["carla"], 1)
    assert trip["trigger"] == "trigger 1: enters segment 'city'"
    # Those who were members already are no entrants of the edit.
    assert await trips_of(api, who["anna"]) == []

    async def runs() -> dict[str, Any]:
        found: dict[str, Any] = await ok(api.get(f"/journeys/{journey['id']}/admissions"))
        return found

    (run,) = (await eventually(runs, lambda r: r["data"][0]["status"] == "finished"))["data"]
    assert (run["total"], run["admitted"], run["skipped"]) == (1, 1, 0)
    in_use = await ok(api.delete("/segments/city"), 409)
    assert "active journeys" in in_use["detail"]
