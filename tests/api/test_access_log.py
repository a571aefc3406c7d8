"""The API's access log, as `reisplan api` writes it, keeps personal data out."""

from __future__ import annotations

import asyncio
import io
import logging

import httpx
import uvicorn
from sqlalchemy.engine import Engine
from temporalio.testing import WorkflowEnvironment

from api.security import API_KEY_HEADER
from tests.api.support import eventually, make_app, new_key, sqlite_only
from worker.run_api import server_config


@sqlite_only
async def test_the_access_log_has_method_path_and_status_but_no_query(
    api_engine: Engine, dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    app = make_app(
        engine=api_engine,
        temporal=dev_env.client,
        task_queue=task_queue,
        allowed_hosts=["127.0.0.1"],
    )
    key = new_key(api_engine)
    config = server_config(app, "127.0.0.1", 0)  # configures uvicorn's loggers
    [handler] = logging.getLogger("uvicorn.access").handlers
    assert isinstance(handler, logging.StreamHandler)
    written = io.StringIO()
    handler.setStream(written)
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:

        async def started() -> bool:
            return server.started

        await eventually(started, bool, what="uvicorn to listen")
        port = server.servers[0].sockets[0].getsockname()[1]
        headers = {API_KEY_HEADER: key}
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=headers
        ) as client:
            found = await client.get("/relations", params={"email": "anna@example.org"})
        assert found.status_code == 200
    finally:
        server.should_exit = True
        await serving

    log = written.getvalue()
    assert '"GET /relations HTTP/1.1" 200' in log, log
    assert "anna" not in log and "email=" not in log, log
    assert "127.0.0.1" not in log, log
    assert key not in log, "the API key must not be logged"
