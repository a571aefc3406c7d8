"""What a message in the bounce mailbox reports: bounces (DSNs, RFC 3464) and spam
complaints (ARF, RFC 5965), and which of our sends each is about. Pure: bytes in,
reports out.

Which send is decided from what a stranger cannot forge: the signed VERP address the
report came back to (or that the original carried), the signed `X-Reisplan-Send` header
of the attached original; else the original's Message-ID, which only a receiver of the
mail should know. Anything else in a report is the word of whoever sent it, and a
forged report must not be able to suppress someone's address.

Details keep the status code and the diagnostic text with every email address replaced
by `<address>`: they are stored and shown, and must not hold personal data.
"""

from __future__ import annotations

import email
import email.parser
import email.utils
import hashlib
import hmac
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from typing import Literal

from flufl.bounce import all_failures

from activities.mail import tokens, verp
from activities.mail.message import SEND_HEADER

Kind = Literal["hard", "soft", "complaint"]


# Where the address a report was delivered to shows up, as MTAs and mailbox servers
# write it (Postfix: X-Original-To and Delivered-To; Exim: Envelope-To).
_RECEIVED_AT = ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To")
_COMPLAINTS = frozenset({"abuse", "fraud"})  # RFC 5965: the recipient called it spam
_IGNORED_ACTIONS = frozenset({"delivered", "relayed", "expanded"})
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_SMTP_REPLY = re.compile(r"\b([245])\d\d\b")
_ADDRESS = re.compile(r"<?[^\s<>()\[\],;:\"']+@[^\s<>()\[\],;:\"']+>?")
_SIGNED_SEND = re.compile(r"^(?P<send>\d{1,18})-(?P<sig>[A-Za-z0-9_-]+)$")
_HEADER_LINE = r"^{name}:[ \t]*(?P<value>\S[^\r\n]*)"
_DETAIL_LENGTH = 300
_KEY_LENGTH = 300  # SendFeedback.dedupe_key


@dataclass(frozen=True)
class Report:
    """One thing a message reports about one of our sends.

    `send_id` is set only when a signature proved it; `message_id` is the original's
    Message-ID, for finding the send when no signature was there.
    """

    send_id: int | None
    message_id: str | None
    kind: Kind
    code: str  # a DSN status ("5.1.1"), an ARF feedback type ("abuse"), or ""
    detail: str
    dedupe_key: str


def send_header(secret: bytes, send_id: int) -> str:
    """The value of `X-Reisplan-Send` for a send: its id, signed like its VERP address,
    so a complaint quoting the header names the send and a forged one names nothing."""
    return f"{send_id}-{tokens.signature(secret, f'b{send_id}')}"


def parse(raw: bytes, secret: bytes) -> list[Report]:
    """The reports in one raw message: none when it is no bounce or complaint (an
    auto-reply, a success notice, spam)."""
    message = email.message_from_bytes(raw)
    found: dict[Kind, tuple[str, str]] = {}
    feedback = _first(message, "message/feedback-report")
    # message/global-delivery-status: the same for internationalised mail (RFC 6533).
    status = _first(message, "message/delivery-status", "message/global-delivery-status")
    if feedback is not None:
        complaint = _complaint(feedback)
        if complaint is not None:
            found["complaint"] = complaint
    elif status is not None:
        for kind, code, detail in _delivery_failures(status):
            found.setdefault(kind, (code, detail))
    elif _looks_like_a_bounce(message):
        found.update(_non_standard_failures(message))
    if not found:
        return []
    original = _original_headers(message)
    send_id = _signed_send(message, feedback, original, secret)
    message_id = _message_id(_text(original.get("Message-ID")) if original is not None else None)
    if message_id is None and original is None:
        message_id = _message_id(_quoted_header(message, "Message-ID"))
    key = _dedupe_base(message, raw)
    return [
        Report(
            send_id=send_id,
            message_id=message_id,
            kind=kind,
            code=code,
            detail=detail,
            dedupe_key=f"{key}:{kind}",
        )
        for kind, (code, detail) in found.items()
    ]


def scrub(text: str) -> str:
    """One line, addresses replaced, cut to a length fit to store and show."""
    flat = " ".join(_ADDRESS.sub("<address>", text).split())
    return flat[:_DETAIL_LENGTH]


# --- what is reported ------------------------------------------------------------------


def _delivery_failures(part: Message) -> Iterator[tuple[Kind, str, str]]:
    """Per failed recipient block of a message/delivery-status part: (kind, status,
    detail). The first block holds the per-message fields and names no recipient."""
    blocks = [b for b in _blocks(part) if b.get("Final-Recipient") or b.get("Action")]
    for block in blocks:
        action = _text(block.get("Action")).strip().lower()
        if action in _IGNORED_ACTIONS:
            continue
        diagnostic = _text(block.get("Diagnostic-Code"))
        found = _STATUS.search(_text(block.get("Status"))) or _STATUS.search(diagnostic)
        if found is not None:
            code = found.group(0)
            severity = found.group(1)
        else:
            reply = _SMTP_REPLY.search(diagnostic)
            code = ""
            severity = reply.group(1) if reply else {"failed": "5", "delayed": "4"}.get(action)
        if severity is None or severity == "2":
            continue
        kind: Kind = "hard" if severity == "5" and not _policy(code) else "soft"
        if action == "delayed":
            kind = "soft"
        said = (diagnostic.partition(";")[2] or diagnostic).strip()
        label = code or action
        yield kind, code, scrub(said if label and label in said else f"{label} {said}")


def _policy(code: str) -> bool:
    """5.7.x is the receiver's policy about us (authentication, reputation, content):
    a reason to look at our sending, not proof the address is gone, so it counts as a
    soft bounce (suppressing at the policy's limit) instead of suppressing at once."""
    return code.startswith("5.7.")


def _complaint(part: Message) -> tuple[str, str] | None:
    fields = _blocks(part)
    if not fields:
        return None
    block = fields[0]
    kind = _text(block.get("Feedback-Type")).strip().lower()
    if kind not in _COMPLAINTS:
        return None  # not-spam, auth-failure, virus, other: no complaint about a send
    agent = _text(block.get("User-Agent")).strip()
    detail = f"{kind} report" + (f" by {agent}" if agent else "")
    return kind, scrub(detail)


def _looks_like_a_bounce(message: Message) -> bool:
    """Only mail from a mail system: flufl.bounce's pattern detectors would read "user
    unknown" in a person's reply as a failure, and a failure suppresses."""
    sender = _text(message.get("Return-Path")).strip()
    if sender == "<>":
        return True
    _, address = email.utils.parseaddr(_text(message.get("From")))
    return address.partition("@")[0].lower() in {"mailer-daemon", "postmaster"}


def _non_standard_failures(message: Message) -> dict[Kind, tuple[str, str]]:
    temporary, permanent = all_failures(message)
    found: dict[Kind, tuple[str, str]] = {}
    if permanent:
        found["hard"] = ("", "permanent failure (non-standard bounce)")
    elif temporary:
        found["soft"] = ("", "temporary failure (non-standard bounce)")
    return found


# --- which send -------------------------------------------------------------------------


def _signed_send(
    message: Message, feedback: Message | None, original: Message | None, secret: bytes
) -> int | None:
    addresses = [v for name in _RECEIVED_AT for v in _all(message, name)]
    addresses += _all(message, "Return-Path")
    if feedback is not None:
        for block in _blocks(feedback)[:1]:
            addresses += _all(block, "Original-Mail-From")
    if original is not None:
        addresses += _all(original, "Return-Path")
    for _, address in email.utils.getaddresses(addresses):
        send_id = verp.send_id_of(address, secret) if address else None
        if send_id is not None:
            return send_id
    headers = _all(original, SEND_HEADER) if original is not None else []
    headers = headers or [v for v in [_quoted_header(message, SEND_HEADER)] if v]
    for value in headers:
        send_id = _signed_header(value, secret)
        if send_id is not None:
            return send_id
    return None


def _signed_header(value: str, secret: bytes) -> int | None:
    found = _SIGNED_SEND.match(value.strip())
    if found is None:
        return None  # a bare id proves nothing: anyone can write one
    send_id = int(found["send"])
    if not hmac.compare_digest(tokens.signature(secret, f"b{send_id}"), found["sig"]):
        return None
    return send_id


def _original_headers(message: Message) -> Message | None:
    """The headers of the message that bounced or was complained about."""
    for part in message.walk():
        kind = part.get_content_type()
        if kind in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
        elif kind in ("text/rfc822-headers", "message/global-headers"):
            text = _decoded_text(part)
            return email.parser.HeaderParser().parsestr(text.lstrip())
    return None


def _quoted_header(message: Message, name: str) -> str | None:
    """A header of the original quoted as text in the body (qmail, Exchange and others
    that attach nothing): the first line `Name: value` of a text part."""
    pattern = re.compile(_HEADER_LINE.format(name=re.escape(name)), re.IGNORECASE | re.MULTILINE)
    for part in message.walk():
        if part.get_content_maintype() != "text":
            continue
        found = pattern.search(_decoded_text(part))
        if found is not None:
            return found["value"].strip()
    return None


def _message_id(value: str | None) -> str | None:
    if not value:
        return None
    value = "".join(value.split())
    if not value.startswith("<"):
        value = f"<{value}>"
    return value if 3 <= len(value) <= 300 and value.endswith(">") else None


def _dedupe_base(message: Message, raw: bytes) -> str:
    """`mailbox:<report's Message-ID>`: the same message read again is the same report.
    One without a Message-ID (or with an outsized one) is known by its bytes."""
    report_id = "".join(_text(message.get("Message-ID")).split())
    key = f"mailbox:{report_id}"
    if not report_id or len(key) > _KEY_LENGTH - len(":complaint"):
        key = "mailbox:sha256:" + hashlib.sha256(raw).hexdigest()
    return key


# --- reading parts ----------------------------------------------------------------------


def _first(message: Message, *content_types: str) -> Message | None:
    return next((p for p in message.walk() if p.get_content_type() in content_types), None)


def _blocks(part: Message) -> list[Message]:
    """The header blocks of a message/delivery-status or message/feedback-report part.
    The stdlib splits message/delivery-status into its blocks, parses other message/*
    parts as one embedded message (the first block; the rest is its body), and leaves
    a part it could not parse as text."""
    payload = part.get_payload()
    if not isinstance(payload, list):
        return _split_blocks(_decoded_text(part))
    blocks: list[Message] = []
    for block in payload:
        if isinstance(block, Message):
            blocks.append(block)
            rest = block.get_payload()
            if isinstance(rest, str) and rest.strip():
                blocks += _split_blocks(rest)
    return blocks


def _split_blocks(text: str) -> list[Message]:
    return [
        email.parser.HeaderParser().parsestr(chunk.strip() + "\n")
        for chunk in re.split(r"\r?\n[ \t]*\r?\n", text)
        if chunk.strip()
    ]


def _decoded_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        charset = part.get_content_charset() or "utf-8"
        try:
            return payload.decode(charset, errors="replace")
        except LookupError:  # a charset Python does not know
            return payload.decode("utf-8", errors="replace")
    raw = part.get_payload()
    return raw if isinstance(raw, str) else ""


def _all(message: Message, name: str) -> list[str]:
    return [_text(value) for value in message.get_all(name) or []]


def _text(value: object) -> str:
    """A header value as text: compat32 hands back a Header object for raw 8-bit."""
    return "" if value is None else str(value)
