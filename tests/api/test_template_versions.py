"""Template versions, MJML and publishing over HTTP: an active journey keeps sending the
version it was activated with until an operator publishes a newer one to it."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.testing import WorkflowEnvironment

from store import templates
from store.db import session_scope
from store.keys import Scope
from store.models import Event
from tests.api.support import (
    active_journey,
    definition,
    keyed_client,
    make_app,
    new_key,
    ok,
    relation,
    sqlite_only,
    template,
)

LINKED = '<p>Hi {{ relation.first_name }}, <a href="https://example.org/start">start</a></p>'


def _pinned_subject(engine: Engine, journey_id: int, version: int) -> tuple[int, str]:
    with Session(engine) as session:
        found = templates.pinned(session, journey_id, version, "welcome")
        assert found is not None
        return found.version, found.subject


async def test_edits_make_versions_and_a_no_op_edit_does_not(api: httpx.AsyncClient) -> None:
    created = await template(api, html=LINKED)
    assert (created["version"], created["mjml"]) == (1, None)

    edited = await ok(api.patch("/templates/welcome", json={"subject": "Hello again"}))
    assert edited["version"] == 2
    same = await ok(api.patch("/templates/welcome", json={"subject": "Hello again"}))
    renamed = await ok(api.patch("/templates/welcome", json={"name": "Welcome mail"}))
    assert (same["version"], renamed["version"]) == (2, 2)

    listed = await ok(api.get("/templates/welcome/versions"))
    assert listed["count"] == 2
    assert [(v["version"], v["subject"]) for v in listed["data"]] == [
        (1, "Welcome, {{ relation.first_name }}"),
        (2, "Hello again"),
    ]
    assert listed["data"][0]["links"] == ["https://example.org/start"]
    assert (await api.get("/templates/nope/versions")).status_code == 404


async def test_publishing_moves_an_active_journeys_pin(
    api: httpx.AsyncClient, api_engine: Engine
) -> None:
    await template(api)
    journey = await active_journey(api, definition())
    journey_id = journey["id"]

    await ok(api.patch("/templates/welcome", json={"subject": "Edited {{ relation.first_name }}"}))
    # Mail the journey schedules from now on is still the version it was activated with.
    assert _pinned_subject(api_engine, journey_id, 1) == (1, "Welcome, {{ relation.first_name }}")

    pin = await ok(api.post("/templates/welcome/publish", json={"journey_id": journey_id}))
    assert {k: pin[k] for k in ("journey_id", "journey_version", "template_key")} == {
        "journey_id": journey_id,
        "journey_version": 1,
        "template_key": "welcome",
    }
    assert pin["template_version"] == 2
    assert _pinned_subject(api_engine, journey_id, 1) == (2, "Edited {{ relation.first_name }}")

    # A journey that does not send the template, and unknown ones.
    other = await template(api, key="other")
    assert other["version"] == 1
    refused = await api.post("/templates/other/publish", json={"journey_id": journey_id})
    assert refused.status_code == 409
    assert "does not send template 'other'" in refused.json()["detail"]
    unknown_journey = await api.post("/templates/welcome/publish", json={"journey_id": 9999})
    unknown_template = await api.post("/templates/nope/publish", json={"journey_id": journey_id})
    assert (unknown_journey.status_code, unknown_template.status_code) == (404, 404)
    missing = await api.post("/templates/welcome/publish", json={})
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "journey_id"]


async def test_publishing_to_an_inactive_journey_is_refused(
    api: httpx.AsyncClient, api_engine: Engine
) -> None:
    await template(api)
    journey = await active_journey(api, definition())
    await ok(api.post(f"/journeys/{journey['id']}/deactivate"))
    await ok(api.patch("/templates/welcome", json={"subject": "Edited"}))

    refused = await api.post("/templates/welcome/publish", json={"journey_id": journey["id"]})
    assert refused.status_code == 409
    assert refused.json()["detail"].startswith(f"journey {journey['id']} is not active")
    assert _pinned_subject(api_engine, journey["id"], 1)[0] == 1

    draft = await ok(api.post("/journeys", json={"definition": definition()}), 201)
    never = await api.post("/templates/welcome/publish", json={"journey_id": draft["id"]})
    assert never.status_code == 409


@sqlite_only
async def test_who_may_read_versions_and_publish(
    api: httpx.AsyncClient, api_engine: Engine, dev_env: WorkflowEnvironment
) -> None:
    await template(api)
    journey = await active_journey(api, definition())
    app = make_app(engine=api_engine, temporal=dev_env.client, task_queue="unused")
    async with keyed_client(app, new_key(api_engine, Scope.support)) as support:
        await ok(support.get("/templates/welcome/versions"))
        refused = await support.post(
            "/templates/welcome/publish", json={"journey_id": journey["id"]}
        )
        assert refused.status_code == 403
    async with keyed_client(app, new_key(api_engine, Scope.app)) as app_key:
        assert (await app_key.get("/templates/welcome/versions")).status_code == 403


MJML = """<mjml>
  <mj-head><mj-style>.hello { color: #006600; }</mj-style></mj-head>
  <mj-body><mj-section><mj-column>
    <mj-text css-class="hello">Hallo {{ relation.first_name }}</mj-text>
    {% for p in recent.purchase %}
    <mj-text>{{ p.occurred_at | date('long') }}: {{ p.total | currency('EUR') }}</mj-text>
    {% endfor %}
    <mj-button href="https://shop.example.org/">Naar de winkel</mj-button>
  </mj-column></mj-section></mj-body>
</mjml>"""


@sqlite_only
async def test_an_mjml_template_is_saved_and_previewed_through_the_pipeline(
    api: httpx.AsyncClient, api_engine: Engine
) -> None:
    created = await ok(
        api.post("/templates", json={"key": "orders", "subject": "Je bestellingen", "mjml": MJML}),
        201,
    )
    assert (created["html"], created["mjml"]) == ("", MJML)
    (version,) = (await ok(api.get("/templates/orders/versions")))["data"]
    assert version["links"] == ["https://shop.example.org/"]

    anna = await relation(api, locale="nl-NL", timezone="Europe/Amsterdam")
    with session_scope(api_engine) as session:
        for day, total in ((3, 12.5), (9, 1234.5)):
            session.add(
                Event(
                    relation_id=anna["id"],
                    type="purchase",
                    payload={"total": total},
                    occurred_at=datetime(2026, 3, day, 10, tzinfo=UTC),
                )
            )
    shown = await ok(api.post("/templates/orders/preview", json={"relation_id": anna["id"]}))
    assert "<mj-" not in shown["html"]
    assert "color: #006600" in shown["html"]  # the class's rule, inlined
    assert shown["text"] == (
        "Hallo Anna\n"
        # The no-break space babel writes after € is a plain one in text.
        "9 maart 2026: € 1.234,50\n"
        "3 maart 2026: € 12,50\n"
        "Naar de winkel (https://shop.example.org/)\n"
    )


@sqlite_only
async def test_html_may_be_left_out_only_with_mjml(api: httpx.AsyncClient) -> None:
    neither = await api.post("/templates", json={"key": "empty", "subject": "x"})
    assert neither.status_code == 422
    (problem,) = neither.json()["detail"]
    assert problem["loc"] == ["body", "html"]
    assert problem["msg"] == "required unless mjml is given"

    broken = await api.post(
        "/templates", json={"key": "b", "subject": "x", "mjml": "<mjml>\n{% for %}</mjml>"}
    )
    assert broken.status_code == 422
    assert [p["loc"] for p in broken.json()["detail"]] == [["body", "mjml"]]

    await ok(api.post("/templates", json={"key": "m", "subject": "x", "mjml": MJML}), 201)
    # Clearing the MJML of a template without html would leave nothing to send.
    cleared = await api.patch("/templates/m", json={"mjml": None})
    assert cleared.status_code == 422
    assert cleared.json()["detail"][0]["loc"] == ["body", "html"]
    switched = await ok(api.patch("/templates/m", json={"mjml": None, "html": "<p>x</p>"}))
    assert (switched["mjml"], switched["version"]) == (None, 2)


@sqlite_only
async def test_templates_using_the_locale_helpers_are_accepted(api: httpx.AsyncClient) -> None:
    html = (
        "<p>{{ event.amount | currency('EUR') }} {{ relation.birth_date | date('long') }} "
        "{{ event.at | datetime('short') }} {{ event.n | number }} {{ event.r | percent }}</p>"
    )
    created = await template(api, key="helpers", html=html)
    assert created["html"] == html
    unknown = await api.post(
        "/templates", json={"key": "typo", "subject": "x", "html": "{{ 1 | currancy('EUR') }}"}
    )
    assert unknown.status_code == 422
