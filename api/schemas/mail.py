from __future__ import annotations

from datetime import datetime

from pydantic import Field

from api.schemas.common import Output


class MailMessage(Output):
    to: str
    sender: str = Field(serialization_alias="from")
    subject: str
    date: datetime | None
    message_id: str | None
    text: str | None = Field(description="The plain-text part")
    html: str | None = Field(description="The HTML part")
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="What a bulk sender is judged by: List-Unsubscribe(-Post), List-Id, "
        "Precedence, Auto-Submitted, DKIM-Signature, the VERP Return-Path, ...",
    )


class MailPublic(Output):
    data: list[MailMessage]
    count: int
