"""What relations reach from their mail, without an API key: tracked links, the open
pixel, the unsubscribe page and RFC 8058 one-click unsubscribe.

The signed token in the path is the only credential, and it names a send (and a link
index), never a URL: a click redirects to the link stored for the send's template
version or to nowhere (no open redirect). What is recorded is kept in store/tracking.py;
a Temporal that cannot be reached never turns a redirect, a pixel or an unsubscribe into
an error: what happened is stored, and the trip-sync schedule dispatches it later.
"""

from __future__ import annotations

import asyncio
import base64
import html
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.client import Client
from temporalio.service import RPCError

from activities.dispatch import start_dispatch
from activities.mail import tokens
from activities.mail.tracking import OpenRequest, machine_open
from api.deps import EngineDep, TaskQueueDep, TemporalDep
from api.dispatching import dispatch_changes
from store import policy, tracking
from store.models import utcnow

router = APIRouter(tags=["tracking"])
_log = logging.getLogger("reisplan.api")

# A transparent 1x1 GIF, the smallest image every mail client shows.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
# A dispatch start waits at most this long: a relation's browser must not hang on it.
_DISPATCH_WAIT = 5.0
_NO_STORE = {"Cache-Control": "no-store"}


def get_signing_key(request: Request) -> bytes:
    key: bytes = request.app.state.signing_key
    return key


SigningKeyDep = Annotated[bytes, Depends(get_signing_key)]


def _html(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


_UNKNOWN = _html("The token is unknown or altered (or names nothing any more)")


@router.get(
    "/t/c/{token}",
    status_code=302,
    response_class=RedirectResponse,
    summary="Follow a tracked link",
    description="Redirects to the link stored under the token's index for its send's "
    "template version and records the click (the relation's first click of each link "
    "becomes an `email_clicked` event). Never redirects anywhere else: a bad token gets "
    "a 404 page without a Location.",
    responses={302: {"description": "To the stored link"}, 404: _UNKNOWN},
)
async def click(
    token: str,
    engine: EngineDep,
    temporal: TemporalDep,
    task_queue: TaskQueueDep,
    secret: SigningKeyDep,
) -> Response:
    read = tokens.read(secret, token, "c")
    if read is None:
        return await _unknown_page(engine)
    clicked = await run_in_threadpool(_click, engine, read.send_id, read.link)
    if clicked is None:
        return await _unknown_page(engine)
    await _dispatch_event(temporal, task_queue, clicked.event_id)
    return RedirectResponse(clicked.url, status_code=302, headers=_NO_STORE)


def _click(engine: Engine, send_id: int, link: int) -> tracking.Click | None:
    with Session(engine, expire_on_commit=False) as session:
        return tracking.record_click(session, send_id, link, now=utcnow())


@router.get(
    "/t/o/{token}.gif",
    response_class=Response,
    summary="The open pixel",
    description="Always a 1x1 transparent GIF, whatever the token. A valid token records "
    "an open; likely machine opens (mail privacy proxies, scanners) are flagged and make "
    "no event, the first other open of a send becomes an `email_opened` event.",
    responses={200: {"description": "The pixel", "content": {"image/gif": {}}}},
)
async def open_pixel(
    token: str,
    request: Request,
    engine: EngineDep,
    temporal: TemporalDep,
    task_queue: TaskQueueDep,
    secret: SigningKeyDep,
) -> Response:
    read = tokens.read(secret, token, "o")
    if read is not None:
        seen = _Seen(
            user_agent=request.headers.get("user-agent", ""),
            # Behind a reverse proxy this is the proxy unless uvicorn trusts its
            # X-Forwarded-For (--forwarded-allow-ips): see OpenRequest.
            client_ip=request.client.host if request.client else None,
        )
        event_id = await run_in_threadpool(_open, engine, read.send_id, seen)
        await _dispatch_event(temporal, task_queue, event_id)
    return Response(PIXEL, media_type="image/gif", headers=_NO_STORE)


@dataclass(frozen=True)
class _Seen:
    user_agent: str
    client_ip: str | None


def _open(engine: Engine, send_id: int, seen: _Seen) -> int | None:
    now = utcnow()
    with Session(engine, expire_on_commit=False) as session:
        send = tracking.find_send(session, send_id)
        if send is None:
            return None
        window = timedelta(seconds=policy.load(session).machine_open_seconds)
        machine = machine_open(
            OpenRequest(seen.user_agent, seen.client_ip, send.sent_at, now, window)
        )
        return tracking.record_open(session, send, machine=machine, now=now)


@router.get(
    "/u/{token}",
    response_class=HTMLResponse,
    summary="The unsubscribe page",
    description="Asks for confirmation with a button that POSTs here; fetching it never "
    "unsubscribes (mail scanners fetch every link).",
    responses={404: _UNKNOWN},
)
async def unsubscribe_page(token: str, engine: EngineDep, secret: SigningKeyDep) -> Response:
    read = tokens.read(secret, token, "u")
    found = read is not None and await run_in_threadpool(_send_exists, engine, read.send_id)
    if not found:
        return await _unknown_page(engine)
    words = await run_in_threadpool(_words, engine)
    form = (
        f"<p>{_e(words['question'])}</p>"
        # No action: the form posts to this very URL, token and all.
        '<form method="post">'
        '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
        f'<button type="submit">{_e(words["button"])}</button>'
        "</form>"
    )
    return _page(words["title"], form, 200)


def _send_exists(engine: Engine, send_id: int) -> bool:
    with Session(engine) as session:
        return tracking.find_send(session, send_id) is not None


@router.post(
    "/u/{token}",
    response_class=HTMLResponse,
    summary="Unsubscribe (RFC 8058 one-click)",
    description="Unsubscribes at once, without login: opt-in email off and the address "
    "on the suppression list; the relation's segments follow. The body a mail provider "
    "sends (`List-Unsubscribe=One-Click`, form-encoded) or the page's own form; the token "
    "is what counts. Repeating it changes nothing and answers 200 again.",
    responses={404: _UNKNOWN},
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "properties": {"List-Unsubscribe": {"type": "string"}},
                    }
                }
            },
        }
    },
)
async def unsubscribe(
    token: str,
    engine: EngineDep,
    temporal: TemporalDep,
    task_queue: TaskQueueDep,
    secret: SigningKeyDep,
) -> Response:
    read = tokens.read(secret, token, "u")
    done = None if read is None else await run_in_threadpool(_unsubscribe, engine, read.send_id)
    if done is None:
        return await _unknown_page(engine)
    if done.changed:
        try:
            async with asyncio.timeout(_DISPATCH_WAIT):
                await dispatch_changes(engine, temporal, task_queue, done.relation_id)
        except TimeoutError:
            # Committed already: the trip-sync schedule dispatches the segment change.
            _log.warning("relation %s: segment changes' dispatch deferred", done.relation_id)
    words = await run_in_threadpool(_words, engine)
    return _page(words["title"], f"<p>{_e(words['done'])}</p>", 200)


def _unsubscribe(engine: Engine, send_id: int) -> tracking.Unsubscribed | None:
    with Session(engine, expire_on_commit=False) as session:
        return tracking.unsubscribe(session, send_id, now=utcnow())


async def _dispatch_event(temporal: Client, task_queue: str, event_id: int | None) -> None:
    if event_id is None:
        return
    try:
        async with asyncio.timeout(_DISPATCH_WAIT):
            await start_dispatch(temporal, task_queue, event_id=event_id)
    except (RPCError, TimeoutError) as error:
        # Stored already: the trip-sync schedule dispatches events left undispatched.
        _log.warning("event %s: dispatch deferred: %s", event_id, error)


def _words(engine: Engine) -> dict[str, str]:
    with Session(engine) as session:
        return tracking.page_words(session)


async def _unknown_page(engine: Engine) -> Response:
    words = await run_in_threadpool(_words, engine)
    return _page(words["title"], f"<p>{_e(words['unknown'])}</p>", 404)


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _page(title: str, body: str, status: int) -> HTMLResponse:
    document = (
        "<!doctype html>"
        '<html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{_e(title)}</title></head>"
        f"<body><h1>{_e(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(document, status_code=status, headers=_NO_STORE)
