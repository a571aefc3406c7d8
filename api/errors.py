"""Domain errors mapped to HTTP in one place: 404 unknown, 409 conflict, 422 invalid.

422 bodies keep FastAPI's shape (`{"detail": [{"loc", "msg", "type"}]}`) so a client
handles schema errors and reference errors alike, and every entry names its field.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import DataError, IntegrityError
from temporalio.service import RPCError

from api.schemas.common import ErrorDetail
from store.errors import Conflict, Invalid, NotFound

_ERRORS = {
    400: "The Host header names a host the API does not serve (REISPLAN_ALLOWED_HOSTS)",
    404: "Not found: the detail names what (relation, journey, step, ...)",
    409: "Conflicts with the current state, e.g. an active journey cannot be edited",
    413: "The request body is larger than the limit",
}
_MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def document(router: APIRouter) -> None:
    """List in the OpenAPI schema the errors each operation can answer, so a client
    (and the schema fuzzing in the tests) knows them: 400 anywhere (a foreign Host), 404
    where a path names something, 409 where the state may forbid a change, 413 where a
    body is sent."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        methods = route.methods or set()
        wanted = [400]
        if "{" in route.path:
            wanted.append(404)
        if methods & _MUTATING:
            wanted += [409, 413]
        for status in wanted:
            route.responses.setdefault(status, _response(status))


def _response(status: int) -> dict[str, Any]:
    if status == 400:  # Starlette's TrustedHostMiddleware answers in plain text
        return {
            "description": _ERRORS[status],
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    return {"description": _ERRORS[status], "model": ErrorDetail}


def install(app: FastAPI) -> None:
    app.add_exception_handler(NotFound, _not_found)  # type: ignore[arg-type]
    app.add_exception_handler(Conflict, _conflict)  # type: ignore[arg-type]
    app.add_exception_handler(IntegrityError, _integrity)  # type: ignore[arg-type]
    app.add_exception_handler(DataError, _data_error)  # type: ignore[arg-type]
    app.add_exception_handler(Invalid, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _request_invalid)  # type: ignore[arg-type]
    app.add_exception_handler(RPCError, _temporal_unavailable)  # type: ignore[arg-type]


async def _not_found(_request: Request, error: NotFound) -> JSONResponse:
    return JSONResponse(status_code=404, content={"detail": str(error)})


async def _conflict(_request: Request, error: Conflict) -> JSONResponse:
    return JSONResponse(status_code=409, content={"detail": str(error)})


async def _integrity(_request: Request, _error: IntegrityError) -> JSONResponse:
    # A uniqueness race the store did not anticipate: still the caller's conflict, not a 500.
    return JSONResponse(
        status_code=409, content={"detail": "conflicts with data written at the same time"}
    )


async def _data_error(_request: Request, error: DataError) -> JSONResponse:
    # Bodies are checked by the schemas; this catches a NUL character that reaches
    # PostgreSQL from elsewhere (a query parameter): the input, not a bug. Any other
    # data error is a bug and stays a 500.
    if "NUL" not in str(error.orig):
        raise error
    return JSONResponse(
        status_code=422,
        content={
            "detail": [
                {
                    "type": "data_error",
                    "loc": ["query"],
                    "msg": "a value contains a NUL character (U+0000), which the "
                    "database cannot compare or store",
                }
            ]
        },
    )


async def _temporal_unavailable(_request: Request, error: RPCError) -> JSONResponse:
    # The caller may retry: enrollment removed its trip row unless the workflow may have
    # started, in which case the kept row makes a retry respect the re-entry setting.
    return JSONResponse(
        status_code=503, content={"detail": f"Temporal did not accept the request: {error.message}"}
    )


async def _invalid(_request: Request, error: Invalid) -> JSONResponse:
    detail = [{"type": p.type, "loc": list(p.loc), "msg": p.msg} for p in error.problems]
    return JSONResponse(status_code=422, content={"detail": detail})


async def _request_invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
    detail: list[dict[str, Any]] = []
    for entry in error.errors():
        detail.extend(_explain(entry, error.body))
    return JSONResponse(status_code=422, content={"detail": jsonable_encoder(detail)})


def _explain(entry: dict[str, Any], body: Any) -> list[dict[str, Any]]:
    loc = list(entry.get("loc", ()))
    ctx = entry.get("ctx") or {}
    if entry.get("type") == "journey_graph" and "issues" in ctx:
        # One entry per graph issue, each located at the step field it is about.
        return [
            {"type": "journey_graph", "loc": [*loc, *issue["loc"]], "msg": issue["msg"]}
            for issue in ctx["issues"]
        ]
    msg = str(entry.get("msg", ""))
    if entry.get("type") == "value_error":
        msg = msg.removeprefix("Value error, ")
    explained: dict[str, Any] = {
        "type": entry.get("type"),
        "loc": loc,
        "msg": _name_step(loc, msg, body),
    }
    if "input" in entry and _json_safe(entry["input"]):
        # Echoed only when JSON can carry it: a NaN sent by a lenient client would
        # otherwise turn this 422 into a 500.
        explained["input"] = entry["input"]
    return [explained]


def _json_safe(value: Any) -> bool:
    """Whether the response can carry `value`: no NaN, no lone surrogate, no bytes that
    are not UTF-8 (Unicode errors are ValueErrors too)."""
    try:
        json.dumps(jsonable_encoder(value), allow_nan=False, ensure_ascii=False).encode()
    except (TypeError, ValueError):
        return False
    return True


def _name_step(loc: list[Any], msg: str, body: Any) -> str:
    """Prefix a definition step's error with the step's id: a marketer knows steps by name."""
    if len(loc) < 4 or loc[:3] != ["body", "definition", "steps"] or not isinstance(loc[3], int):
        return msg
    try:
        step_id = body["definition"]["steps"][loc[3]]["id"]
    except (KeyError, IndexError, TypeError):
        return msg
    return f"step '{step_id}': {msg}" if isinstance(step_id, str) else msg
