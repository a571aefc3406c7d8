"""Events that name no relation (Deployteq's "start at event"): a form post with an email
and a name starts a trip that upserts the person and mails them."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.engine import Engine

from activities.admission import anonymous_trip_id
from tests.api.events_support import all_dispatched, mail_to, trips_of
from tests.api.support import active_journey, ok, template, trip_status
from tests.support.smtp import SmtpSink
from worker.worker import Workers

SIGN_UP: dict[str, Any] = {
    "name": "Sign-up form",
    "triggers": [{"type": "event", "event": "signup", "without_relation": True}],
    "steps": [
        {
            "id": "person",
            "type": "upsert_relation",
            "set": [
                {"field": "email", "from": "event.email", "unique": True},
                {"field": "first_name", "from": "event.name"},
                {"field": "source", "value": "form"},
            ],
        },
        {"id": "welcome", "type": "send_email", "template": "welcome"},
    ],
}
# The same event type, without `without_relation`: only events that name a relation.
KNOWN_ONLY: dict[str, Any] = {
    "name": "Known sign-ups",
    "triggers": [{"type": "event", "event": "signup"}],
    "steps": [{"id": "noted", "type": "exit"}],
}

# Looks the person up by a field no one has: the trip ends as it began, without one.
NOBODY: dict[str, Any] = {
    "name": "Look-up only",
    "triggers": [{"type": "event", "event": "signup", "without_relation": True}],
    "steps": [
        {
            "id": "known",
            "type": "lookup_relation",
            "match": [{"field": "external_id", "from": "event.email"}],
        },
        {"id": "done", "type": "exit"},
    ],
}


def signup(email: str, name: str, **fields: Any) -> dict[str, Any]:
    return {"type": "signup", "payload": {"email": email, "name": name}, **fields}


async def test_a_form_post_without_a_relation_upserts_the_person_and_mails_them(
    api: httpx.AsyncClient, api_engine: Engine, worker: Workers, smtp_sink: SmtpSink
) -> None:
    await template(api, "welcome")
    journey = await active_journey(api, SIGN_UP)
    known_only = await active_journey(api, KNOWN_ONLY)
    nobody = await active_journey(api, NOBODY)

    first = await ok(
        api.post("/events", json=signup("Nina@Example.org", "Nina", idempotency_key="f1")), 201
    )
    again = await ok(
        api.post("/events", json=signup("Nina@Example.org", "Nina", idempotency_key="f1")), 200
    )
    assert first["event"]["relation_id"] is None and first["relation_created"] is False
    assert again["repeated"] is True and again["event"] == first["event"]
    # Nina's first form post has made her relation before the next ones come (else which
    # of her two posts creates her depends on which dispatch runs first).
    await all_dispatched(api_engine)
    await trip_status(api, anonymous_trip_id(journey["id"], first["event"]["id"]), "completed")
    batch = await ok(
        api.post(
            "/events/batch",
            json={
                "events": [signup("nina@example.org", "Nina"), signup("omar@example.org", "Omar")]
            },
        )
    )
    assert [r["status"] for r in batch["results"]] == [201, 201]
    assert [r["accepted"]["event"]["relation_id"] for r in batch["results"]] == [None, None]
    event_ids = [first["event"]["id"]] + [r["accepted"]["event"]["id"] for r in batch["results"]]
    trip_ids = [anonymous_trip_id(journey["id"], e) for e in event_ids]

    await all_dispatched(api_engine)  # from here on, every trip they admit exists
    ended = [await trip_status(api, t, "completed") for t in trip_ids]
    await mail_to(smtp_sink, "Nina@example.org", 2)
    await mail_to(smtp_sink, "omar@example.org")

    nina, second, omar = ended
    assert second["relation_id"] == nina["relation_id"] != omar["relation_id"]
    people = await ok(api.get("/relations", params={"email": "nina@example.org"}))
    assert people["count"] == 1, "one person became several relations"
    assert people["data"][0]["custom"] == {"source": "form"}
    added = nina["path"][0]
    assert (added["step_id"], added["outcome"], added["detail"]) == (
        "person",
        "created",
        "new relation (none by email); with email, first_name, source",
    )
    assert [(p["step_id"], p["outcome"]) for p in second["path"]] == [
        ("person", "unchanged"),
        ("welcome", "sent"),
    ]
    assert {m["Subject"] for m in smtp_sink.messages} == {"Welcome, Nina", "Welcome, Omar"}
    unknown = await trip_status(api, anonymous_trip_id(nobody["id"], event_ids[0]), "completed")
    assert unknown["relation_id"] is None
    assert [(p["step_id"], p["outcome"], p["detail"]) for p in unknown["path"]] == [
        ("known", "not_found", "no relation matches external_id"),
        ("done", "exited", ""),
    ]
    # No trip in the journey whose trigger wants a relation.
    assert {t["journey_id"] for t in await trips_of(api, nina["relation_id"])} == {journey["id"]}

    # An event that names a relation admits to both, with its relation.
    named = await ok(
        api.post(
            "/events", json=signup("omar@example.org", "Omar", relation={"id": omar["relation_id"]})
        ),
        201,
    )
    assert named["event"]["relation_id"] == omar["relation_id"]
    await all_dispatched(api_engine)
    trips = await trips_of(api, omar["relation_id"])
    assert {t["journey_id"] for t in trips} == {journey["id"], known_only["id"], nobody["id"]}
    assert all(t["relation_id"] == omar["relation_id"] for t in trips)
