"""Who may call what: every route declares the scopes it allows, checked against the
API key in the `X-API-Key` header.

A header rather than a cookie: a browser never sends it by itself, so a page on another
site cannot make a logged-in browser call the API (no CSRF). `create_app` refuses to
start when a route has no scope (see `check_scopes`), so an endpoint added later is born
with one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Security
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader
from sqlmodel import Session

from api.deps import EngineDep
from api.schemas.common import ErrorDetail
from store import keys
from store.keys import Caller, Scope

API_KEY_HEADER = "X-API-Key"
# Routes anyone may call, as route paths (templates): a load balancer's health check has
# no key, and neither has a relation following a link in its mail (the tracked link, the
# open pixel, the unsubscribe page: a signed token in the path is their credential).
PUBLIC_PATHS = frozenset({"/health", "/t/c/{token}", "/t/o/{token}.gif", "/u/{token}"})


def _template_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{[^}/]+\}", template)
    return re.compile("".join(re.escape(p) + "[^/]+" for p in parts[:-1]) + re.escape(parts[-1]))


_PUBLIC_PATTERNS = tuple(_template_pattern(t) for t in sorted(PUBLIC_PATHS))


def is_public(path: str) -> bool:
    """Whether a request path (`/t/c/abc`), or a route path as listed, is public."""
    return path in PUBLIC_PATHS or any(p.fullmatch(path) for p in _PUBLIC_PATTERNS)


_api_key = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key from `reisplan keys create --scope ...` (`reisplan dev` "
    "prints one). Each operation says which scopes it allows; `admin` allows all.",
)


class Allow:
    """A route's dependency: the request must carry a key with one of these scopes."""

    def __init__(self, scopes: Iterable[Scope]) -> None:
        self.scopes = frozenset(scopes)

    def __call__(
        self,
        engine: EngineDep,
        key: Annotated[str | None, Security(_api_key)] = None,
    ) -> Caller:
        if not key:
            raise _unauthorized(f"an API key is required: send it in the {API_KEY_HEADER} header")
        with Session(engine) as session:
            caller = keys.authenticate(session, key)
        if caller is None:
            raise _unauthorized("the API key is unknown or revoked")
        if not caller.may(self.scopes):
            raise HTTPException(
                status_code=403,
                detail=f"this API key (scopes: {_names(caller.scopes)}) may not do this: "
                f"it needs the scope {_names(self.scopes, ' or ')} (or admin)",
            )
        return caller


def allow(*scopes: Scope) -> Any:
    """`dependencies=[allow(Scope.operator)]` on a route; admin keys pass every route."""
    return Depends(Allow(scopes))


def check_scopes(router: APIRouter) -> None:
    """Fail at start-up, not in production, when a route forgot to say who may call it;
    and tell the caller of /docs which scopes each operation allows. Called on each
    router before it is included (an app's own route list holds included routers)."""
    for route in router.routes:
        # The route's own template, exactly: a new route is never public by resemblance.
        if not isinstance(route, APIRoute) or route.path in PUBLIC_PATHS:
            continue
        allowed = [d.call for d in route.dependant.dependencies if isinstance(d.call, Allow)]
        if not allowed:
            raise RuntimeError(f"route {route.path} ({route.name}) declares no scope")
        # Several Allow dependencies must all pass: "operator and support".
        note = "Scope: " + " and ".join(_names(a.scopes, " or ") for a in allowed) + " (or admin)."
        # Routers are module objects: an app made again (the tests make many) finds the
        # note there already.
        if note not in (route.description or ""):
            route.description = f"{route.description}\n\n{note}" if route.description else note
        for status, text in _REFUSALS:
            route.responses.setdefault(status, {"description": text, "model": ErrorDetail})


_REFUSALS = (
    (401, "No API key, or an unknown or revoked one"),
    (403, "The API key lacks the scope this operation needs"),
)


def _names(scopes: Iterable[Scope], joiner: str = ", ") -> str:
    return joiner.join(sorted(s.value for s in scopes))


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "ApiKey"})
