"""The send ledger, to find mails that may not have gone out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.contracts import RESEND_EMAIL_WORKFLOW, ResendEmailInput, resend_workflow_id
from api.deps import EngineDep, IdPath, Limit, Offset, SessionDep, TaskQueueDep, TemporalDep
from api.schemas.sends import ResendPublic, SendPublic, SendsPublic
from api.security import allow
from domain.statuses import SendStatus
from store import ledger, sends
from store.errors import Conflict
from store.keys import Scope
from store.models import Send

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


@router.get(
    "/{send_id}", dependencies=[allow(Scope.support, Scope.operator)], response_model=SendPublic
)
def read_send(send_id: IdPath, session: SessionDep) -> SendPublic:
    return SendPublic.model_validate(sends.get(session, send_id))


@router.post(
    "/{send_id}/resend",
    dependencies=[allow(Scope.operator)],
    status_code=202,
    response_model=ResendPublic,
    description="Make an uncertain send again, with the same Message-ID (a receiver that "
    "got the first copy can drop the second). 409 unless the send is uncertain.",
)
async def resend(
    send_id: IdPath, engine: EngineDep, temporal: TemporalDep, task_queue: TaskQueueDep
) -> ResendPublic:
    row = await run_in_threadpool(_uncertain, engine, send_id)
    # One resend per uncertain episode: a repeated request finds the workflow started.
    workflow_id = resend_workflow_id(row.key, row.attempts)
    try:
        await temporal.start_workflow(
            RESEND_EMAIL_WORKFLOW,
            ResendEmailInput(send_key=row.key, attempts=row.attempts),
            id=workflow_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=f"resend of {row.key}",
        )
    except WorkflowAlreadyStartedError:
        raise Conflict(f"send {send_id} is already being resent ({workflow_id})") from None
    return ResendPublic(send=SendPublic.model_validate(row), workflow_id=workflow_id)


@router.post(
    "/{send_id}/dismiss",
    dependencies=[allow(Scope.operator)],
    response_model=SendPublic,
    description="Decide not to resend an uncertain send; it counts as `dismissed`. 409 "
    "unless the send is uncertain.",
)
def dismiss(send_id: IdPath, engine: EngineDep) -> SendPublic:
    row = _uncertain(engine, send_id)
    if not ledger.dismiss(engine, row.key):
        raise Conflict(f"send {send_id} changed meanwhile; it is no longer uncertain")
    with Session(engine) as session:
        return SendPublic.model_validate(sends.get(session, send_id))


def _uncertain(engine: Engine, send_id: int) -> Send:
    with Session(engine, expire_on_commit=False) as session:
        row = sends.get(session, send_id)
    if row.status != SendStatus.uncertain:
        raise Conflict(f"send {send_id} is {row.status}, not uncertain: nothing to decide")
    return row
