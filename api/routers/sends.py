"""The send ledger, to find mails that may not have gone out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Limit, Offset, SessionDep
from api.schemas.sends import SendPublic, SendsPublic
from api.security import allow
from domain.statuses import SendStatus
from store import sends
from store.keys import Scope

router = APIRouter(prefix="/sends", tags=["sends"])


@router.get(
    "",
    dependencies=[allow(Scope.support, Scope.operator)],
    response_model=SendsPublic,
    description="Sends, most recently changed first. `status=uncertain` lists the mails "
    "whose SMTP transaction was cut off (a crash): they may or may not have arrived and "
    "are never resent by themselves.",
)
def list_sends(
    session: SessionDep,
    status: Annotated[SendStatus | None, Query()] = None,
    journey_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> SendsPublic:
    rows, count = sends.list_page(
        session, status=status, journey_id=journey_id, limit=limit, offset=offset
    )
    return SendsPublic(data=[SendPublic.model_validate(r) for r in rows], count=count)
