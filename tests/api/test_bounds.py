"""What the API accepts, a trip can run: input that once passed and then broke trips
(or the API) is refused up front with a 422 naming the step and field."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.support import ok, sqlite_only


def _not_nested(depth: int) -> dict[str, Any]:
    condition: dict[str, Any] = {"field": "city", "op": "eq", "value": "Utrecht"}
    for _ in range(depth - 1):
        condition = {"not": condition}
    return condition


def _wait(**step: Any) -> dict[str, Any]:
    return {"definition": {"name": "Bounded", "steps": [{"id": "hold", **step}]}}


@sqlite_only
@pytest.mark.parametrize(
    ("step", "says"),
    [
        ({"type": "wait", "duration": "P9999999D"}, "longer than ten years"),
        ({"type": "wait", "duration": "PT999999999H"}, "longer than ten years"),
        ({"type": "wait", "duration": "P3654D"}, "longer than ten years"),
        # These two overflowed Python's timedelta: a 500 and a reset connection.
        ({"type": "wait", "duration": "PT99999999999999999999S"}, "at most ten years"),
        ({"type": "wait", "duration": "PT1000000000000H"}, "at most ten years"),
        ({"type": "wait_until", "until": "9999-12-31T23:59:59-12:00"}, "between 1900"),
        ({"type": "wait_until", "until": "0001-01-01T00:00:00"}, "between 1900"),
    ],
)
async def test_waits_no_trip_could_compute_are_refused(
    api: httpx.AsyncClient, step: dict[str, Any], says: str
) -> None:
    response = await api.post("/journeys", json=_wait(**step))
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    field = "duration" if step["type"] == "wait" else "until"
    assert problem["loc"] == ["body", "definition", "steps", 0, step["type"], field]
    assert problem["msg"].startswith("step 'hold': ") and says in problem["msg"]


@sqlite_only
async def test_the_longest_waits_allowed_are_accepted(api: httpx.AsyncClient) -> None:
    await ok(api.post("/journeys", json=_wait(type="wait", duration="P3653D")), 201)
    await ok(api.post("/journeys", json=_wait(type="wait_until", until="2199-12-31T23:59:59")), 201)


@sqlite_only
@pytest.mark.parametrize("depth", [33, 253])
async def test_a_condition_nested_too_deep_is_refused(api: httpx.AsyncClient, depth: int) -> None:
    definition = {
        "name": "Deep",
        "steps": [
            {
                "id": "check",
                "type": "if",
                "condition": _not_nested(depth),
                "then": "end",
                "else": "end",
            },
            {"id": "end", "type": "exit"},
        ],
    }
    response = await api.post("/journeys", json={"definition": definition})
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert problem["loc"][-1] == "condition"
    assert problem["msg"] == "step 'check': a condition may nest at most 32 levels deep"


@sqlite_only
@pytest.mark.parametrize(
    ("address", "says"),
    [
        ("ünï@bücher.example", "characters before the @-sign are not supported"),
        ("anna@example", "after the @-sign"),
        ("anna@@example.org", "@"),
    ],
)
async def test_addresses_that_cannot_be_sent_to_are_refused_when_stored(
    api: httpx.AsyncClient, address: str, says: str
) -> None:
    response = await api.post("/relations", json={"email": address})
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["body", "email"]
    assert says in problem["msg"]


@sqlite_only
async def test_an_internationalised_domain_is_kept_and_normalised(api: httpx.AsyncClient) -> None:
    stored = await ok(api.post("/relations", json={"email": "anna@Bücher.Example"}), 201)
    assert stored["email"] == "anna@bücher.example"


@sqlite_only
async def test_custom_fields_and_templates_are_bounded(api: httpx.AsyncClient) -> None:
    too_big = await api.post(
        "/relations", json={"email": "anna@example.org", "custom": {"notes": "x" * 20_000}}
    )
    assert too_big.status_code == 422
    assert "at most 16,384 are allowed" in too_big.json()["detail"][0]["msg"]
    too_many = await api.post("/relations", json={"custom": {f"f{i}": i for i in range(101)}})
    assert too_many.status_code == 422
    assert too_many.json()["detail"][0]["msg"] == "at most 100 custom fields"

    template = {"key": "huge", "subject": "Hi", "html": "<p>" + "x" * 300_000 + "</p>"}
    refused = await api.post("/templates", json=template)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "html"]
    assert (await api.get("/relations", params={"limit": 201})).status_code == 422


@sqlite_only
async def test_every_text_in_a_definition_is_bounded(api: httpx.AsyncClient) -> None:
    definition = {
        "name": "Long",
        "steps": [
            {
                "id": "check",
                "type": "if",
                "condition": {"field": "city", "op": "eq", "value": "x" * 1001},
                "then": "end",
                "else": "end",
            },
            {"id": "end", "type": "exit"},
        ],
    }
    response = await api.post("/journeys", json={"definition": definition})
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["msg"] == "steps[0].condition.value: at most 1000 characters"


@sqlite_only
async def test_a_definition_of_long_keys_is_refused_without_copying_them(
    api: httpx.AsyncClient,
) -> None:
    response = await api.post("/journeys", json={"definition": {"k" * 2000: [0] * 1000}})
    assert response.status_code == 422
    assert "at most 1000 characters" in response.json()["detail"][0]["msg"]


@sqlite_only
@pytest.mark.parametrize(
    ("html", "says"),
    [
        ("{% if 1 %}" * 16 + "x" + "{% endif %}" * 16, "blocks nested more than 15 levels deep"),
        ("{{ " + "(" * 2000 + "1" + ")" * 2000 + " }}", "nested too deeply"),
    ],
)
async def test_templates_nested_beyond_what_python_compiles_are_refused(
    api: httpx.AsyncClient, html: str, says: str
) -> None:
    response = await api.post("/templates", json={"key": "deep", "subject": "x", "html": html})
    assert response.status_code == 422
    assert says in response.json()["detail"][0]["msg"]
