"""The unsubscribe step over HTTP: bad settings refused naming the step, and a relation
that unsubscribed from a journey never entering it again (manual add or trigger)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.worker import Worker

from store.models import Journey
from tests.api.events_support import all_dispatched, post_event, trips_of
from tests.api.support import active_journey, ok, relation, sqlite_only, trip_status


def _journey(*steps: dict[str, Any]) -> dict[str, Any]:
    return {"definition": {"name": "Consent", "steps": list(steps)}}


@sqlite_only
@pytest.mark.parametrize(
    ("steps", "loc", "words"),
    [
        pytest.param(
            [{"id": "bye", "type": "unsubscribe", "scope": "everything"}],
            ["steps", 0, "unsubscribe", "scope"],
            ["step 'bye'", "'journey', 'email' or 'sms'"],
            id="unknown-scope",
        ),
        pytest.param(
            [{"id": "bye", "type": "unsubscribe"}],
            ["steps", 0, "unsubscribe", "scope"],
            ["step 'bye'", "required"],
            id="no-scope",
        ),
        pytest.param(
            [
                {"id": "bye", "type": "unsubscribe", "scope": "journey", "next": "end"},
                {"id": "end", "type": "exit"},
            ],
            ["steps", 0, "unsubscribe", "scope"],
            ["step 'bye'", "ends the trip", "'next'"],
            id="journey-scope-with-next",
        ),
        pytest.param(
            [
                {"id": "bye", "type": "unsubscribe", "scope": "journey"},
                {"id": "after", "type": "exit"},
            ],
            ["steps", 1, "id"],
            ["'after'", "unreachable"],
            id="step-after-leaving",
        ),
    ],
)
async def test_bad_unsubscribe_steps_are_refused_naming_the_step(
    api: httpx.AsyncClient, steps: list[dict[str, Any]], loc: list[Any], words: list[str]
) -> None:
    response = await api.post("/journeys", json=_journey(*steps))
    assert response.status_code == 422, response.text
    (entry,) = response.json()["detail"]
    assert entry["loc"] == ["body", "definition", *loc]
    for word in words:
        assert word in entry["msg"], entry["msg"]


@sqlite_only
async def test_activation_refuses_a_draft_with_a_bad_scope(
    api: httpx.AsyncClient, api_engine: Engine
) -> None:
    """A draft stored before today's rules (here: written straight to the table)."""
    draft = await ok(
        api.post("/journeys", json=_journey({"id": "bye", "type": "unsubscribe", "scope": "sms"})),
        201,
    )
    with Session(api_engine) as session:
        journey = session.get(Journey, draft["id"])
        assert journey is not None
        journey.definition = {
            **journey.definition,
            "steps": [{"id": "bye", "type": "unsubscribe", "scope": "phone"}],
        }
        session.add(journey)
        session.commit()

    response = await api.post(f"/journeys/{draft['id']}/activate")

    assert response.status_code == 422, response.text
    (entry,) = response.json()["detail"]
    assert entry["loc"] == ["body", "definition", "steps", 0, "unsubscribe", "scope"]
    assert "'journey', 'email' or 'sms'" in entry["msg"]
    with Session(api_engine) as session:
        journey = session.get(Journey, draft["id"])
        assert journey is not None and journey.status == "draft"


async def test_a_relation_that_left_the_journey_is_not_admitted_again(
    api: httpx.AsyncClient, api_engine: Engine, worker: Worker
) -> None:
    journey = await active_journey(
        api,
        {
            "name": "Visits",
            "reentry": "always",
            "triggers": [{"type": "event", "event": "visit"}],
            "steps": [{"id": "leave", "type": "unsubscribe", "scope": "journey"}],
        },
    )
    person = await relation(api)
    first = await ok(
        api.post(f"/journeys/{journey['id']}/enrollments", json={"relation_id": person["id"]}),
        201,
    )
    trip = await trip_status(api, first["id"], "completed")
    assert [(p["step_id"], p["outcome"], p["detail"]) for p in trip["path"]] == [
        ("leave", "unsubscribed", "left the journey")
    ]

    again = await api.post(
        f"/journeys/{journey['id']}/enrollments", json={"relation_id": person["id"]}
    )

    assert again.status_code == 409, again.text
    assert again.json()["detail"] == (
        f"relation {person['id']} unsubscribed from journey {journey['id']}"
    )
    # Its events are still stored; the trigger admits it no more.
    await post_event(api, "visit", relation={"id": person["id"]})
    await all_dispatched(api_engine)
    stored = await ok(api.get(f"/relations/{person['id']}/events"))
    assert [e["type"] for e in stored["data"]] == ["visit"]
    assert [t["id"] for t in await trips_of(api, person["id"])] == [first["id"]]
