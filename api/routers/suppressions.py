"""The suppression list: addresses never mailed again, whatever the journey.

Addresses travel in request bodies where the API can choose (adding, lifting): a URL
ends up in proxies' and browsers' histories. The list itself shows only hashes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import Limit, Offset, SessionDep
from api.schemas.common import ErrorDetail
from api.schemas.suppressions import (
    AnyAddress,
    SuppressionCheck,
    SuppressionCreate,
    SuppressionLift,
    SuppressionPublic,
    SuppressionsPublic,
)
from api.security import allow
from domain.statuses import SuppressionReason
from store import suppressions
from store.errors import Conflict
from store.keys import Scope

router = APIRouter(prefix="/suppressions", tags=["suppressions"])


@router.get(
    "",
    dependencies=[allow(Scope.operator, Scope.support)],
    response_model=SuppressionsPublic,
    description="The list, newest first: hard bounces, repeated soft bounces, "
    "complaints, unsubscribes and manual entries.",
)
def list_suppressions(
    session: SessionDep,
    reason: Annotated[SuppressionReason | None, Query()] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> SuppressionsPublic:
    rows, count = suppressions.list_page(session, reason=reason, limit=limit, offset=offset)
    return SuppressionsPublic(data=[SuppressionPublic.model_validate(r) for r in rows], count=count)


@router.get(
    "/check",
    dependencies=[allow(Scope.operator, Scope.support)],
    response_model=SuppressionCheck,
    description="Whether an address is on the list, and why.",
)
def check_suppression(
    session: SessionDep, email: Annotated[AnyAddress, Query()]
) -> SuppressionCheck:
    row = suppressions.is_suppressed(session, email)
    if row is None:
        return SuppressionCheck(suppressed=False)
    return SuppressionCheck(suppressed=True, suppression=SuppressionPublic.model_validate(row))


@router.post(
    "",
    dependencies=[allow(Scope.operator)],
    status_code=201,
    response_model=SuppressionPublic,
    responses={200: {"model": SuppressionPublic, "description": "Already on the list"}},
    description="Put an address on the list by hand (reason `manual`): 201, or 200 with "
    "the entry that was already there (its first reason stays).",
)
def add_suppression(
    body: SuppressionCreate, session: SessionDep, response: Response
) -> SuppressionPublic:
    added = suppressions.suppress(session, body.email, SuppressionReason.manual, body.detail)
    row = suppressions.is_suppressed(session, body.email)
    if row is None:  # found there, then lifted by another operator in between
        raise Conflict("the address was taken off the list at the same moment: send again")
    session.commit()
    if not added:
        response.status_code = 200
    return SuppressionPublic.model_validate(row)


@router.post(
    "/lift",
    dependencies=[allow(Scope.operator)],
    status_code=204,
    responses={404: {"model": ErrorDetail, "description": "The address is not on the list"}},
    description="Take an address off the list (a mistaken bounce, a relation who asks to "
    "be mailed again): it may be mailed again when its relation's opt-in allows.",
)
def lift_suppression(body: SuppressionLift, session: SessionDep) -> Response:
    suppressions.lift(session, body.email)
    session.commit()
    return Response(status_code=204)
