"""The suppression list over HTTP: added by hand, listed by reason, checked and lifted;
addresses go in, only their hashes come out."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.testing import WorkflowEnvironment

from domain.statuses import SuppressionReason
from store import suppressions
from store.keys import Scope
from tests.api.support import keyed_client, make_app, new_key, ok

ANNA = "anna@example.org"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def app(api_engine: Engine, dev_env: WorkflowEnvironment) -> FastAPI:
    return make_app(engine=api_engine, temporal=dev_env.client, task_queue="unused")


def bounced(engine: Engine, address: str) -> None:
    """What the send path does with a 5xx at RCPT."""
    with Session(engine) as session:
        suppressions.suppress(session, address, SuppressionReason.hard_bounce, "550 5.1.1")
        session.commit()


async def test_an_operator_suppresses_checks_and_lifts_an_address(
    app: FastAPI, api_engine: Engine
) -> None:
    async with keyed_client(app, new_key(api_engine, Scope.operator)) as operator:
        body = {"email": "Anna@Example.ORG", "detail": "asked by phone not to be mailed"}
        added = await ok(operator.post("/suppressions", json=body), 201)
        assert added["address_hash"] == sha256(ANNA)
        assert added["reason"] == "manual"
        assert added["detail"] == "asked by phone not to be mailed"
        assert "anna" not in str(added).lower()
        # The send path checks the same list, whatever the case of the address.
        with Session(api_engine) as session:
            assert suppressions.is_suppressed(session, "ANNA@example.org") is not None

        # Again: already there, the first entry stays.
        again = await ok(operator.post("/suppressions", json={"email": ANNA, "detail": "x"}))
        assert again == added

        checked = await ok(
            operator.get("/suppressions/check", params={"email": " ANNA@example.org"})
        )
        assert checked == {"suppressed": True, "suppression": added}
        other = await ok(operator.get("/suppressions/check", params={"email": "bob@example.org"}))
        assert other == {"suppressed": False, "suppression": None}

        await ok(operator.post("/suppressions/lift", json={"email": "anna@EXAMPLE.org"}), 204)
        with Session(api_engine) as session:
            assert suppressions.is_suppressed(session, ANNA) is None
        gone = await ok(operator.get("/suppressions/check", params={"email": ANNA}))
        assert gone["suppressed"] is False
        assert (await ok(operator.get("/suppressions")))["count"] == 0

        missing = await operator.post("/suppressions/lift", json={"email": ANNA})
        assert missing.status_code == 404
        assert "anna" not in missing.text  # the error names the hash, not the address
        assert sha256(ANNA) in missing.json()["detail"]


async def test_the_list_pages_and_filters_by_reason(app: FastAPI, api_engine: Engine) -> None:
    for n in range(3):
        bounced(api_engine, f"gone{n}@example.org")
    async with keyed_client(app, new_key(api_engine, Scope.support)) as support:
        async with keyed_client(app, new_key(api_engine, Scope.operator)) as operator:
            await ok(operator.post("/suppressions", json={"email": ANNA}), 201)

        everything = await ok(support.get("/suppressions"))
        assert everything["count"] == 4
        assert [s["reason"] for s in everything["data"]] == ["manual"] + ["hard_bounce"] * 3
        assert "example.org" not in str(everything)

        hard = await ok(support.get("/suppressions", params={"reason": "hard_bounce"}))
        assert hard["count"] == 3
        assert {s["address_hash"] for s in hard["data"]} == {
            sha256(f"gone{n}@example.org") for n in range(3)
        }
        assert all(s["detail"] == "550 5.1.1" for s in hard["data"])
        page = await ok(
            support.get("/suppressions", params={"reason": "hard_bounce", "limit": 2, "offset": 2})
        )
        assert page["count"] == 3
        assert [s["address_hash"] for s in page["data"]] == [hard["data"][2]["address_hash"]]
        assert (await ok(support.get("/suppressions", params={"reason": "complaint"})))[
            "count"
        ] == 0

        # A bounce report may name an address no form would accept: still found and lifted.
        bounced(api_engine, "Odd Address <x>")
        odd = await ok(support.get("/suppressions/check", params={"email": "odd address <x>"}))
        assert odd["suppressed"] is True and odd["suppression"]["reason"] == "hard_bounce"


async def test_bad_input_is_a_422_naming_the_field(app: FastAPI, api_engine: Engine) -> None:
    async with keyed_client(app, new_key(api_engine, Scope.operator)) as operator:
        cases = [
            ("/suppressions", {"email": "not an address"}, ["body", "email"]),
            ("/suppressions", {"email": ANNA, "detail": "x" * 501}, ["body", "detail"]),
            ("/suppressions", {"email": ANNA, "reason": "manual"}, ["body", "reason"]),
            ("/suppressions", {"detail": "who?"}, ["body", "email"]),
            ("/suppressions/lift", {"email": ""}, ["body", "email"]),
            ("/suppressions/lift", {"email": "a" * 321}, ["body", "email"]),
        ]
        for path, body, loc in cases:
            refused = await operator.post(path, json=body)
            assert refused.status_code == 422, (path, body, refused.text)
            assert [e["loc"] for e in refused.json()["detail"]] == [loc], (path, body)
        nul = await operator.post("/suppressions", json={"email": ANNA, "detail": "a\x00b"})
        assert nul.status_code == 422 and "detail" in nul.json()["detail"][0]["msg"]
        queries: list[tuple[dict[str, Any], list[str]]] = [
            ({"reason": "spam"}, ["query", "reason"]),
            ({"limit": 0}, ["query", "limit"]),
            ({"offset": -1}, ["query", "offset"]),
        ]
        for params, loc in queries:
            refused = await operator.get("/suppressions", params=params)
            assert refused.status_code == 422
            assert [e["loc"] for e in refused.json()["detail"]] == [loc]
        missing = await operator.get("/suppressions/check")
        assert [e["loc"] for e in missing.json()["detail"]] == [["query", "email"]]
        assert (await ok(operator.get("/suppressions")))["count"] == 0


async def test_support_reads_the_list_and_only_an_operator_changes_it(
    app: FastAPI, api_engine: Engine
) -> None:
    bounced(api_engine, ANNA)
    async with (
        keyed_client(app, new_key(api_engine, Scope.support)) as support,
        keyed_client(app, new_key(api_engine, Scope.app)) as integration,
    ):
        assert (await ok(support.get("/suppressions")))["count"] == 1
        assert (await ok(support.get("/suppressions/check", params={"email": ANNA})))["suppressed"]
        refused = [
            await support.post("/suppressions", json={"email": "b@example.org"}),
            await support.post("/suppressions/lift", json={"email": ANNA}),
            await integration.get("/suppressions"),
            await integration.get("/suppressions/check", params={"email": ANNA}),
        ]
        assert [r.status_code for r in refused] == [403] * 4
        assert (await ok(support.get("/suppressions")))["count"] == 1
