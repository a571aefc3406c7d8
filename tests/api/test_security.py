"""Who may call what: keys, scopes, hosts and body size, as a caller would meet them."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.testing import WorkflowEnvironment

from api.app import routers
from api.security import API_KEY_HEADER, check_scopes, is_public
from store import keys
from store.keys import Scope
from store.models import ApiKey
from tests.api.support import keyed_client, make_app, new_key, ok, sqlite_only


@pytest.fixture
def app(api_engine: Engine, dev_env: WorkflowEnvironment, tmp_path: Path) -> FastAPI:
    # With a mail sink, so /dev/mail is among the routes that need a key.
    return make_app(
        engine=api_engine,
        temporal=dev_env.client,
        task_queue="unused",
        mail_sink_dir=tmp_path / "mail",
    )


@pytest.fixture
async def anonymous(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with keyed_client(app, None) as client:
        yield client


def _operations() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for router in routers(with_mail_sink=True):
        for route in router.routes:
            assert isinstance(route, APIRoute)
            path = re.sub(r"\{[^}]+\}", "1", route.path)
            found.extend((method, path) for method in sorted(route.methods or ()))
    return found


@sqlite_only
async def test_without_a_key_every_endpoint_but_health_answers_401(
    app: FastAPI, anonymous: httpx.AsyncClient
) -> None:
    operations = _operations()
    assert len(operations) > 30
    for method, path in operations:
        response = await anonymous.request(method, path, json={})
        if is_public(path):
            # Health, and what a relation reaches from its mail (here with a bad token:
            # the pixel still answers its image, the other pages a 404 page).
            expected = 200 if path == "/health" or path.endswith(".gif") else 404
            assert response.status_code == expected, (method, path)
            continue
        assert response.status_code == 401, (method, path, response.text)
        assert API_KEY_HEADER in response.json()["detail"]
        assert response.headers["www-authenticate"] == "ApiKey"


@sqlite_only
async def test_a_cross_site_request_cannot_cancel_trips(anonymous: httpx.AsyncClient) -> None:
    # What a page on another site can make a browser send: no key, since browsers never
    # add a custom header by themselves (and the API sets no cookie to ride along).
    response = await anonymous.post(
        "/journeys/1/deactivate", params={"mode": "cancel"}, headers={"Origin": "http://evil"}
    )
    assert response.status_code == 401


@sqlite_only
async def test_a_wrong_or_revoked_key_is_refused(app: FastAPI, api_engine: Engine) -> None:
    key = new_key(api_engine, Scope.support)
    async with keyed_client(app, key) as client:
        assert (await client.get("/journeys")).status_code == 200
    for wrong in (key[:-1] + ("A" if key[-1] != "A" else "B"), "rp_nonsense", "Bearer x"):
        async with keyed_client(app, wrong) as client:
            response = await client.get("/journeys")
        assert response.status_code == 401, wrong
        assert response.json()["detail"] == "the API key is unknown or revoked"
    with Session(api_engine) as session:
        keys.revoke(session, key.split("_")[1])
    async with keyed_client(app, key) as client:
        assert (await client.get("/journeys")).status_code == 401


@sqlite_only
async def test_a_key_does_only_what_its_scopes_allow(app: FastAPI, api_engine: Engine) -> None:
    app_key, support, operator = (
        new_key(api_engine, Scope.app),
        new_key(api_engine, Scope.support),
        new_key(api_engine, Scope.operator),
    )
    async with keyed_client(app, app_key) as client:
        anna = await ok(client.post("/relations", json={"email": "anna@example.org"}), 201)
        # An app writes relations but does not read the CRM's personal data.
        refused = await client.get(f"/relations/{anna['id']}")
        assert refused.status_code == 403
        assert refused.json()["detail"] == (
            "this API key (scopes: app) may not do this: it needs the scope support (or admin)"
        )
    async with keyed_client(app, support) as client:
        assert (await ok(client.get(f"/relations/{anna['id']}")))["email"] == "anna@example.org"
        refused = await client.post("/journeys", json={"definition": {}})
        assert refused.status_code == 403
        assert "operator" in refused.json()["detail"]
        # Erasing a person is for an administrator only.
        assert (await client.delete(f"/relations/{anna['id']}")).status_code == 403
    async with keyed_client(app, operator) as client:
        assert (await client.get(f"/relations/{anna['id']}")).status_code == 403
        assert (await client.get("/journeys")).status_code == 200
    async with keyed_client(app, new_key(api_engine, Scope.admin)) as client:
        assert (await client.delete(f"/relations/{anna['id']}")).status_code == 204


@sqlite_only
async def test_keys_are_stored_hashed(api_engine: Engine) -> None:
    key = new_key(api_engine, Scope.operator, name="Marketing")
    with Session(api_engine) as session:
        row = session.exec(select(ApiKey).where(col(ApiKey.name) == "Marketing")).one()
    assert key not in (row.digest, row.prefix) and key.split("_")[2] not in row.digest
    assert key.startswith(f"rp_{row.prefix}_")
    assert row.scopes == "operator"


@sqlite_only
async def test_a_foreign_host_is_refused(app: FastAPI, api_engine: Engine) -> None:
    # A DNS-rebinding page reaches 127.0.0.1 under its own name, with its own Host.
    async with keyed_client(app, new_key(api_engine)) as client:
        response = await client.get("/dev/mail", headers={"Host": "attacker.example"})
    assert response.status_code == 400


@sqlite_only
async def test_a_body_over_the_limit_is_413(app: FastAPI, api_engine: Engine) -> None:
    big = {"email": "anna@example.org", "custom": {"notes": "x" * (1024 * 1024)}}
    async with keyed_client(app, new_key(api_engine)) as client:
        response = await client.post("/relations", json=big)
        assert response.status_code == 413
        assert response.json()["detail"] == (
            "the request body is larger than the limit of 1,048,576 bytes"
        )

        async def chunks() -> AsyncIterator[bytes]:
            # Sent without a Content-Length: counted as it arrives.
            yield b'{"email": "bert@example.org", "custom": {"notes": "'
            for _ in range(20):
                yield b"y" * 65536
            yield b'"}}'

        response = await client.post(
            "/relations", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413, response.text
        listed = await ok(client.get("/relations"))
        assert listed["count"] == 0, "nothing of a refused body is stored"


@sqlite_only
async def test_the_docs_offer_the_key_and_name_each_operations_scope(
    anonymous: httpx.AsyncClient,
) -> None:
    schema = await ok(anonymous.get("/openapi.json"))
    assert schema["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": API_KEY_HEADER,
        "description": schema["components"]["securitySchemes"]["ApiKey"]["description"],
    }
    create = schema["paths"]["/journeys"]["post"]
    assert create["security"] == [{"ApiKey": []}]
    assert create["description"].count("Scope: operator (or admin).") == 1
    assert {"400", "401", "403", "409", "413", "422"} <= set(create["responses"])
    assert "404" in schema["paths"]["/relations/{relation_id}"]["get"]["responses"]
    assert "security" not in schema["paths"]["/health"]["get"]


def test_a_route_without_a_scope_stops_the_app_from_starting() -> None:
    forgotten = APIRouter(prefix="/segments")

    @forgotten.get("")
    def list_segments() -> list[str]:
        return []

    with pytest.raises(
        RuntimeError, match=re.escape("route /segments (list_segments) declares no scope")
    ):
        check_scopes(forgotten)
