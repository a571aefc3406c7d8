"""One send's finished message: tracked links, the one-click unsubscribe, the VERP
return path and the DKIM signature, around the rendered mail."""

from __future__ import annotations

from dataclasses import dataclass, replace
from email.headerregistry import Address

from activities.mail import tracking, verp
from activities.mail.bounce_reports import send_header
from activities.mail.dkim import DkimSigner
from activities.mail.message import build_message
from activities.mail.render import RenderedMail


@dataclass(frozen=True)
class Sender:
    """Who we send as and where relations reach us back (from the settings)."""

    mail_from: str
    mail_domain: str
    public_url: str
    secret: bytes
    list_id: str
    bounce_address: str
    dkim: DkimSigner | None = None


@dataclass(frozen=True)
class Outgoing:
    return_path: str  # the envelope sender: VERP, so a bounce names its send
    recipient: str
    payload: bytes


def compose(
    sender: Sender,
    *,
    to: Address,
    mail: RenderedMail,
    message_id: str,
    trip_id: str,
    send_id: int,
    links: list[str],
    transactional: bool,
) -> Outgoing:
    base = sender.public_url.rstrip("/")
    html = tracking.rewrite_links(
        mail.html, links, send_id=send_id, base_url=base, secret=sender.secret
    )
    message = build_message(
        mail_from=sender.mail_from,
        to=to,
        mail=replace(mail, html=html),
        message_id=message_id,
        trip_id=trip_id,
        send_header=send_header(sender.secret, send_id),
        list_id=sender.list_id,
        unsubscribe_url=(
            None if transactional else tracking.unsubscribe_url(base, sender.secret, send_id)
        ),
    )
    payload = message.as_bytes()
    if sender.dkim is not None:
        payload = sender.dkim.sign(payload)
    return Outgoing(
        return_path=verp.return_path(sender.bounce_address, sender.secret, send_id),
        recipient=to.addr_spec,
        payload=payload,
    )
