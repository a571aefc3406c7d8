"""`reisplan api`: serve the FastAPI app with uvicorn until SIGINT/SIGTERM."""

from __future__ import annotations

import logging

import uvicorn

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
    try:
        app = create_app(
            engine=engine,
            temporal=client,
            task_queue=settings.task_queue,
            mail_sink_dir=settings.mail_sink_dir,
        )
        config = uvicorn.Config(
            app,
            host=settings.api_host,
            port=settings.api_port,
            log_level="info",
            # uvicorn's own signal handling drains open requests before returning.
            timeout_graceful_shutdown=10,
        )
        server = uvicorn.Server(config)
        await server.serve()
        # serve() returns instead of raising when the port is taken.
        return 0 if server.started else 1
    finally:
        engine.dispose()
