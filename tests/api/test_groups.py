"""Groups and membership over HTTP."""

from __future__ import annotations

import httpx

from tests.api.support import ok, relation


async def test_group_lifecycle_and_membership(api: httpx.AsyncClient) -> None:
    created = await ok(api.post("/groups", json={"key": "vip", "name": "VIP donors"}), 201)
    assert created["key"] == "vip"
    assert created["members"] == 0

    anna = await relation(api)
    await ok(api.put(f"/groups/vip/members/{anna['id']}"), 204)
    await ok(api.put(f"/groups/vip/members/{anna['id']}"), 204)  # idempotent
    members = await ok(api.get("/groups/vip/members"))
    assert members["count"] == 1
    assert members["data"][0]["email"] == "anna@example.org"

    listed = await ok(api.get("/groups"))
    assert [(g["key"], g["members"]) for g in listed["data"]] == [("vip", 1)]

    await ok(api.delete(f"/groups/vip/members/{anna['id']}"), 204)
    assert (await ok(api.get("/groups/vip")))["members"] == 0
    again = await api.delete(f"/groups/vip/members/{anna['id']}")
    assert again.status_code == 404

    await ok(api.delete("/groups/vip"), 204)
    assert (await api.get("/groups/vip")).status_code == 404


async def test_group_errors(api: httpx.AsyncClient) -> None:
    await ok(api.post("/groups", json={"key": "vip", "name": "VIP"}), 201)
    duplicate = await api.post("/groups", json={"key": "vip", "name": "Other"})
    assert duplicate.status_code == 409
    assert "vip" in duplicate.json()["detail"]

    bad_key = await api.post("/groups", json={"key": "no spaces", "name": "X"})
    assert bad_key.status_code == 422
    assert bad_key.json()["detail"][0]["loc"] == ["body", "key"]

    assert (await api.put("/groups/vip/members/999999")).status_code == 404
    anna = await relation(api)
    assert (await api.put(f"/groups/nope/members/{anna['id']}")).status_code == 404
    assert (await api.get("/groups/nope/members")).status_code == 404
    assert (await api.delete("/groups/nope")).status_code == 404
