"""`reisplan api`: serve the FastAPI app with uvicorn until SIGINT/SIGTERM."""

from __future__ import annotations

import copy
import logging
from typing import Any

import uvicorn
import uvicorn.config
from fastapi import FastAPI

from activities.mail.render_pool import RenderPool
from api.app import create_app
from store.db import make_engine
from worker.settings import Settings
from worker.startup import connect_with_retry, require_schema_at_head

log = logging.getLogger("reisplan.api")

TEMPORAL_CONNECT_TIMEOUT = 60.0


async def run(settings: Settings) -> int:
    require_schema_at_head(settings.database_url)
    # Connected in this event loop, which uvicorn then serves on: one loop for everything.
    client = await connect_with_retry(
        settings.temporal_address, settings.temporal_namespace, TEMPORAL_CONNECT_TIMEOUT
    )
    engine = make_engine(settings.database_url)
    # Previews render user templates too: in their own process, with the worker's limits.
    renderer = RenderPool(
        processes=1,
        timeout=settings.render_timeout,
        memory_bytes=settings.render_memory_mb * 2**20,
        token_keys=settings.relation_token_keys(),
    )
    try:
        app = create_app(
            engine=engine,
            temporal=client,
            task_queue=settings.task_queue,
            allowed_hosts=settings.allowed_hosts,
            renderer=renderer,
            signing_key=settings.signing_key(),
            mail_sink_dir=settings.mail_sink_dir,
            max_body_bytes=settings.max_body_bytes,
            export_dir=settings.export_dir,
            import_dir=settings.import_dir,
            max_import_bytes=settings.max_import_bytes,
            token_keys=settings.token_keys,
        )
        server = uvicorn.Server(server_config(app, settings.api_host, settings.api_port))
        await server.serve()
        # serve() returns instead of raising when the port is taken.
        return 0 if server.started else 1
    finally:
        renderer.close()
        engine.dispose()


def server_config(app: FastAPI, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="info",
        log_config=_log_config(),
        # uvicorn's own signal handling drains open requests before returning.
        timeout_graceful_shutdown=10,
    )


class WithoutQuery(logging.Filter):
    """Access log lines keep method, path and status but not the query string, which can
    hold personal data (`GET /relations?email=...`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn logs (client address, method, path with query, HTTP version, status).
        if isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, version, status = record.args
            record.args = (client, method, str(path).partition("?")[0], version, status)
        return True


def _log_config() -> dict[str, Any]:
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config.setdefault("filters", {})["without_query"] = {"()": WithoutQuery}
    config["handlers"]["access"]["filters"] = ["without_query"]
    # The client's address is personal data too, and behind a proxy not even the client's.
    config["formatters"]["access"]["fmt"] = '%(levelprefix)s "%(request_line)s" %(status_code)s'
    return config
