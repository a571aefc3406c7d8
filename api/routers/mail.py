"""Mail received by the local SMTP sink of `reisplan dev`, to see what journeys send."""

from __future__ import annotations

import email
import email.policy
import os
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
    newest, count = newest_files(sink, limit)
    messages = [m for m in (_read(path) for path in newest) if m is not None]
    return MailPublic(data=messages, count=count)


def newest_files(directory: Path, limit: int) -> tuple[list[Path], int]:
    """The newest `limit` message files and how many there are: only these few are read
    and parsed, so a sink holding thousands of mails answers as fast as an empty one."""
    found: list[tuple[float, Path]] = []
    for sub in ("new", "cur"):
        try:
            entries = list(os.scandir(directory / sub))
        except FileNotFoundError:
            continue  # the sink creates them on its first message
        for entry in entries:
            try:
                found.append((entry.stat().st_mtime, Path(entry.path)))
            except FileNotFoundError:
                continue  # moved between listing and reading
    found.sort(key=lambda item: item[0], reverse=True)
    return [path for _, path in found[:limit]], len(found)


def _read(path: Path) -> MailMessage | None:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None  # moved from new/ to cur/ meanwhile
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return _summary(parsed)


TRUST_HEADERS = (
    "Return-Path",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "List-Id",
    "Precedence",
    "Auto-Submitted",
    "DKIM-Signature",
    "X-Reisplan-Send",
)


def _summary(message: EmailMessage) -> MailMessage:
    return MailMessage(
        to=str(message.get("To", "")),
        sender=str(message.get("From", "")),
        subject=str(message.get("Subject", "")),
        date=_date(message.get("Date")),
        message_id=message.get("Message-ID"),
        text=_part(message, "plain"),
        html=_part(message, "html"),
        headers={name: str(message[name]) for name in TRUST_HEADERS if message[name] is not None},
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
