"""POST /tokens/verify, with tokens made by `{{ encrypt(...) }}` in a mailed template:
an app key reads the fields, other keys may not, and whatever is not a valid, unexpired
token of ours is refused naming `token`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from activities.contracts import SendEmailInput, SendStatus
from activities.mail.render_pool import RenderPool
from activities.mail.smtp import SmtpPool
from activities.relation_tokens import RelationTokens, new_key
from activities.send import SendActivities
from store.keys import Scope
from store.models import utcnow
from tests.activities.conftest import SENDER
from tests.activities.data import add_template, erase_relation, passage, seed_trip
from tests.api.support import keyed_client, make_app, ok, sqlite_only
from tests.api.support import new_key as new_api_key
from tests.support.smtp import SmtpSink

KEY = new_key()
UPDATE_HTML = (
    "<p>Hello {{ relation.first_name }},</p>"
    "<p><a href=\"https://forms.example.org/details?t={{ encrypt('id', 'email', "
    "expires_in='P7D') }}\">Check your details</a></p>"
)
_TOKEN = re.compile(r"details\?t=([A-Za-z0-9_-]+)")


@pytest.fixture(scope="module")
def render_pool() -> Iterator[RenderPool]:
    # Templates that call functions render in a child process: the keys must be there.
    pool = RenderPool(processes=1, timeout=5.0, token_keys=[KEY])
    yield pool
    pool.close()


@pytest.fixture
def app(api_engine: Engine, render_pool: RenderPool) -> FastAPI:
    # Verifying needs no Temporal: the endpoint reads the store only.
    return make_app(
        engine=api_engine,
        temporal=cast(Client, None),
        task_queue="unused",
        renderer=render_pool,
        token_keys=[KEY],
    )


async def _verify(api: httpx.AsyncClient, token: str, status: int = 200) -> Any:
    return await ok(api.post("/tokens/verify", json={"token": token}), status)


async def test_a_mailed_link_carries_a_token_an_app_key_can_verify(
    app: FastAPI, api_engine: Engine, render_pool: RenderPool, smtp_sink: SmtpSink
) -> None:
    add_template(api_engine, "details", "Your details", UPDATE_HTML)
    seeded = seed_trip(api_engine, email="anna@example.org", first_name="Anna")
    smtp = SmtpPool(host="127.0.0.1", port=smtp_sink.port, size=1, timeout=5)
    try:
        sender = SendActivities(api_engine, smtp, render_pool, SENDER)
        sent = await ActivityEnvironment().run(
            sender.send_email,
            SendEmailInput(
                passage=passage(seeded.trip_id),
                relation_id=seeded.relation_id,
                journey_id=seeded.journey_id,
                template="details",
            ),
        )
    finally:
        await smtp.close()
    assert sent.status == SendStatus.sent
    [mail] = smtp_sink.messages
    html = mail.get_body(preferencelist=("html",))
    assert html is not None
    match = _TOKEN.search(str(html.get_content()))
    assert match is not None
    token = match[1]
    assert "anna" not in token

    async with keyed_client(app, new_api_key(api_engine, Scope.app)) as as_app:
        found = await _verify(as_app, token)
        assert found["fields"] == {"id": seeded.relation_id, "email": "anna@example.org"}
        assert found["relation_exists"] is True
        issued = found["issued_at"]
        assert abs(utcnow() - datetime.fromisoformat(issued)) < timedelta(
            minutes=1
        )  # the send's moment
        assert datetime.fromisoformat(found["expires_at"]) - datetime.fromisoformat(
            issued
        ) == timedelta(days=7)

        # The fields are a snapshot: the token still reads once the relation is erased.
        erase_relation(api_engine, seeded.relation_id)
        after = await _verify(as_app, token)
        assert after["fields"]["email"] == "anna@example.org"
        assert after["relation_exists"] is False

    async with keyed_client(app, new_api_key(api_engine, Scope.operator)) as as_operator:
        refused = await as_operator.post("/tokens/verify", json={"token": token})
    assert refused.status_code == 403


@sqlite_only
async def test_spoilt_and_expired_tokens_are_refused_naming_the_token(
    app: FastAPI, api_engine: Engine
) -> None:
    mine = RelationTokens([KEY])
    now = utcnow()
    good = mine.make({"id": 7}, issued_at=now, expires_at=now + timedelta(days=1))
    tampered = good[:60] + ("A" if good[60] != "A" else "B") + good[61:]
    other_key = RelationTokens([new_key()]).make(
        {"id": 7}, issued_at=now, expires_at=now + timedelta(days=1)
    )
    long_ago = now - timedelta(days=10)
    expired = mine.make({"id": 7}, issued_at=long_ago, expires_at=long_ago + timedelta(days=2))

    async with keyed_client(app, new_api_key(api_engine, Scope.app)) as as_app:
        assert (await _verify(as_app, good))["relation_exists"] is False
        for spoilt in (tampered, other_key, good[:-20], "hello", ""):
            body = await _verify(as_app, spoilt, 422)
            assert body["detail"] == [
                {"type": "token_invalid", "loc": ["body", "token"], "msg": "the token is not valid"}
            ]
        body = await _verify(as_app, expired, 422)
        [problem] = body["detail"]
        assert (problem["type"], problem["loc"]) == ("token_expired", ["body", "token"])
        moment = (long_ago + timedelta(days=2)).replace(microsecond=0).isoformat()
        assert problem["msg"] == f"the token expired at {moment}"


@sqlite_only
async def test_a_template_preview_renders_a_token_the_endpoint_accepts(
    app: FastAPI, api_engine: Engine
) -> None:
    add_template(api_engine, "details", "Your details", UPDATE_HTML)
    seeded = seed_trip(api_engine, email="bob@example.org", first_name="Bob")
    async with keyed_client(app, new_api_key(api_engine)) as admin:
        preview = await ok(
            admin.post("/templates/details/preview", json={"relation_id": seeded.relation_id})
        )
        match = _TOKEN.search(preview["html"])
        assert match is not None
        found = await _verify(admin, match[1])
    assert found["fields"] == {"id": seeded.relation_id, "email": "bob@example.org"}
