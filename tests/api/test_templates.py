"""Templates over HTTP; Jinja syntax is checked when saving, naming field and line."""

from __future__ import annotations

import httpx
from sqlalchemy.engine import Engine
from temporalio.testing import WorkflowEnvironment

from store.keys import Scope
from tests.api.support import keyed_client, make_app, new_key, ok, sqlite_only, template


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


@sqlite_only
async def test_a_preview_renders_for_one_relation_and_names_what_it_lacks(
    api: httpx.AsyncClient,
) -> None:
    await ok(
        api.post(
            "/templates",
            json={
                "key": "city",
                "subject": "Hello {{ relation.first_name }}",
                "html": "<p>Hi {{ relation.first_name }},</p>\n"
                "<p>News from {{ relation.city }}</p>",
            },
        ),
        201,
    )
    anna = await ok(
        api.post("/relations", json={"first_name": "Anna", "custom": {"city": "Utrecht"}}), 201
    )
    bert = await ok(api.post("/relations", json={"first_name": "Bert"}), 201)

    shown = await ok(api.post("/templates/city/preview", json={"relation_id": anna["id"]}))
    assert shown["subject"] == "Hello Anna"
    assert "News from Utrecht" in shown["html"] and "News from Utrecht" in shown["text"]

    lacking = await api.post("/templates/city/preview", json={"relation_id": bert["id"]})
    assert lacking.status_code == 422
    assert lacking.json()["detail"][0]["msg"] == (
        "template 'city' (html), line 2: undefined variable: no field 'city'"
    )
    missing = await api.post("/templates/city/preview", json={"relation_id": 999})
    assert missing.status_code == 404


@sqlite_only
async def test_a_runaway_template_preview_is_stopped(api: httpx.AsyncClient) -> None:
    body = {"key": "bomb", "subject": "x", "html": "{{ [[0]*1000000]*1000000 }}"}
    await ok(api.post("/templates", json=body), 201)
    anna = await ok(api.post("/relations", json={"first_name": "Anna"}), 201)
    response = await api.post("/templates/bomb/preview", json={"relation_id": anna["id"]})
    assert response.status_code == 422
    assert "rendering took longer than" in response.json()["detail"][0]["msg"]


@sqlite_only
async def test_saving_a_template_with_an_unknown_filter_names_the_line(
    api: httpx.AsyncClient,
) -> None:
    body = {"key": "typo", "subject": "x", "html": "<p>\n{{ relation.first_name | uper }}</p>"}
    response = await api.post("/templates", json=body)
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["body", "html"]
    assert problem["msg"] == "line 2: No filter named 'uper'."


@sqlite_only
async def test_a_preview_needs_the_support_scope_too(
    api: httpx.AsyncClient, api_engine: Engine, dev_env: WorkflowEnvironment
) -> None:
    """A preview shows a relation's data: an operator key alone may not read it."""
    await template(api)
    anna = await ok(api.post("/relations", json={"first_name": "Anna"}), 201)
    app = make_app(engine=api_engine, temporal=dev_env.client, task_queue="unused")
    async with keyed_client(app, new_key(api_engine, Scope.operator)) as operator:
        refused = await operator.post(
            "/templates/welcome/preview", json={"relation_id": anna["id"]}
        )
    assert refused.status_code == 403
    async with keyed_client(app, new_key(api_engine, Scope.operator, Scope.support)) as both:
        await ok(both.post("/templates/welcome/preview", json={"relation_id": anna["id"]}))
