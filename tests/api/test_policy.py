"""The contact-pressure policy over HTTP: read, replaced, refused with the field named."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.testing import WorkflowEnvironment

from store import policy
from store.keys import Scope
from tests.api.support import keyed_client, make_app, new_key, ok

PATH = "/settings/contact-pressure"
DEFAULT = {
    "per_day": None,
    "per_week": None,
    "quiet_hours": None,
    "soft_bounce_limit": 3,
    "machine_open_seconds": 5,
}
NIGHTLY = {
    "per_day": 2,
    "per_week": 5,
    "quiet_hours": {"start": "21:00", "end": "09:00"},
    "soft_bounce_limit": 2,
    "machine_open_seconds": 3,
}


@pytest.fixture
def app(api_engine: Engine, dev_env: WorkflowEnvironment) -> FastAPI:
    return make_app(engine=api_engine, temporal=dev_env.client, task_queue="unused")


async def test_an_operator_sets_the_policy_every_send_reads(
    app: FastAPI, api_engine: Engine
) -> None:
    async with keyed_client(app, new_key(api_engine, Scope.operator)) as operator:
        assert await ok(operator.get(PATH)) == DEFAULT
        assert await ok(operator.put(PATH, json=NIGHTLY)) == NIGHTLY
        assert await ok(operator.get(PATH)) == NIGHTLY
        # What the send activity reads (store.policy) is what was saved.
        with Session(api_engine) as session:
            stored = policy.load(session)
        assert stored.per_day == 2 and stored.quiet_hours is not None
        assert stored.quiet_hours.start == "21:00"

        # A PUT replaces the whole policy: what it leaves out is back to its default.
        assert await ok(operator.put(PATH, json={"per_week": 4})) == {**DEFAULT, "per_week": 4}
        assert await ok(operator.put(PATH, json={})) == DEFAULT


# (body, where, words in the message)
REFUSED: list[tuple[dict[str, Any], list[str], str]] = [
    ({"quiet_hours": {"start": "25:00", "end": "09:00"}}, ["quiet_hours", "start"], "HH:MM"),
    ({"quiet_hours": {"start": "21:00", "end": "9am"}}, ["quiet_hours", "end"], "HH:MM"),
    ({"quiet_hours": {"start": "21:00", "end": "21:00"}}, ["quiet_hours"], "the same"),
    ({"quiet_hours": {"start": 2100, "end": "09:00"}}, ["quiet_hours", "start"], "string"),
    ({"quiet_hours": {"start": "21:00"}}, ["quiet_hours", "end"], "required"),
    ({"per_day": 0}, ["per_day"], "greater than or equal to 1"),
    ({"per_week": "many"}, ["per_week"], "integer"),
    ({"soft_bounce_limit": 0}, ["soft_bounce_limit"], "greater than or equal to 1"),
    ({"soft_bounce_limit": None}, ["soft_bounce_limit"], "integer"),
    ({"machine_open_seconds": 10**6}, ["machine_open_seconds"], "less than or equal"),
    ({"per_daay": 2}, ["per_daay"], "not permitted"),
]


async def test_a_bad_policy_is_a_422_naming_the_field_and_changes_nothing(
    app: FastAPI, api_engine: Engine
) -> None:
    async with keyed_client(app, new_key(api_engine, Scope.operator)) as operator:
        await ok(operator.put(PATH, json=NIGHTLY))
        for body, loc, words in REFUSED:
            refused = await operator.put(PATH, json=body)
            assert refused.status_code == 422, (body, refused.text)
            [entry] = refused.json()["detail"]
            assert entry["loc"] == ["body", *loc], body
            assert words in entry["msg"], (body, entry)
        assert await ok(operator.get(PATH)) == NIGHTLY


async def test_support_reads_the_policy_and_only_an_operator_changes_it(
    app: FastAPI, api_engine: Engine
) -> None:
    async with (
        keyed_client(app, new_key(api_engine, Scope.support)) as support,
        keyed_client(app, new_key(api_engine, Scope.app)) as integration,
    ):
        assert await ok(support.get(PATH)) == DEFAULT
        assert (await support.put(PATH, json=NIGHTLY)).status_code == 403
        assert (await integration.get(PATH)).status_code == 403
        assert (await integration.put(PATH, json=NIGHTLY)).status_code == 403
        assert await ok(support.get(PATH)) == DEFAULT


async def test_operators_saving_the_first_policy_at_once_both_succeed(
    app: FastAPI, api_engine: Engine
) -> None:
    bodies = [{**DEFAULT, "per_day": n} for n in range(1, 13)]
    async with keyed_client(app, new_key(api_engine, Scope.operator)) as operator:
        answers = await asyncio.gather(*(operator.put(PATH, json=b) for b in bodies))
        assert [a.status_code for a in answers] == [200] * len(bodies)
        assert await ok(operator.get(PATH)) in bodies
