"""A bound on request bodies: a client cannot make the API buffer gigabytes.

Checked twice: a declared Content-Length over the limit is refused before any byte is
read, and a body sent without one (chunked) is counted while it arrives.

A few routes take larger bodies, which they stream to disk instead of buffering: a CSV
upload (`POST /imports`) may be as large as the app's `max_import_bytes`.
"""

from __future__ import annotations

import json

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
# (method, path) -> the `app.state` attribute holding that route's own limit.
LARGE_BODIES = {("POST", "/imports"): "max_import_bytes"}


def too_large_message(max_bytes: int) -> str:
    return f"the request body is larger than the limit of {max_bytes:,} bytes"


class BodyLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, limit)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised inside the route's body reading, where FastAPI turns an
                    # HTTPException into its response.
                    raise HTTPException(413, too_large_message(limit))
            return message

        await self.app(scope, counted, send)

    def _limit(self, scope: Scope) -> int:
        attribute = LARGE_BODIES.get((scope.get("method", ""), scope.get("path", "")))
        app = scope.get("app")
        if attribute is None or app is None:
            return self.max_bytes
        large = getattr(app.state, attribute, None)
        return large if isinstance(large, int) else self.max_bytes


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send, max_bytes: int) -> None:
    body = json.dumps({"detail": too_large_message(max_bytes)}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # The rest of the body is not read, so the connection cannot be reused.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
