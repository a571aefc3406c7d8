"""The encrypt step: its activity on SQLite and PostgreSQL (the token in the custom field,
the path row, a retry, the trip's end), its refusal of bad settings, and a journey on
the time-skipping server whose next mail links with the token."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, cast

import pytest
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlmodel import col, select
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.contracts.tokens import EncryptInput, EncryptResult
from activities.relation_tokens import RelationTokens, new_key
from activities.token_steps import TokenActivities
from domain.definition import parse_definition
from store.db import session_scope
from store.models import Relation, StepEffect
from tests.activities.data import (
    ENTERED,
    Seeded,
    erase_relation,
    passage,
    path,
    seed_trip,
    trip,
    update_relation,
)
from tests.conftest import running_worker
from tests.support.smtp import SmtpSink
from tests.workflows.support import add_journey, add_relation, add_template, path_of, start_trip
from worker.settings import Settings

KEYS = [new_key()]
TOKENS = RelationTokens(KEYS)
IN_30_DAYS = ENTERED + timedelta(days=30)


def _activities(engine: Engine) -> TokenActivities:
    # No segments in these tests, so nothing to dispatch: the client is never used.
    return TokenActivities(engine, cast(Client, None), "unused", TOKENS)


def _input(seeded: Seeded, **overrides: Any) -> EncryptInput:
    values: dict[str, Any] = dict(
        passage=passage(seeded.trip_id, step_id="login_link", step_type="encrypt"),
        relation_id=seeded.relation_id,
        fields=["id", "email", "member_no"],
        into="token",
        expires_at=IN_30_DAYS,
    )
    values.update(overrides)
    return EncryptInput(**values)


async def _encrypt(engine: Engine, data: EncryptInput) -> EncryptResult:
    result: EncryptResult = await ActivityEnvironment().run(_activities(engine).encrypt, data)
    return result


def _relation(engine: Engine, relation_id: int) -> Relation:
    with session_scope(engine) as session:
        found = session.get(Relation, relation_id)
        assert found is not None
        return found


async def test_the_token_goes_into_the_custom_field_and_the_path_names_fields_only(
    any_engine: Engine,
) -> None:
    seeded = seed_trip(any_engine, email="anna@example.org", custom={"member_no": "M-17"})

    result = await _encrypt(any_engine, _input(seeded))

    stored = _relation(any_engine, seeded.relation_id).custom
    assert stored["member_no"] == "M-17"
    found = TOKENS.read(stored["token"], ENTERED)
    assert found.fields == {
        "id": seeded.relation_id,
        "email": "anna@example.org",
        "member_no": "M-17",
    }
    # The trip's clock: issued when the trip reached the step, valid 30 days from then.
    assert (found.issued_at, found.expires_at) == (ENTERED, IN_30_DAYS)
    detail = "fields id, email, member_no into `token`, valid until 2026-04-01 09:30 UTC"
    assert result == EncryptResult(detail=detail)
    [row] = path(any_engine, seeded.trip_id)
    assert (row.step_id, row.outcome, row.detail) == ("login_link", "encrypted", detail)
    assert trip(any_engine, seeded.trip_id).status == "running"


async def test_a_retried_activity_keeps_the_token_its_first_attempt_stored(
    any_engine: Engine,
) -> None:
    seeded = seed_trip(any_engine, email="anna@example.org")
    data = _input(seeded, fields=["email"])
    first = await _encrypt(any_engine, data)
    token = _relation(any_engine, seeded.relation_id).custom["token"]

    # The address changes before the retry: a new attempt would carry the new one.
    update_relation(any_engine, seeded.relation_id, email="anna@new.example.org")
    again = await _encrypt(any_engine, data)

    assert again == first
    assert _relation(any_engine, seeded.relation_id).custom["token"] == token
    assert TOKENS.read(token, ENTERED).fields == {"email": "anna@example.org"}
    assert len(path(any_engine, seeded.trip_id)) == 1
    with session_scope(any_engine) as session:
        effects = session.exec(
            select(StepEffect).where(col(StepEffect.trip_id) == seeded.trip_id)
        ).all()
    assert [(e.step_id, e.kind) for e in effects] == [("login_link", "encrypt")]


async def test_as_last_step_it_ends_the_trip_and_an_erased_relation_ends_it_too(
    any_engine: Engine,
) -> None:
    last = seed_trip(any_engine, email="last@example.org")
    result = await _encrypt(any_engine, _input(last, ends_trip=True))
    assert result.closed and trip(any_engine, last.trip_id).status == "completed"

    gone = seed_trip(any_engine, email="gone@example.org")
    erase_relation(any_engine, gone.relation_id)
    result = await _encrypt(any_engine, _input(gone))
    assert result == EncryptResult(
        detail="the relation no longer exists", relation_exists=False, closed=True
    )
    assert [p.outcome for p in path(any_engine, gone.trip_id)] == ["relation_erased"]
    assert trip(any_engine, gone.trip_id).status == "completed"


@pytest.mark.parametrize(
    ("settings", "field", "says"),
    [
        ({"fields": ["id", "e mail"]}, "fields", "unknown field 'e mail'"),
        ({"fields": ["id"], "expires_in": "P401D"}, "expires_in", "longer than 400 days"),
        ({"fields": ["id"], "into": "email"}, "into", "'email' is a standard field"),
        ({"fields": ["id", "token"]}, "into", "cannot carry the field it is stored in"),
    ],
    ids=["unknown-field", "expires-in-too-long", "into-a-standard-field", "into-itself"],
)
def test_bad_settings_are_refused_naming_the_step_and_field(
    settings: dict[str, Any], field: str, says: str
) -> None:
    definition = {
        "name": "Soft login",
        "steps": [
            {"id": "hello", "type": "wait", "duration": "P1D"},
            {"id": "login_link", "type": "encrypt", **settings},
        ],
    }
    with pytest.raises(ValidationError) as refused:
        parse_definition(definition)
    [error] = refused.value.errors()
    assert error["loc"] == ("steps", 1, "encrypt", field)
    assert says in error["msg"]


LOGIN_HTML = (
    '<p><a href="https://shop.example.org/login?t={{ relation.token }}">Log in</a>'
    " and see your orders.</p>"
)
SOFT_LOGIN: dict[str, Any] = {
    "name": "Soft login",
    "steps": [
        {"id": "login_link", "type": "encrypt", "fields": ["id", "email"], "expires_in": "P7D"},
        {"id": "login", "type": "send_email", "template": "login"},
    ],
}


async def test_a_journey_mails_a_link_with_the_token_its_encrypt_step_made(
    time_env: WorkflowEnvironment, engine: Engine, settings: Settings, smtp_sink: SmtpSink
) -> None:
    add_template(engine, "login", "Your orders", LOGIN_HTML)
    relation_id = add_relation(engine, email="anna@example.org")
    journey = add_journey(engine, SOFT_LOGIN)
    async with running_worker(time_env.client, engine, settings):
        handle = await start_trip(
            time_env.client, engine, settings.task_queue, journey, relation_id
        )
        assert await handle.result() == "login_link > login"

    [mail] = smtp_sink.messages
    body = mail.get_body(preferencelist=("html",))
    assert body is not None
    match = re.search(r"login\?t=([A-Za-z0-9_-]+)", str(body.get_content()))
    assert match is not None
    # The worker's keys (derived from the secret key, as without configuration).
    found = RelationTokens(settings.relation_token_keys()).read(match[1], ENTERED)
    assert found.fields == {"id": relation_id, "email": "anna@example.org"}
    assert found.expires_at - found.issued_at == timedelta(days=7)
    [encrypted, sent] = path_of(engine, handle.id)
    assert (encrypted.outcome, sent.outcome) == ("encrypted", "sent")
    assert encrypted.detail.startswith("fields id, email into `token`, valid until ")
    assert "anna" not in encrypted.detail
