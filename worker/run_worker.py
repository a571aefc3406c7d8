"""`reisplan worker`: poll the trip task queue until SIGINT/SIGTERM, then stop gracefully."""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import timedelta

from store.db import make_engine
from worker.schedules import (
    BOUNCE_SCHEDULE_ID,
    SYNC_SCHEDULE_ID,
    ensure_bounce_schedule,
    ensure_trip_sync_schedule,
)
from worker.settings import Settings
from worker.startup import connect_with_retry, display_url, require_schema_at_head
from worker.temporal import register_search_attributes
from worker.worker import build_render_pool, build_smtp_pool, build_worker

log = logging.getLogger("reisplan.worker")

TEMPORAL_CONNECT_TIMEOUT = 60.0


async def run(settings: Settings) -> int:
    # Checked before touching Temporal: a wrong schema must fail fast and say why.
    require_schema_at_head(settings.database_url)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    client = await connect_with_retry(
        settings.temporal_address, settings.temporal_namespace, TEMPORAL_CONNECT_TIMEOUT
    )
    # Idempotent, so every replica may do it; a cluster without them fails every trip.
    await register_search_attributes(client)
    if await ensure_trip_sync_schedule(client, settings.task_queue):
        log.info("created the Temporal schedule %s", SYNC_SCHEDULE_ID)
    every = timedelta(seconds=settings.bounce_check_every) if settings.bounce_mailbox else None
    bounces = await ensure_bounce_schedule(client, settings.task_queue, every)
    if bounces in ("created", "updated", "removed"):
        log.info("%s the Temporal schedule %s", bounces, BOUNCE_SCHEDULE_ID)

    engine = make_engine(settings.database_url)
    smtp = build_smtp_pool(settings)
    renderer = build_render_pool(settings)
    try:
        worker = build_worker(client, engine, settings, smtp, renderer)
        async with worker:
            log.info(
                "worker polling task queue %r on Temporal %s (namespace %s); database %s; "
                "SMTP %s:%d",
                settings.task_queue,
                settings.temporal_address,
                settings.temporal_namespace,
                display_url(settings.database_url),
                settings.smtp_host,
                settings.smtp_port,
            )
            await stop.wait()
            log.info("stopping worker: finishing in-flight tasks")
    finally:
        await smtp.close()
        renderer.close()
        engine.dispose()
    log.info("worker stopped")
    return 0
