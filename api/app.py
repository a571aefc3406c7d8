"""The FastAPI application; `create_app` receives its parts, it does not make them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import APIRouter, FastAPI
from sqlalchemy.engine import Engine
from starlette.middleware.trustedhost import TrustedHostMiddleware
from temporalio.client import Client

from activities.mail.render import Rendering
from api import errors, limits
from api.routers import (
    events,
    exports,
    groups,
    health,
    imports,
    journeys,
    mail,
    policy,
    relations,
    segments,
    sends,
    suppressions,
    template_stats,
    templates,
    tokens,
    tracking,
    trips,
)
from api.security import check_scopes

TAGS = [
    {"name": "relations", "description": "People in the CRM; deleting one erases the person."},
    {"name": "groups", "description": "Static lists of relations."},
    {
        "name": "segments",
        "description": "Dynamic lists: every relation matching a condition, kept current "
        "at each change; entering one can admit to journeys.",
    },
    {
        "name": "events",
        "description": "What relations did: admits them to journeys, moves their "
        "segments, reaches their running trips.",
    },
    {"name": "templates", "description": "Emails with personalisation (Jinja)."},
    {"name": "journeys", "description": "Drafts, versions, activation, statistics."},
    {
        "name": "trips",
        "description": "Manual add, and where each relation is and how it got there.",
    },
    {"name": "sends", "description": "The send ledger: what became of each mail."},
    {
        "name": "suppressions",
        "description": "Addresses never mailed again: hard bounces, complaints, "
        "unsubscribes, manual entries.",
    },
    {"name": "settings", "description": "Workspace policies: the contact pressure."},
    {"name": "imports", "description": "CSV imports of relations, with their progress."},
    {"name": "exports", "description": "CSV files written by journeys' export steps."},
    {"name": "tokens", "description": "Encrypted relation tokens: verify one, read its fields."},
    {
        "name": "tracking",
        "description": "What relations reach from a mail, without an API key: tracked "
        "links, the open pixel, one-click unsubscribe.",
    },
    {"name": "dev", "description": "Development helpers (the local mail sink)."},
    {"name": "health", "description": "Liveness of the API, database and Temporal."},
]


def routers(*, with_mail_sink: bool) -> list[APIRouter]:
    parts = (
        relations,
        events,
        groups,
        segments,
        templates,
        template_stats,
        journeys,
        trips,
        sends,
        suppressions,
        policy,
        imports,
        exports,
        tokens,
        tracking,
        health,
    )
    found = [m.router for m in parts]
    return [*found, mail.router] if with_mail_sink else found


def create_app(
    *,
    engine: Engine,
    temporal: Client,
    task_queue: str,
    allowed_hosts: Sequence[str],
    renderer: Rendering,
    signing_key: bytes,
    mail_sink_dir: Path | None = None,
    max_body_bytes: int = limits.DEFAULT_MAX_BODY_BYTES,
    export_dir: Path | None = None,
    import_dir: Path | None = None,
    max_import_bytes: int = 200 * 1024 * 1024,
    token_keys: Sequence[str] = (),
) -> FastAPI:
    """`allowed_hosts`: the Host header values served (a DNS-rebinding page sends its own
    name, and is refused); `signing_key` checks the tokens of tracked links and one-click
    unsubscribes (the workers' key, Settings.signing_key()); `mail_sink_dir` only under
    `reisplan dev`. `export_dir` and `import_dir`: where export steps write and CSV
    imports are kept (the workers' directories); `token_keys`: the relation-token keys,
    newest first (empty: derived from `signing_key`)."""
    app = FastAPI(
        title="reisplan",
        summary="Marketing-automation journeys, one durable Temporal workflow per trip.",
        version="0.1.0",
        openapi_tags=TAGS,
    )
    app.state.engine = engine
    app.state.temporal = temporal
    app.state.task_queue = task_queue
    app.state.mail_sink_dir = mail_sink_dir
    app.state.renderer = renderer
    app.state.signing_key = signing_key
    app.state.export_dir = export_dir
    app.state.import_dir = import_dir
    app.state.max_import_bytes = max_import_bytes
    app.state.token_keys = tuple(token_keys)
    errors.install(app)
    for router in routers(with_mail_sink=mail_sink_dir is not None):
        check_scopes(router)
        errors.document(router)
        app.include_router(router)
    # Outermost first: a foreign Host is refused before anything reads the body.
    app.add_middleware(limits.BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    return app
