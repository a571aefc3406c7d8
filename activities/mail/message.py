"""Build the MIME message for one send: text and HTML alternatives, stable Message-ID."""

from __future__ import annotations

import email.policy
from datetime import UTC, datetime
from email.errors import HeaderParseError, MessageDefect
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from activities.mail.render import RenderedMail

TRIP_HEADER = "X-Reisplan-Trip"
# The send's id, signed: a bounce report quoting the original's headers names its send
# by it (activities/mail/bounce_reports.py), and a forged one names nothing.
SEND_HEADER = "X-Reisplan-Send"


class InvalidAddress(ValueError):
    """The relation's address cannot be put in a message (the reason names no address)."""


def recipient(address: str, name: str = "") -> Address:
    """A checked, ASCII-only recipient: internationalised domains go out as IDNA, and
    non-ASCII local parts (which need SMTPUTF8 end to end) are refused."""
    local, _, domain = address.strip().rpartition("@")
    if not local or not domain:
        raise InvalidAddress("not an email address")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise InvalidAddress("domain cannot be encoded") from None
    try:
        return Address(display_name=" ".join(name.split()), username=local, domain=domain)
    except (HeaderParseError, MessageDefect, ValueError) as error:
        raise InvalidAddress(f"not an email address ({type(error).__name__})") from None


def envelope_sender(mail_from: str) -> str:
    """The bare address of a From value like `Reisplan <noreply@example.org>`."""
    return parseaddr(mail_from)[1]


def build_message(
    *,
    mail_from: str,
    to: Address,
    mail: RenderedMail,
    message_id: str,
    trip_id: str,
    send_header: str | None = None,
    list_id: str | None = None,
    unsubscribe_url: str | None = None,
    date: datetime | None = None,
) -> EmailMessage:
    """`unsubscribe_url` marks marketing mail: it gets the RFC 8058 one-click headers and
    `Precedence: bulk`; transactional mail (a receipt) gets neither."""
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = mail_from
    message["To"] = to
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(date or datetime.now(UTC))
    message["Message-ID"] = message_id
    # RFC 3834: sent by a program, so auto-responders do not answer it.
    message["Auto-Submitted"] = "auto-generated"
    if list_id:
        message["List-Id"] = f"<{list_id}>"
    if unsubscribe_url:
        message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message["Precedence"] = "bulk"
    message[TRIP_HEADER] = trip_id
    if send_header is not None:
        message[SEND_HEADER] = send_header
    # Quoted-printable keeps both parts 7-bit clean for any relay, and still readable.
    message.set_content(mail.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(mail.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return message
