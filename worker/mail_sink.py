"""The development SMTP sink: accepts every message and keeps it in a Maildir.

`reisplan dev` points the worker's SMTP settings here, and the API's /dev/mail reads the
same Maildir, so a marketer sees what a journey sent without a real mail server. A
recipient whose address starts with `bounce` is refused with 550 5.1.1, as a receiving
server refuses an unknown mailbox: that is how a hard bounce (and a journey reacting to
`email_bounced`) can be tried on one machine.
"""

from __future__ import annotations

import email
import email.policy
import logging
import mailbox
import signal
import threading
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

log = logging.getLogger("reisplan.mail_sink")
BOUNCING = "bounce"


class MaildirHandler:
    def __init__(self, directory: Path) -> None:
        # Maildir(create=True) makes tmp/new/cur only when the top folder is new; another
        # process (the API) may have made that one already.
        for sub in ("tmp", "new", "cur"):
            (directory / sub).mkdir(parents=True, exist_ok=True)
        self.maildir = mailbox.Maildir(directory, create=False)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.lower().startswith(BOUNCING):
            log.info(
                "refused mail to %s (a hard bounce: the address starts with %r)", address, BOUNCING
            )
            return f"550 5.1.1 <{address}>: no such mailbox (the dev sink refuses '{BOUNCING}...')"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        # As a delivering MTA does (RFC 5321 4.4): the envelope sender, here the VERP
        # address a bounce would go to, becomes the Return-Path header.
        content: bytes = f"Return-Path: <{envelope.mail_from}>\r\n".encode() + envelope.content
        message = email.message_from_bytes(content, policy=email.policy.default)
        # Maildir writes to tmp/ and renames into new/: a reader never sees half a message.
        self.maildir.add(content)
        log.info("received mail to %s: %s", ", ".join(envelope.rcpt_tos), message["Subject"])
        return "250 Message accepted for delivery"


def serve(host: str, port: int, directory: Path, stop: threading.Event) -> None:
    """Run the sink until `stop` is set."""
    # aiosmtpd logs every SMTP command at INFO; one line per message is ours to log.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    controller = Controller(MaildirHandler(directory), hostname=host, port=port)
    controller.start()
    log.info("SMTP sink listening on %s:%d, keeping mail in %s", host, port, directory)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        controller.stop()
        log.info("SMTP sink stopped")


def run(host: str, port: int, directory: Path) -> int:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    serve(host, port, directory, stop)
    return 0
