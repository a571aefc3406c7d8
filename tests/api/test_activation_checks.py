"""Activation checks of the CRM steps: a journey that deletes every relation a bulk
trigger admits is activated only when asked for twice (`many: true` on the step and
`?confirm=delete_many`: Deployteq's "delete many at once" cannot be undone); a `run`
export bucket needs a selection run to end it."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.support import ok, sqlite_only


def cleanup(many: bool) -> dict[str, Any]:
    return {
        "name": "Clean up the trial",
        "triggers": [{"type": "selection", "group": "trial"}],
        "steps": [{"id": "forget", "type": "delete_relation", "many": many}],
    }


async def refusal(api: httpx.AsyncClient, journey_id: int, query: str = "") -> dict[str, Any]:
    response = await api.post(f"/journeys/{journey_id}/activate{query}")
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    return dict(problem)


@sqlite_only
async def test_deleting_many_needs_the_setting_and_the_confirmation(
    api: httpx.AsyncClient,
) -> None:
    await ok(api.post("/groups", json={"key": "trial", "name": "Trial"}), 201)
    single = await ok(api.post("/journeys", json={"definition": cleanup(many=False)}), 201)
    problem = await refusal(api, single["id"])
    assert problem["loc"] == ["body", "definition", "steps", 0, "many"]
    assert "admits many relations at once" in problem["msg"]

    many = await ok(api.post("/journeys", json={"definition": cleanup(many=True)}), 201)
    problem = await refusal(api, many["id"])
    assert problem["loc"] == ["body", "definition", "steps", 0, "many"]
    assert "?confirm=delete_many" in problem["msg"]
    # Nothing was half-done by the refusals: still a draft, no version.
    assert (await ok(api.get(f"/journeys/{many['id']}")))["status"] == "draft"

    confirmed = await ok(api.post(f"/journeys/{many['id']}/activate?confirm=delete_many"))
    assert (confirmed["status"], confirmed["active_version"]) == ("active", 1)


@sqlite_only
async def test_a_run_bucket_needs_a_run(api: httpx.AsyncClient) -> None:
    daily = {
        "name": "Export on manual adds",
        "steps": [{"id": "out", "type": "export", "fields": ["id"], "bucket": "run"}],
    }
    draft = await ok(api.post("/journeys", json={"definition": daily}), 201)
    problem = await refusal(api, draft["id"])
    assert problem["loc"] == ["body", "definition", "steps", 0, "bucket"]
    assert "needs a `selection` trigger" in problem["msg"]
