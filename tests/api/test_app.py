"""The app as a whole: OpenAPI docs, health, and the dev mail sink's inbox."""

from __future__ import annotations

import mailbox
import os
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from sqlalchemy.engine import Engine
from temporalio.testing import WorkflowEnvironment

from store.db import make_engine
from tests.api.support import (
    TEST_SIGNING_KEY,
    active_journey,
    definition,
    enroll,
    eventually,
    keyed_client,
    make_app,
    new_key,
    ok,
    relation,
    sqlite_only,
    template,
)
from tests.conftest import running_worker
from tests.support.smtp import free_port
from worker.mail_sink import MaildirHandler
from worker.settings import Settings


@sqlite_only
async def test_openapi_docs_list_every_resource(api: httpx.AsyncClient) -> None:
    schema = await ok(api.get("/openapi.json"))
    paths = set(schema["paths"])
    for path in (
        "/relations",
        "/relations/{relation_id}/trips",
        "/groups/{key}/members/{relation_id}",
        "/templates/{key}",
        "/journeys/{journey_id}/activate",
        "/journeys/{journey_id}/deactivate",
        "/journeys/{journey_id}/versions/{version}",
        "/journeys/{journey_id}/stats",
        "/journeys/{journey_id}/steps/{step_id}/relations",
        "/journeys/{journey_id}/enrollments",
        "/trips/{trip_id}",
        "/health",
    ):
        assert path in paths, path
    assert "/dev/mail" not in paths, "no mail sink configured, so not documented"
    docs = await api.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


@sqlite_only
async def test_health_reports_database_and_temporal(api: httpx.AsyncClient) -> None:
    assert await ok(api.get("/health")) == {"status": "ok", "database": "ok", "temporal": "ok"}


async def test_health_says_when_the_database_is_gone(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    missing = make_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}")
    app = make_app(engine=missing, temporal=dev_env.client, task_queue="unused")
    async with keyed_client(app, None) as api:
        response = await api.get("/health")
    assert response.status_code == 503
    assert response.json()["database"] == "unavailable"


@sqlite_only
async def test_dev_mail_exists_only_with_a_sink(api: httpx.AsyncClient) -> None:
    # Only `reisplan dev` runs a sink; a production API has no such endpoint at all.
    assert (await api.get("/dev/mail")).status_code == 404
    assert "/dev/mail" not in (await ok(api.get("/openapi.json")))["paths"]


def _message(to: str, subject: str, text: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Reisplan <noreply@reisplan.localhost>"
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = "Sun, 22 Nov 2026 10:00:00 +0000"
    message["Message-ID"] = f"<{subject.replace(' ', '-')}@reisplan.localhost>"
    message.set_content(text)
    message.add_alternative(f"<p>{text}</p>", subtype="html")
    return message


async def test_dev_mail_lists_the_sink_newest_first(
    tmp_path: Path, dev_env: WorkflowEnvironment, engine: Engine
) -> None:
    sink_dir = tmp_path / "mail"
    app = make_app(
        engine=engine, temporal=dev_env.client, task_queue="unused", mail_sink_dir=sink_dir
    )
    async with keyed_client(app, new_key(engine)) as api:
        empty = await ok(api.get("/dev/mail"))
        assert empty == {"data": [], "count": 0}, "no mail yet, not even a Maildir"

        box = mailbox.Maildir(sink_dir, create=True)
        older = box.add(_message("anna@example.org", "First mail", "Hello Anna"))
        box.add(_message("bert@example.org", "Second mail", "Hello Bert"))
        # Delivery times decide the order; make the first one clearly older.
        then = time.time() - 60
        path = sink_dir / "new" / older
        os.utime(path, (then, then))
        box.close()

        listed = await ok(api.get("/dev/mail"))
        assert listed["count"] == 2
        assert [(m["to"], m["subject"]) for m in listed["data"]] == [
            ("bert@example.org", "Second mail"),
            ("anna@example.org", "First mail"),
        ]
        first = listed["data"][1]
        assert first["from"] == "Reisplan <noreply@reisplan.localhost>"
        assert first["message_id"] == "<First-mail@reisplan.localhost>"
        assert first["text"].strip() == "Hello Anna"
        assert first["html"].strip() == "<p>Hello Anna</p>"
        assert first["date"] == "2026-11-22T10:00:00Z"
        assert len((await ok(api.get("/dev/mail", params={"limit": 1})))["data"]) == 1


@sqlite_only
async def test_mail_sent_by_a_trip_shows_up_in_dev_mail(
    tmp_path: Path, dev_env: WorkflowEnvironment, api_engine: Engine, db_url: str, task_queue: str
) -> None:
    """What `reisplan dev` wires together: worker -> SMTP sink (Maildir) -> GET /dev/mail."""
    sink_dir = tmp_path / "mail"
    port = free_port()
    controller = Controller(MaildirHandler(sink_dir), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings = Settings(
            database_url=db_url,
            task_queue=task_queue,
            smtp_port=port,
            smtp_pool_size=1,
            mail_from="Reisplan <noreply@reisplan.localhost>",
            secret_key=TEST_SIGNING_KEY.decode(),
        )
        app = make_app(
            engine=api_engine,
            temporal=dev_env.client,
            task_queue=task_queue,
            mail_sink_dir=sink_dir,
        )
        async with (
            running_worker(dev_env.client, api_engine, settings),
            keyed_client(app, new_key(api_engine)) as api,
        ):
            anna = await relation(api)
            await template(api)
            journey = await active_journey(api, definition())
            started = time.monotonic()
            await enroll(api, journey["id"], anna["id"])

            async def inbox() -> dict[str, Any]:
                listed: dict[str, Any] = await ok(api.get("/dev/mail"))
                return listed

            mail = await eventually(inbox, lambda m: m["count"] == 1, what="the mail")
            assert time.monotonic() - started < 5
            (message,) = mail["data"]
            assert (message["to"], message["subject"]) == (
                "Anna <anna@example.org>",
                "Welcome, Anna",
            )
            assert "Hello Anna, nice to meet you." in message["html"]
            assert "Hello Anna" in message["text"]
            # What a new user checks the one-click unsubscribe and the VERP return by.
            headers = message["headers"]
            assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            assert headers["List-Unsubscribe"].startswith("<http://127.0.0.1:8000/u/")
            assert headers["Return-Path"].startswith("<bounces+")
    finally:
        controller.stop()
