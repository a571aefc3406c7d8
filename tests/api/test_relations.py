"""Relations over HTTP: create, read, update, erase; errors name the field."""

from __future__ import annotations

import httpx
from sqlalchemy.engine import Engine

from tests.api.support import ok, relation


async def test_relation_crud_round_trip(api: httpx.AsyncClient) -> None:
    created = await relation(
        api,
        last_name="de Vries",
        birth_date="1990-04-02",
        timezone="Europe/Amsterdam",
        locale="nl-NL",
        custom={"member_since": "2020-01-01", "points": 12},
    )
    assert created["opt_in_email"] is True, "email consent defaults to yes"
    assert created["opt_in_sms"] is False, "SMS consent defaults to no"

    read = await ok(api.get(f"/relations/{created['id']}"))
    assert read == created

    patched = await ok(
        api.patch(f"/relations/{created['id']}", json={"first_name": "Anne", "phone": None})
    )
    assert patched["first_name"] == "Anne"
    assert patched["last_name"] == "de Vries", "fields not sent stay as they were"
    assert patched["custom"] == {"member_since": "2020-01-01", "points": 12}

    await ok(api.delete(f"/relations/{created['id']}"), 204)
    gone = await api.get(f"/relations/{created['id']}")
    assert gone.status_code == 404
    assert "relation" in gone.json()["detail"]


async def test_list_filters_by_email_and_pages(api: httpx.AsyncClient) -> None:
    for n in range(3):
        await relation(api, email=f"person{n}@example.org")
    await relation(api, email="Anna.Smit@Example.org")

    found = await ok(api.get("/relations", params={"email": "anna.smit@example.org"}))
    assert found["count"] == 1
    # The domain is normalised (it is case-insensitive), the local part kept as written.
    assert found["data"][0]["email"] == "Anna.Smit@example.org"

    page = await ok(api.get("/relations", params={"limit": 2, "offset": 1}))
    assert page["count"] == 4
    assert [r["email"] for r in page["data"]] == ["person1@example.org", "person2@example.org"]


async def test_unknown_relation_is_404(api: httpx.AsyncClient) -> None:
    for response in (
        await api.get("/relations/999999"),
        await api.patch("/relations/999999", json={"first_name": "X"}),
        await api.delete("/relations/999999"),
        await api.get("/relations/999999/trips"),
    ):
        assert response.status_code == 404, response.text


async def test_ids_too_large_for_the_database_are_422_naming_the_parameter(
    api: httpx.AsyncClient,
) -> None:
    # Ids are 32-bit in PostgreSQL: larger ones are refused before a query could overflow.
    huge = 2**31
    for method, url, body, loc in [
        ("GET", f"/relations/{huge}", None, ["path", "relation_id"]),
        ("GET", f"/relations/{2**64 * 10**4}/trips", None, ["path", "relation_id"]),
        ("PATCH", f"/relations/{huge}", {"first_name": "X"}, ["path", "relation_id"]),
        ("GET", f"/relations?offset={2**63}", None, ["query", "offset"]),
        ("GET", f"/journeys/{huge}", None, ["path", "journey_id"]),
        ("GET", f"/journeys/1/versions/{huge}", None, ["path", "version"]),
        ("PUT", f"/groups/vip/members/{huge}", None, ["path", "relation_id"]),
        ("POST", "/journeys/1/enrollments", {"relation_id": huge}, ["body", "relation_id"]),
        ("GET", "/relations/0", None, ["path", "relation_id"]),
    ]:
        response = await api.request(method, url, json=body)
        assert response.status_code == 422, f"{method} {url}: {response.text}"
        assert response.json()["detail"][0]["loc"] == loc
    # The largest id (and offset) that fits is merely unknown (or past the end).
    assert (await api.get(f"/relations/{huge - 1}")).status_code == 404
    assert (await ok(api.get("/relations", params={"offset": 2**63 - 1})))["data"] == []
    assert (await api.get(f"/journeys/{huge - 1}/stats")).status_code == 404
    await ok(api.post("/groups", json={"key": "vip", "name": "VIP"}), 201)
    assert (await api.put(f"/groups/vip/members/{huge - 1}")).status_code == 404


async def test_invalid_fields_are_422_naming_the_field(api: httpx.AsyncClient) -> None:
    cases = [
        ({"email": "not-an-address"}, "email"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"birth_date": "yesterday"}, "birth_date"),
        ({"firstname": "typo"}, "firstname"),
        ({"custom": {"email": "shadow@example.org"}}, "custom"),
    ]
    for body, field in cases:
        response = await api.post("/relations", json=body)
        assert response.status_code == 422, (body, response.text)
        locs = [entry["loc"] for entry in response.json()["detail"]]
        assert ["body", field] in locs, (body, locs)

    timezone = (await api.post("/relations", json={"timezone": "Mars/Olympus"})).json()
    assert "Mars/Olympus" in timezone["detail"][0]["msg"]

    created = await relation(api)
    response = await api.patch(f"/relations/{created['id']}", json={"opt_in_email": None})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "opt_in_email"]


async def test_erasing_a_relation_removes_its_memberships(api: httpx.AsyncClient) -> None:
    anna = await relation(api)
    bert = await relation(api, email="bert@example.org", first_name="Bert")
    await ok(api.post("/groups", json={"key": "members", "name": "Members"}), 201)
    for person in (anna, bert):
        await ok(api.put(f"/groups/members/members/{person['id']}"), 204)

    await ok(api.delete(f"/relations/{anna['id']}"), 204)

    members = await ok(api.get("/groups/members/members"))
    assert [m["id"] for m in members["data"]] == [bert["id"]]
    assert (await ok(api.get("/groups/members")))["members"] == 1


async def test_a_nul_character_is_refused_naming_the_field(
    api: httpx.AsyncClient, api_engine: Engine
) -> None:
    # PostgreSQL cannot store U+0000: this must be a 422, not a driver error (500).
    created = await api.post(
        "/relations", json={"email": "nul@example.org", "custom": {"note": "a\u0000b"}}
    )
    assert created.status_code == 422
    assert "'custom.note' contains a NUL character" in created.text
    listed = await api.get("/relations", params={"email": "a\u0000b"})
    if api_engine.dialect.name == "postgresql":
        assert listed.status_code == 422, listed.text
        assert "NUL character" in listed.text
    else:  # SQLite compares it like any other character: no match
        assert (listed.status_code, listed.json()["count"]) == (200, 0)
