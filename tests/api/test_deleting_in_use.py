"""Templates and groups cannot be deleted while a trip may still need them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.support import (
    active_journey,
    enroll,
    ok,
    relation,
    template,
    trip_status,
    trip_waiting,
)

pytestmark = pytest.mark.usefixtures("worker")

VIP_WELCOME: dict[str, Any] = {
    "name": "VIP welcome",
    "steps": [
        {"id": "hold", "type": "wait", "duration": "P7D"},
        {
            "id": "is_vip",
            "type": "if",
            "condition": {"in_group": "vip"},
            "then": "welcome",
            "else": "end",
        },
        {"id": "welcome", "type": "send_email", "template": "welcome"},
        {"id": "end", "type": "exit"},
    ],
}


async def test_a_drained_journeys_running_trips_keep_their_template_and_group(
    api: httpx.AsyncClient,
) -> None:
    anna = await relation(api)
    await template(api)
    await ok(api.post("/groups", json={"key": "vip", "name": "VIP"}), 201)
    journey = await active_journey(api, VIP_WELCOME)
    url = f"/journeys/{journey['id']}"
    trip = await enroll(api, journey["id"], anna["id"])
    await trip_waiting(api, trip["id"], "hold")

    # Inactive now, but Anna's trip will still check the group and send the template.
    await ok(api.post(f"{url}/deactivate", params={"mode": "drain"}))
    for resource in ("/templates/welcome", "/groups/vip"):
        refused = await api.delete(resource)
        assert refused.status_code == 409, resource
        assert f"journeys [{journey['id']}]" in refused.json()["detail"]

    await ok(api.post(f"{url}/deactivate", params={"mode": "cancel"}))
    await trip_status(api, trip["id"], "cancelled")
    await ok(api.delete("/templates/welcome"), 204)
    await ok(api.delete("/groups/vip"), 204)
