"""Segment triggers fire at the change itself: a field, a group membership, an event."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.engine import Engine
from temporalio.worker import Worker

from store.db import session_scope
from store.models import Segment
from tests.api.events_support import all_dispatched, mail_to, post_event, settled_trips, trips_of
from tests.api.support import active_journey, ok, relation, template
from tests.support.smtp import SmtpSink


def add_segment(engine: Engine, key: str, condition: dict[str, Any]) -> None:
    # Straight into the store: what these tests exercise is what a change does to a
    # segment that exists (the segments API is tested on its own).
    with session_scope(engine) as session:
        session.add(Segment(key=key, name=key, condition=condition))


def hello(trigger: dict[str, Any], **settings: Any) -> dict[str, Any]:
    return {
        "name": "Hello",
        "triggers": [trigger],
        "steps": [{"id": "hello", "type": "send_email", "template": "welcome"}],
        **settings,
    }


async def test_entering_a_segment_by_a_field_change_admits_once(
    api: httpx.AsyncClient, api_engine: Engine, worker: Worker, smtp_sink: SmtpSink
) -> None:
    add_segment(api_engine, "utrecht", {"field": "city", "op": "eq", "value": "Utrecht"})
    await template(api)
    await active_journey(api, hello({"type": "segment_entry", "segment": "utrecht"}))
    anna = await relation(api, custom={"city": "Amsterdam"})
    await relation(api, email="bert@example.org", custom={"city": "utrecht"})
    # Bert matched from the start: created inside the segment, which is an entry too.
    await mail_to(smtp_sink, "bert@example.org")
    assert await trips_of(api, anna["id"]) == []

    await ok(api.patch(f"/relations/{anna['id']}", json={"custom": {"city": "Utrecht"}}))
    (trip,) = await settled_trips(api, anna["id"], 1)
    assert trip["trigger"] == "trigger 1: enters segment 'utrecht'"
    await mail_to(smtp_sink, "anna@example.org")

    # Out and in again: a second entry, which re-entry `never` refuses.
    await ok(api.patch(f"/relations/{anna['id']}", json={"custom": {"city": "Delft"}}))
    await ok(api.patch(f"/relations/{anna['id']}", json={"custom": {"city": "Utrecht"}}))
    # An unrelated change inside the segment is no entry at all.
    await ok(api.patch(f"/relations/{anna['id']}", json={"first_name": "Annie"}))
    await all_dispatched(api_engine)
    assert len(await trips_of(api, anna["id"])) == 1
    assert len(smtp_sink.to("anna@example.org")) == 1


async def test_entering_a_segment_by_a_group_change_admits(
    api: httpx.AsyncClient, api_engine: Engine, worker: Worker, smtp_sink: SmtpSink
) -> None:
    add_segment(api_engine, "vips", {"in_group": "vip"})
    await template(api)
    await ok(api.post("/groups", json={"key": "vip", "name": "VIP"}), 201)
    await active_journey(api, hello({"type": "segment_entry", "segment": "vips"}))
    anna = await relation(api)
    assert await trips_of(api, anna["id"]) == []
    await ok(api.put(f"/groups/vip/members/{anna['id']}"), 204)
    await settled_trips(api, anna["id"], 1)
    await mail_to(smtp_sink, "anna@example.org")


async def test_an_event_that_enters_a_segment_and_matches_a_trigger_admits_once(
    api: httpx.AsyncClient, api_engine: Engine, worker: Worker, smtp_sink: SmtpSink
) -> None:
    add_segment(
        api_engine,
        "donors",
        {"event": "donation", "where": {"field": "amount", "op": "gte", "value": 10}},
    )
    await template(api)
    await active_journey(
        api,
        {
            **hello({"type": "segment_entry", "segment": "donors"}),
            "triggers": [
                {"type": "segment_entry", "segment": "donors"},
                {"type": "donation"},
            ],
        },
    )
    anna = await relation(api)
    small = await post_event(api, "donation", relation={"id": anna["id"]}, payload={"amount": 5})
    assert small["segments_entered"] == []
    (trip,) = await settled_trips(api, anna["id"], 1)
    assert trip["trigger"] == "trigger 2: donation"  # the small one; not yet a donor

    big = await post_event(api, "donation", relation={"id": anna["id"]}, payload={"amount": 50})
    assert big["segments_entered"] == ["donors"]
    await all_dispatched(api_engine)
    # Re-entry `never`: the segment entry and the donation of the second event are one
    # admission, and the relation already travelled.
    assert len(await trips_of(api, anna["id"])) == 1


async def test_a_segment_shift_fires_only_on_the_move_from_a_to_b(
    api: httpx.AsyncClient, api_engine: Engine, worker: Worker, smtp_sink: SmtpSink
) -> None:
    for tier in ("buyer", "ambassador"):
        add_segment(api_engine, tier, {"field": "tier", "op": "eq", "value": tier})
    await template(api)
    await active_journey(
        api, hello({"type": "segment_shift", "from": "buyer", "to": "ambassador"}, reentry="always")
    )
    anna = await relation(api, custom={"tier": "visitor"})
    bert = await relation(api, email="bert@example.org", custom={"tier": "visitor"})

    await ok(api.patch(f"/relations/{anna['id']}", json={"custom": {"tier": "buyer"}}))
    await ok(api.patch(f"/relations/{bert['id']}", json={"custom": {"tier": "ambassador"}}))
    await ok(api.patch(f"/relations/{anna['id']}", json={"custom": {"tier": "ambassador"}}))
    (trip,) = await settled_trips(api, anna["id"], 1)
    assert trip["trigger"] == "trigger 1: moves from segment 'buyer' to 'ambassador'"
    # Back (ambassador -> buyer) is no shift from buyer to ambassador.
    await ok(api.patch(f"/relations/{anna['id']}", json={"custom": {"tier": "buyer"}}))
    await all_dispatched(api_engine)
    assert len(await trips_of(api, anna["id"])) == 1
    assert await trips_of(api, bert["id"]) == []
