"""Mail received by the local SMTP sink of `reisplan dev`, to see what journeys send."""

from __future__ import annotations

import email
import email.policy
import mailbox
from datetime import datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

from fastapi import APIRouter

from api.deps import Limit, MailSinkDirDep
from api.schemas.mail import MailMessage, MailPublic
from api.security import allow
from store.errors import NotFound
from store.keys import Scope

router = APIRouter(prefix="/dev", tags=["dev"])


@router.get(
    "/mail",
    dependencies=[allow(Scope.app, Scope.operator, Scope.support)],
    response_model=MailPublic,
    response_model_by_alias=True,
    description="Messages the dev mail sink received, newest first. 404 unless the API "
    "runs with a mail sink (`reisplan dev`).",
)
def list_mail(sink: MailSinkDirDep, limit: Limit = 50) -> MailPublic:
    if sink is None:
        raise NotFound("mail sink", "(only `reisplan dev` runs one)")
    messages = read_maildir(sink)
    return MailPublic(data=messages[:limit], count=len(messages))


def read_maildir(directory: Path) -> list[MailMessage]:
    if not (directory / "cur").is_dir():
        return []  # the sink creates it on its first message
    box = mailbox.Maildir(directory, create=False)
    received: list[tuple[float, MailMessage]] = []
    for key in box.iterkeys():
        try:
            stored = box.get_message(key)
            raw = box.get_bytes(key)
        except (KeyError, FileNotFoundError):
            continue  # moved between listing and reading
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        received.append((stored.get_date(), _summary(parsed)))
    received.sort(key=lambda item: item[0], reverse=True)
    return [message for _, message in received]


def _summary(message: EmailMessage) -> MailMessage:
    return MailMessage(
        to=str(message.get("To", "")),
        sender=str(message.get("From", "")),
        subject=str(message.get("Subject", "")),
        date=_date(message.get("Date")),
        message_id=message.get("Message-ID"),
        text=_part(message, "plain"),
        html=_part(message, "html"),
    )


def _part(message: EmailMessage, subtype: str) -> str | None:
    body = message.get_body(preferencelist=(subtype,))
    if body is None or body.get_content_subtype() != subtype:
        return None
    content = body.get_content()
    return content if isinstance(content, str) else None


def _date(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        return parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
