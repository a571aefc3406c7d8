"""A small pool of persistent aiosmtplib connections (aiosmtplib has none of its own).

One `SMTP` client runs one transaction at a time, so the pool keeps N of them, connects
lazily (a worker starts even while the relay is down; its sends then retry), reconnects
when a connection dropped and recycles each one after `recycle_after` messages.

Failures are sorted by what they mean for the message, which is what the send ledger
needs to know:
- `SmtpReply`: the server answered with an error code; the message was not accepted.
- `SmtpUnavailable`: connecting or talking failed before the DATA command; not sent.
- `DeliveryUnknown`: the connection failed after DATA began; the message may have been
  accepted, so it must not be sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from aiosmtplib import SMTP, SMTPResponseException


class Phase(StrEnum):
    connect = "connect"  # connect, EHLO, STARTTLS, AUTH
    sender = "sender"  # MAIL FROM
    recipient = "recipient"  # RCPT TO
    data = "data"  # DATA and the message itself


class SmtpReply(Exception):
    """The server refused with a reply code (4xx temporary, 5xx permanent)."""

    def __init__(self, code: int, message: str, phase: Phase) -> None:
        super().__init__(f"{code} {message}".strip())
        self.code = code
        self.message = message
        self.phase = phase

    @property
    def permanent(self) -> bool:
        return self.code >= 500

    @property
    def about_recipient(self) -> bool:
        """A refusal of this recipient or this message (a bounce when permanent), as opposed
        to one of us as a sender (authentication, policy), which means: pause, retry."""
        return self.phase in (Phase.recipient, Phase.data)


class SmtpUnavailable(Exception):
    """The relay could not be reached or dropped us before DATA: nothing was sent."""


class DeliveryUnknown(Exception):
    """The connection failed after the DATA command began: the message may have gone."""


class _Aborted(Exception):
    """Carries an exception of the `before_data` callback past the SMTP error handling."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass
class _Progress:
    phase: Phase = Phase.connect


@dataclass
class _Slot:
    client: SMTP
    sent: int = 0


class SmtpPool:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        size: int = 10,
        timeout: float = 10.0,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        local_hostname: str | None = None,
        recycle_after: int = 100,
    ) -> None:
        if size < 1:
            raise ValueError("an SMTP pool needs at least one connection")
        self.host = host
        self.port = port
        self.size = size
        self.timeout = timeout
        self._username = username
        self._password = password
        self._starttls = starttls
        # Given explicitly: otherwise every connect resolves our FQDN in a thread.
        self._local_hostname = local_hostname or "localhost"
        self._recycle_after = recycle_after
        # Made on first use, inside the event loop that runs the activities.
        self._idle: asyncio.LifoQueue[_Slot] | None = None

    def _new_client(self) -> SMTP:
        return SMTP(
            hostname=self.host,
            port=self.port,
            timeout=self.timeout,
            local_hostname=self._local_hostname,
            username=self._username,
            password=self._password,
            start_tls=self._starttls,
        )

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[_Slot]:
        if self._idle is None:
            # Last in, first out: a warm connection is reused, idle ones stay unopened.
            self._idle = asyncio.LifoQueue()
            for _ in range(self.size):
                self._idle.put_nowait(_Slot(self._new_client()))
        slot = await self._idle.get()
        try:
            yield slot
        finally:
            self._idle.put_nowait(slot)

    async def send(
        self,
        *,
        sender: str,
        recipient: str,
        payload: bytes,
        before_data: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Run one mail transaction. `before_data` runs after the recipient is accepted and
        right before DATA (the send ledger marks the point of no return there); if it
        raises, the transaction is reset and its exception propagates.

        `before_data` runs inside the send's timeout. When the timeout strikes while it
        runs, it sees a cancellation and must settle its own effects before re-raising
        it; the send then fails as `SmtpUnavailable`, since DATA never began."""
        async with self._slot() as slot:
            progress = _Progress()
            try:
                async with asyncio.timeout(self.timeout):
                    kept = slot.client.is_connected
                    try:
                        await self._transaction(
                            slot, progress, sender, recipient, payload, before_data
                        )
                    except ConnectionError:
                        if not (kept and progress.phase is Phase.sender):
                            raise
                        # The server closed the kept connection while it sat idle. Nothing
                        # was sent yet, so a fresh connection may try again, once.
                        slot.client.close()
                        progress.phase = Phase.connect
                        await self._transaction(
                            slot, progress, sender, recipient, payload, before_data
                        )
            except _Aborted as aborted:
                await self._reset(slot)
                raise aborted.error from None
            except SMTPResponseException as error:
                await self._reset(slot)
                raise SmtpReply(error.code, error.message, progress.phase) from None
            except (OSError, TimeoutError) as error:
                # Connection errors, disconnects and timeouts all land here.
                slot.client.close()
                reason = f"{type(error).__name__} during {progress.phase.value}"
                if progress.phase is Phase.data:
                    raise DeliveryUnknown(reason) from None
                raise SmtpUnavailable(reason) from None
            except BaseException:
                # Cancelled mid-conversation: the connection's state is unknown.
                slot.client.close()
                raise

    async def _transaction(
        self,
        slot: _Slot,
        progress: _Progress,
        sender: str,
        recipient: str,
        payload: bytes,
        before_data: Callable[[], Awaitable[None]] | None,
    ) -> None:
        await self._ready(slot)
        progress.phase = Phase.sender
        await slot.client.mail(sender)
        progress.phase = Phase.recipient
        await slot.client.rcpt(recipient)
        if before_data is not None:
            try:
                await before_data()
            except Exception as error:
                raise _Aborted(error) from error
        progress.phase = Phase.data
        await slot.client.data(payload)
        slot.sent += 1

    async def _ready(self, slot: _Slot) -> None:
        if slot.sent >= self._recycle_after and slot.client.is_connected:
            await self._quit(slot.client)
            slot.sent = 0
        if not slot.client.is_connected:
            slot.sent = 0
            await slot.client.connect()

    async def _reset(self, slot: _Slot) -> None:
        """After a refusal the connection stays usable once the envelope is reset."""
        if not slot.client.is_connected:
            return
        try:
            async with asyncio.timeout(self.timeout):
                await slot.client.rset()
        except Exception:
            slot.client.close()

    async def _quit(self, client: SMTP) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                await client.quit()
        except Exception:
            pass
        finally:
            client.close()

    async def close(self) -> None:
        """Say goodbye on every idle connection (sends in flight keep theirs)."""
        if self._idle is None:
            return
        slots = []
        while not self._idle.empty():
            slots.append(self._idle.get_nowait())
        await asyncio.gather(
            *(self._quit(slot.client) for slot in slots if slot.client.is_connected)
        )
        for slot in slots:
            slot.sent = 0
            self._idle.put_nowait(slot)
