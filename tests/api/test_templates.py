"""Templates over HTTP; Jinja syntax is checked when saving, naming field and line."""

from __future__ import annotations

import httpx

from tests.api.support import ok, template


async def test_template_crud(api: httpx.AsyncClient) -> None:
    created = await template(api, name="Welcome mail", text="Hello {{ relation.first_name }}")
    assert created["key"] == "welcome"
    assert created["text"] == "Hello {{ relation.first_name }}"

    patched = await ok(
        api.patch("/templates/welcome", json={"subject": "Hi {{ relation.first_name }}"})
    )
    assert patched["subject"] == "Hi {{ relation.first_name }}"
    assert patched["html"] == created["html"]

    cleared = await ok(api.patch("/templates/welcome", json={"text": None}))
    assert cleared["text"] is None

    listed = await ok(api.get("/templates"))
    assert [t["key"] for t in listed["data"]] == ["welcome"]

    await ok(api.delete("/templates/welcome"), 204)
    assert (await api.get("/templates/welcome")).status_code == 404
    assert (await api.patch("/templates/welcome", json={"name": "x"})).status_code == 404


async def test_jinja_syntax_errors_name_the_field_and_line(api: httpx.AsyncClient) -> None:
    broken_html = await api.post(
        "/templates",
        json={
            "key": "broken",
            "subject": "Fine",
            "html": "<p>Hello</p>\n<p>{{ relation.first_name </p>",
        },
    )
    assert broken_html.status_code == 422
    (entry,) = broken_html.json()["detail"]
    assert entry["loc"] == ["body", "html"]
    assert entry["msg"].startswith("line 2:")

    broken_subject = await api.post(
        "/templates", json={"key": "b", "subject": "{% if %}", "html": "<p>x</p>"}
    )
    assert broken_subject.status_code == 422
    assert broken_subject.json()["detail"][0]["loc"] == ["body", "subject"]

    await template(api)
    broken_text = await api.patch("/templates/welcome", json={"text": "{% for x in y %}"})
    assert broken_text.status_code == 422
    assert broken_text.json()["detail"][0]["loc"] == ["body", "text"]
    unset = await api.patch("/templates/welcome", json={"subject": None})
    assert unset.status_code == 422
    assert unset.json()["detail"][0]["loc"] == ["body", "subject"]


async def test_duplicate_key_is_409(api: httpx.AsyncClient) -> None:
    await template(api)
    duplicate = await api.post(
        "/templates", json={"key": "welcome", "subject": "x", "html": "<p>x</p>"}
    )
    assert duplicate.status_code == 409
