"""The SMTP pool against real aiosmtpd servers: reuse, recycling, reconnecting."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from activities.mail.smtp import Phase, SmtpPool, SmtpReply, SmtpUnavailable
from tests.support.smtp import SinkHandler, free_port

PAYLOAD = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nhello\r\n"


class _CountingHandler(SinkHandler):
    """Counts connections (one EHLO each) and can refuse the sender."""

    def __init__(self) -> None:
        super().__init__()
        self.greetings: list[str] = []
        self.refuse_sender: str | None = None

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.greetings.append(hostname)
        session.host_name = hostname
        return responses

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.refuse_sender:
            return self.refuse_sender
        envelope.mail_from = address
        return "250 OK"


@pytest.fixture
def server() -> Iterator[tuple[Controller, _CountingHandler]]:
    handler = _CountingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, handler
    controller.stop()


def _pool(port: int, **options: Any) -> SmtpPool:
    values: dict[str, Any] = dict(
        host="127.0.0.1", port=port, size=2, timeout=5, local_hostname="worker.test"
    )
    values.update(options)
    return SmtpPool(**values)


async def _send(pool: SmtpPool, n: int = 1) -> None:
    for _ in range(n):
        await pool.send(sender="a@example.org", recipient="b@example.org", payload=PAYLOAD)


async def test_connections_are_kept_open_between_sends(
    server: tuple[Controller, _CountingHandler],
) -> None:
    controller, handler = server
    pool = _pool(controller.port)
    try:
        await _send(pool, 6)
    finally:
        await pool.close()
    assert len(handler.messages) == 6
    # Sequential sends reuse one connection; our name is given, not looked up.
    assert handler.greetings == ["worker.test"]


async def test_connections_are_recycled_after_n_messages(
    server: tuple[Controller, _CountingHandler],
) -> None:
    controller, handler = server
    pool = _pool(controller.port, size=1, recycle_after=2)
    try:
        await _send(pool, 5)
    finally:
        await pool.close()
    assert len(handler.messages) == 5
    assert len(handler.greetings) == 3


async def test_a_pool_made_while_the_relay_is_down_works_once_it_is_up() -> None:
    port = free_port()
    pool = _pool(port)
    try:
        with pytest.raises(SmtpUnavailable):
            await _send(pool)
        handler = SinkHandler()
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            await _send(pool)
        finally:
            controller.stop()
    finally:
        await pool.close()
    assert len(handler.messages) == 1


async def test_a_restarted_relay_is_reconnected_to() -> None:
    port = free_port()
    before, after = SinkHandler(), SinkHandler()
    pool = _pool(port, size=1)
    try:
        first = Controller(before, hostname="127.0.0.1", port=port)
        first.start()
        await _send(pool)
        first.stop()  # drops the pooled connection
        second = Controller(after, hostname="127.0.0.1", port=port)
        second.start()
        try:
            await _send(pool)
        finally:
            second.stop()
    finally:
        await pool.close()
    assert (len(before.messages), len(after.messages)) == (1, 1)


async def test_a_refused_sender_is_not_a_refused_recipient(
    server: tuple[Controller, _CountingHandler],
) -> None:
    controller, handler = server
    handler.refuse_sender = "550 5.7.1 sender not allowed"
    pool = _pool(controller.port, size=1)
    try:
        with pytest.raises(SmtpReply) as raised:
            await _send(pool)
        # The connection survives a refusal: the next transaction goes through.
        handler.refuse_sender = None
        await _send(pool)
    finally:
        await pool.close()
    assert (raised.value.code, raised.value.phase) == (550, Phase.sender)
    assert raised.value.permanent and not raised.value.about_recipient
    assert len(handler.messages) == 1
    assert len(handler.greetings) == 1
