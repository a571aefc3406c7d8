"""Events: stored, idempotent, reconciled to one relation, and they drive journeys."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.contracts import (
    SYNC_CLOSED_TRIPS_WORKFLOW,
    SyncClosedTripsInput,
)
from store import events
from store.models import utcnow
from tests.api.events_support import all_dispatched, mail_to, post_event, settled_trips, trips_of
from tests.api.support import active_journey, ok, relation, sqlite_only, template
from tests.support.smtp import SmtpSink


def thank_you(*triggers: dict[str, Any], **settings: Any) -> dict[str, Any]:
    return {
        "name": "Thank you",
        "triggers": list(triggers),
        "steps": [{"id": "thanks", "type": "send_email", "template": "thanks"}],
        **settings,
    }


async def donors(api: httpx.AsyncClient, count: int) -> list[int]:
    return [(await relation(api, email=f"donor{i}@example.org"))["id"] for i in range(count)]


async def test_a_donation_admits_only_within_the_inclusive_bounds_of_its_fund(
    api: httpx.AsyncClient, api_engine: Engine, worker: Worker, smtp_sink: SmtpSink
) -> None:
    await template(api, "thanks", subject="Thank you for {{ event.amount }} to {{ event.fund }}")
    await active_journey(
        api,
        thank_you({"type": "donation", "fund": "general", "min_amount": 10, "max_amount": 100}),
    )
    amounts = ["9.99", 10, 50, "100", 100.01]
    people = await donors(api, len(amounts) + 2)
    for person, amount in zip(people, amounts, strict=False):
        await post_event(
            api, "donation", relation={"id": person}, payload={"amount": amount, "fund": "General"}
        )
    await post_event(
        api, "donation", relation={"id": people[5]}, payload={"amount": 50, "fund": "x"}
    )
    await post_event(api, "registration", relation={"id": people[6]}, payload={"amount": 50})

    await all_dispatched(api_engine)
    admitted = [people[1], people[2], people[3]]
    for person in admitted:
        (trip,) = await settled_trips(api, person, 1)
        assert trip["status"] == "completed" and trip["trigger"].startswith("trigger 1: donation")
    subjects = sorted(m["Subject"] for m in smtp_sink.messages)
    assert subjects == [
        "Thank you for 10 to General",
        "Thank you for 100 to General",
        "Thank you for 50 to General",
    ]
    for person in set(people) - set(admitted):
        assert await trips_of(api, person) == []


async def test_the_same_idempotency_key_twice_has_one_effect_and_answers_the_first_result(
    api: httpx.AsyncClient,
    api_engine: Engine,
    worker: Worker,
    smtp_sink: SmtpSink,
    dev_env: WorkflowEnvironment,
) -> None:
    await template(api, "thanks")
    # Two identical triggers and re-entry `always`: still one trip per event.
    trigger = {"type": "donation", "fund": "general"}
    await active_journey(api, thank_you(trigger, trigger, reentry="always"))
    (person,) = await donors(api, 1)
    body: dict[str, Any] = {"relation": {"id": person}, "payload": {"fund": "general", "amount": 5}}
    first = await post_event(api, "donation", idempotency_key="order-77", **body)
    again = await post_event(api, "donation", 200, idempotency_key="order-77", **body)
    assert again["event"] == first["event"] and again["repeated"] is True
    await mail_to(smtp_sink, "donor0@example.org")
    await all_dispatched(api_engine)
    (trip,) = await trips_of(api, person)
    # The operator's view in the Temporal Web UI: what admitted the trip, by ids only.
    described = await dev_env.client.get_workflow_handle(trip["id"]).describe()
    summary = await described.static_summary()
    assert summary is not None and summary.endswith(
        f"trigger 1: donation to fund 'general' · event {first['event']['id']}"
    )
    details = await described.static_details()
    assert details is not None and "- admits on donation to fund 'general'" in details
    assert len(smtp_sink.to("donor0@example.org")) == 1
    events = await ok(api.get(f"/relations/{person}/events"))
    assert events["count"] == 1 and events["data"][0]["payload"]["fund"] == "general"


async def test_an_unknown_relation_is_refused_naming_the_field_or_created_once(
    api: httpx.AsyncClient, worker: Worker
) -> None:
    refused = await ok(
        api.post(
            "/events",
            json={"type": "download", "relation": {"email": "new@example.org"}},
        ),
        422,
    )
    assert refused["detail"][0]["loc"] == ["body", "relation", "email"]
    assert (await ok(api.get("/relations", params={"email": "new@example.org"})))["count"] == 0

    body = {
        "type": "newsletter_signup",
        "relation": {
            "email": "New@Example.org",
            "create": True,
            "fields": {"first_name": "Nieuw"},
        },
    }
    answers = await asyncio.gather(*(api.post("/events", json=body) for _ in range(5)))
    assert [a.status_code for a in answers] == [201] * 5
    created = [a.json()["relation_created"] for a in answers]
    assert created.count(True) == 1, "one person became several relations"
    people = {a.json()["event"]["relation_id"] for a in answers}
    assert len(people) == 1
    found = await ok(api.get(f"/relations/{people.pop()}"))
    assert found["first_name"] == "Nieuw"


@pytest.mark.parametrize(
    "payload",
    [{"blob": "x" * 20_000}],
)
async def test_a_payload_beyond_the_bound_is_refused_naming_it(
    api: httpx.AsyncClient, payload: dict[str, Any]
) -> None:
    await relation(api)
    refused = await ok(
        api.post("/events", json={"type": "x", "relation": {"id": 1}, "payload": payload}), 422
    )
    assert refused["detail"][0]["loc"] == ["body", "payload"]


async def test_a_batch_answers_per_event_and_stores_the_good_ones(
    api: httpx.AsyncClient, worker: Worker
) -> None:
    (person,) = await donors(api, 1)
    batch = await ok(
        api.post(
            "/events/batch",
            json={
                "events": [
                    {"type": "purchase", "relation": {"id": person}, "idempotency_key": "a"},
                    {"type": "purchase", "relation": {"external_id": "nobody"}},
                    {"type": "purchase", "relation": {"id": person}, "idempotency_key": "a"},
                ]
            },
        )
    )
    assert [r["status"] for r in batch["results"]] == [201, 422, 200]
    assert batch["results"][1]["error"][0]["loc"] == [
        "body",
        "events",
        1,
        "relation",
        "external_id",
    ]
    assert (await ok(api.get(f"/relations/{person}/events")))["count"] == 1


async def test_an_event_stored_by_an_api_that_died_before_dispatching_is_dispatched_later(
    api: httpx.AsyncClient,
    api_engine: Engine,
    worker: Worker,
    smtp_sink: SmtpSink,
    dev_env: WorkflowEnvironment,
    task_queue: str,
) -> None:
    await template(api, "thanks")
    await active_journey(api, thank_you({"type": "donation"}))
    (person,) = await donors(api, 1)
    # What POST /events does up to the moment it would start the Dispatch: then it died.
    with Session(api_engine, expire_on_commit=False) as session:
        stored = events.ingest(
            session,
            events.NewEvent(
                type="donation",
                relation=events.RelationRef(id=person),
                payload={"amount": 5},
                occurred_at=utcnow(),
            ),
            now=utcnow() - timedelta(minutes=2),
            loc=("body",),
        )
    # The trip-sync schedule's workflow, run once now instead of in five minutes.
    await dev_env.client.execute_workflow(
        SYNC_CLOSED_TRIPS_WORKFLOW,
        SyncClosedTripsInput(),
        id=f"sync-{stored.event.id}",
        task_queue=task_queue,
    )
    (trip,) = await settled_trips(api, person, 1)
    assert trip["event_id"] == stored.event.id
    await mail_to(smtp_sink, "donor0@example.org")


async def test_registration_forms_and_event_payload_conditions_admit_only_their_matches(
    api: httpx.AsyncClient, api_engine: Engine, worker: Worker, smtp_sink: SmtpSink
) -> None:
    await template(api, "thanks")
    newsletter = await active_journey(
        api, thank_you({"type": "registration", "form": "newsletter"}, name="Newsletter")
    )
    big_orders = await active_journey(
        api,
        thank_you(
            {
                "type": "event",
                "event": "purchase",
                "where": {"field": "total", "op": "gte", "value": 100},
            },
            name="Big orders",
        ),
    )
    people = await donors(api, 4)
    await ok(api.patch(f"/relations/{people[0]}", json={"external_id": "shop-7"}))
    await post_event(
        api, "registration", relation={"external_id": "shop-7"}, payload={"form": "Newsletter"}
    )
    await post_event(api, "registration", relation={"id": people[1]}, payload={"form": "webinar"})
    await post_event(api, "purchase", relation={"id": people[2]}, payload={"total": 100})
    await post_event(api, "purchase", relation={"id": people[3]}, payload={"total": 99.5})
    await all_dispatched(api_engine)

    admitted = {person: await trips_of(api, person) for person in people}
    assert [t["journey_id"] for t in admitted[people[0]]] == [newsletter["id"]]
    assert admitted[people[1]] == []
    assert [t["journey_id"] for t in admitted[people[2]]] == [big_orders["id"]]
    assert admitted[people[3]] == []
    taken = await ok(api.patch(f"/relations/{people[1]}", json={"external_id": "shop-7"}), 409)
    assert "shop-7" in taken["detail"]


@sqlite_only
async def test_nan_in_a_payload_or_custom_field_is_refused_naming_it(
    api: httpx.AsyncClient,
) -> None:
    await relation(api)
    # Python's json writes NaN, as some clients do; it is not JSON.
    body = '{"type": "x", "relation": {"id": 1}, "payload": {"cart": {"total": NaN}}}'
    refused = await ok(
        api.post("/events", content=body, headers={"content-type": "application/json"}), 422
    )
    assert refused["detail"][0]["loc"] == ["body", "payload"]
    assert "'cart.total' is NaN" in refused["detail"][0]["msg"]
    patch = '{"custom": {"score": Infinity}}'
    refused = await ok(
        api.patch("/relations/1", content=patch, headers={"content-type": "application/json"}),
        422,
    )
    assert "'score' is NaN or infinite" in refused["detail"][0]["msg"]


@sqlite_only
async def test_a_lone_surrogate_in_a_bad_field_is_a_422_not_a_500(api: httpx.AsyncClient) -> None:
    body = '{"type": "x", "relation": {"id": 1}, "occurred_at": "\\ud800"}'
    refused = await ok(
        api.post("/events", content=body, headers={"content-type": "application/json"}), 422
    )
    assert refused["detail"][0]["loc"] == ["body", "occurred_at"]
