from __future__ import annotations

from datetime import datetime

from pydantic import Field

from api.schemas.common import Output
from domain.statuses import SendStatus


class SendPublic(Output):
    id: int
    trip_id: str
    step_id: str
    journey_id: int
    relation_id: int
    template: str
    message_id: str = Field(description="The same for every attempt, so receivers can dedupe")
    status: SendStatus
    detail: str
    attempts: int = Field(description="SMTP transactions started for this send")
    created_at: datetime
    updated_at: datetime


class ResendPublic(Output):
    send: SendPublic
    workflow_id: str = Field(
        description="The Temporal workflow making the send again; the send's status "
        "becomes sent (or bounced, or uncertain again) when it is done"
    )


class SendsPublic(Output):
    data: list[SendPublic]
    count: int
