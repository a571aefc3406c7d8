"""A real SMTP server (aiosmtpd) that keeps what it receives and can refuse on demand."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    # aiosmtpd cannot bind port 0 itself (aiosmtpd#388), so pick one first.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SinkHandler:
    messages: list[EmailMessage] = field(default_factory=list)
    # recipient address -> SMTP reply to give at RCPT, e.g. "550 5.1.1 no such user"
    refuse: dict[str, str] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)  # addresses refused so far, in order
    # Recipients whose message is kept, then the connection cut before the reply: the
    # sender cannot know the mail arrived (as when a relay or the network dies there).
    hang_up: set[str] = field(default_factory=set)
    # recipient address -> replies to give at its next RCPTs, one each, then accept:
    # ["451 4.3.0 try later"] refuses once.
    refuse_next: dict[str, list[str]] = field(default_factory=dict)
    # (envelope sender, message bytes as received): for DKIM checks and VERP.
    received: list[tuple[str, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        queued = self.refuse_next.get(address.lower())
        reply = queued.pop(0) if queued else self.refuse.get(address.lower())
        if reply:
            self.refused.append(address.lower())
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.messages.append(message)
            self.received.append((envelope.mail_from, envelope.original_content or b""))
        if {a.lower() for a in envelope.rcpt_tos} & self.hang_up:
            server.transport.close()
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if m["To"] and address in str(m["To"])]


class SmtpSink:
    def __init__(self) -> None:
        self.handler = SinkHandler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self) -> list[EmailMessage]:
        return self.handler.messages

    def to(self, address: str) -> list[EmailMessage]:
        return self.handler.to(address)

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
