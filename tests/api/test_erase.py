"""Erase means erase: after DELETE /relations/{id} nothing of the person is left, in the
database or in the Temporal history of their trip, and the trip is stopped."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.api.support import active_journey, enroll, eventually, ok, template, trip_when

PERSON = {
    "email": "zebedeus.quaxley@example.org",
    "first_name": "Zebedeus",
    "last_name": "Quaxley",
    "custom": {"city": "Wijk bij Duurstede"},
}
# The person's own values; a condition's constants are the journey's (its definition
# travels with every trip), so the condition here only asks whether the field is set.
VALUES = ["zebedeus", "quaxley", "duurstede"]


def _history_text(history_json: str) -> str:
    """The history as text, payloads decoded: they are base64 in the JSON form."""
    decoded: list[str] = [history_json]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "data" and isinstance(value, str):
                    decoded.append(base64.b64decode(value).decode("utf-8", "replace"))
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(json.loads(history_json))
    return "\n".join(decoded).lower()


def _database_text(engine: Engine) -> str:
    rows: list[str] = []
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            rows.extend(str(tuple(row)) for row in connection.execute(select(table)))
    return "\n".join(rows).lower()


async def test_erasing_a_relation_stops_their_trip_and_leaves_no_values(
    api: httpx.AsyncClient, worker: Worker, dev_env: WorkflowEnvironment, api_engine: Engine
) -> None:
    await template(api)
    journey = await active_journey(
        api,
        {
            "name": "City known",
            "steps": [
                {
                    "id": "check",
                    "type": "if",
                    "condition": {"field": "city", "op": "is_set"},
                    "then": "hold",
                    "else": "end",
                },
                {"id": "hold", "type": "wait", "duration": "P7D"},
                {"id": "welcome", "type": "send_email", "template": "welcome"},
                {"id": "end", "type": "exit"},
            ],
        },
    )
    person = await ok(api.post("/relations", json=PERSON), 201)
    trip = await enroll(api, journey["id"], person["id"])
    await trip_when(api, trip["id"], lambda t: t["current_step"] == "hold", "waiting at hold")

    assert (await api.delete(f"/relations/{person['id']}")).status_code == 204

    stopped = await trip_when(api, trip["id"], lambda t: t["status"] == "cancelled", "cancelled")
    assert stopped["path"][-1]["step_id"] == "hold"
    assert stopped["path"][-1]["outcome"] in ("relation_erased", "cancelled")
    handle = dev_env.client.get_workflow_handle(trip["id"])

    async def closed() -> WorkflowExecutionStatus | None:
        return (await handle.describe()).status

    await eventually(closed, lambda s: s == WorkflowExecutionStatus.CANCELED, what="cancelled")

    history = _history_text((await handle.fetch_history()).to_json())
    stored = _database_text(api_engine)
    for value in VALUES:
        assert value not in history, f"{value!r} is in the trip's Temporal history"
        assert value not in stored, f"{value!r} is still in the database"
    # What is kept: the trip, by ids, with the branch it took and why (field and operator).
    assert "city is_set: yes" in stored
    assert str(person["id"]) in history
    assert (await api.get(f"/relations/{person['id']}")).status_code == 404
    trips = await ok(api.get(f"/relations/{person['id']}/trips"))
    assert [t["status"] for t in trips["data"]] == ["cancelled"]
