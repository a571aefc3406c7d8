"""Selections through the API with a key: activating a journey whose selection trigger
runs once makes a run one can follow at /admissions until it has synced its group; a
scheduled one gets its Temporal Schedule, which deactivation removes; subgroups show."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from tests.api.support import active_journey, eventually, ok, relation, sqlite_only
from worker.worker import Workers

ONCE: dict[str, Any] = {
    "name": "Members this week",
    "triggers": [{"type": "selection", "group": "members"}],
    "steps": [
        {"id": "mirror", "type": "sync_group", "group": "this_week"},
        {"id": "attend", "type": "add_to_group", "group": "webinar", "subgroup": "w-{{ today }}"},
    ],
}


@sqlite_only
async def test_a_one_off_selection_runs_at_activation_and_its_run_syncs_the_group(
    api: httpx.AsyncClient, worker: Workers, dev_env: WorkflowEnvironment
) -> None:
    for key in ("members", "this_week", "webinar"):
        await ok(api.post("/groups", json={"key": key, "name": key.title()}), 201)
    anna, bert, cor = [(await relation(api, email=f"{n}@example.org"))["id"] for n in "abc"]
    for relation_id, key in ((anna, "members"), (bert, "members"), (cor, "this_week")):
        await ok(api.put(f"/groups/{key}/members/{relation_id}"), 204)

    unknown = {**ONCE, "triggers": [{"type": "selection", "group": "nobody"}]}
    draft = await ok(api.post("/journeys", json={"definition": unknown}), 201)
    refused = await api.post(f"/journeys/{draft['id']}/activate")
    assert refused.status_code == 422
    [problem] = refused.json()["detail"]
    assert problem["loc"] == ["body", "definition", "triggers", 0, "group"]
    assert problem["msg"] == "trigger 1: group 'nobody' does not exist"

    journey = await active_journey(api, ONCE)
    [started] = journey["admission_runs"]
    assert (started["source"], started["trigger"]) == (
        {"group": "members"},
        "trigger 1: selection of group 'members', once, at activation",
    )

    async def runs() -> list[dict[str, Any]]:
        found = await ok(api.get(f"/journeys/{journey['id']}/admissions"))
        data: list[dict[str, Any]] = found["data"]
        return data

    [run] = await eventually(
        runs, lambda rs: bool(rs[0]["synced"]) and rs[0]["synced"][0]["done"], what="the sync"
    )
    assert {k: run[k] for k in ("id", "status", "total", "admitted", "skipped", "selected")} == {
        "id": started["id"],
        "status": "finished",
        "total": 2,
        "admitted": 2,
        "skipped": 0,
        "selected": 2,
    }
    assert run["finished_at"] is not None
    assert run["synced"] == [
        {"step_id": "mirror", "group": "this_week", "added": 2, "removed": 1, "done": True}
    ]
    week = await ok(api.get("/groups/this_week/members"))
    assert sorted(r["id"] for r in week["data"]) == [anna, bert]

    # The trips made the day's subgroup of `webinar`.
    async def webinar() -> dict[str, Any]:
        found: dict[str, Any] = await ok(api.get("/groups/webinar"))
        return found

    parent = await eventually(webinar, lambda g: bool(g["subgroups"]), what="the subgroup")
    [subgroup] = parent["subgroups"]
    listed = {g["key"]: g for g in (await ok(api.get("/groups")))["data"]}
    assert listed[subgroup]["parent"] == "webinar" and listed["webinar"]["parent"] is None
    # Groups the active journey selects from or adds to cannot be deleted.
    for key in ("members", "webinar"):
        conflict = await api.delete(f"/groups/{key}")
        assert conflict.status_code == 409 and f"journeys [{journey['id']}]" in conflict.text

    # A scheduled selection: a Temporal Schedule, Mondays 08:00 Amsterdam time, until
    # the journey is deactivated.
    weekly = {
        **ONCE,
        "name": "Weekly",
        "triggers": [{"type": "selection", "group": "members", "schedule": {"days": ["mon"]}}],
    }
    scheduled = await active_journey(api, weekly)
    assert scheduled["admission_runs"] == []
    handle = dev_env.client.get_schedule_handle(f"selection:{scheduled['id']}:0")
    described = await handle.describe()
    for moment in described.info.next_action_times[:2]:
        local = moment.astimezone(ZoneInfo("Europe/Amsterdam"))
        assert (local.strftime("%a"), local.hour, local.minute) == ("Mon", 8, 0)
    await ok(api.post(f"/journeys/{scheduled['id']}/deactivate"))
    with pytest.raises(RPCError) as gone:
        await handle.describe()
    assert gone.value.status == RPCStatusCode.NOT_FOUND
