"""The unsubscribe page in a real browser, served by uvicorn as `reisplan api` serves it:
opening it changes nothing, its button unsubscribes."""

from __future__ import annotations

import asyncio

import uvicorn
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.testing import WorkflowEnvironment

from store import suppressions
from store.models import Relation
from tests.api.support import eventually, make_app, sqlite_only
from tests.api.test_tracking import ADDRESS, seed_send, unsubscribe_path
from tests.support.browser import chromium


def _opted_in(engine: Engine, relation_id: int) -> bool:
    with Session(engine) as session:
        relation = session.get(Relation, relation_id)
        assert relation is not None
        return relation.opt_in_email


def _suppressed(engine: Engine) -> bool:
    with Session(engine) as session:
        return suppressions.is_suppressed(session, ADDRESS) is not None


@sqlite_only
async def test_the_button_on_the_page_unsubscribes_and_opening_it_does_not(
    api_engine: Engine, dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    seeded = seed_send(api_engine)
    app = make_app(
        engine=api_engine,
        temporal=dev_env.client,
        task_queue=task_queue,
        allowed_hosts=["127.0.0.1"],
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    try:

        async def started() -> bool:
            return server.started

        await eventually(started, bool, what="uvicorn to listen")
        port = server.servers[0].sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}{unsubscribe_path(seeded.send_id)}"
        async with chromium() as browser:
            page = await browser.new_page()
            opened = await page.goto(url)
            assert opened is not None and opened.status == 200
            assert await page.title() == "Unsubscribe"
            assert _opted_in(api_engine, seeded.relation_id)
            assert not _suppressed(api_engine)

            async with page.expect_navigation():
                await page.get_by_role("button", name="Unsubscribe").click()
            body = await page.locator("body").inner_text()
            landed = page.url
    finally:
        server.should_exit = True
        await serving

    assert "You are unsubscribed" in body
    assert landed == url  # the form posted back to the same URL
    assert not _opted_in(api_engine, seeded.relation_id)
    assert _suppressed(api_engine)
