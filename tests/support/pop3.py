"""A small but real POP3 server (RFC 1939) on 127.0.0.1, for the bounce mailbox tests.

It runs on an event loop of its own thread (tests.support.threaded_server). Messages
deleted in a session (DELE) leave the maildrop only when that session ends with QUIT,
as the RFC says; a session that breaks off deletes nothing. One session at a time holds the
maildrop; a second is refused, as servers that lock it do.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from dataclasses import dataclass
from urllib.parse import quote

from tests.support.threaded_server import ThreadedServer


@dataclass(frozen=True)
class Stored:
    uid: str
    raw: bytes

    def lines(self) -> list[bytes]:
        return self.raw.replace(b"\r\n", b"\n").rstrip(b"\n").split(b"\n")

    @property
    def octets(self) -> int:
        return sum(len(line) + 2 for line in self.lines())


class Pop3Server:
    def __init__(self, username: str = "bounces", password: str = "p@ss:word") -> None:
        self.username = username
        self.password = password
        self.port = 0
        self._lock = threading.Lock()
        self._messages: list[Stored] = []
        self._held = False
        self._uids = itertools.count(1)
        self._tcp = ThreadedServer(self._serve)

    @property
    def url(self) -> str:
        """The settings' form, with the password %-encoded."""
        user, password = quote(self.username, safe=""), quote(self.password, safe="")
        return f"pop3://{user}:{password}@127.0.0.1:{self.port}"

    def put(self, raw: bytes) -> None:
        with self._lock:
            self._messages.append(Stored(f"m{next(self._uids)}", raw))

    @property
    def messages(self) -> list[bytes]:
        with self._lock:
            return [stored.raw for stored in self._messages]

    def start(self) -> Pop3Server:
        self._tcp.start()
        self.port = self._tcp.port
        return self

    def stop(self) -> None:
        self._tcp.stop()

    # --- one session ------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = _Session(self, writer)
        try:
            await session.reply("+OK reisplan test POP3 ready")
            while not writer.is_closing():
                line = await reader.readline()
                if not line:
                    break
                if not await session.command(line.rstrip(b"\r\n").decode("utf-8", "replace")):
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            session.release()
            writer.close()

    def _take(self) -> list[Stored] | None:
        with self._lock:
            if self._held:
                return None
            self._held = True
            return list(self._messages)

    def _update(self, deleted: list[Stored]) -> None:
        with self._lock:
            self._messages = [m for m in self._messages if m not in deleted]

    def _release(self) -> None:
        with self._lock:
            self._held = False


class _Session:
    def __init__(self, server: Pop3Server, writer: asyncio.StreamWriter) -> None:
        self._server = server
        self._writer = writer
        self._user: str | None = None
        self._drop: list[Stored] | None = None  # the maildrop, once logged in
        self._deleted: set[int] = set()

    async def reply(self, line: str) -> None:
        self._writer.write(line.encode() + b"\r\n")
        await self._writer.drain()

    async def multiline(self, first: str, lines: list[bytes]) -> None:
        body = b"".join(
            (b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines
        )
        self._writer.write(first.encode() + b"\r\n" + body + b".\r\n")
        await self._writer.drain()

    def release(self) -> None:
        if self._drop is not None:
            self._server._release()
            self._drop = None

    async def command(self, line: str) -> bool:
        """Answer one command; False when the session is over."""
        word, _, argument = line.partition(" ")
        word = word.upper()
        if word == "QUIT":
            if self._drop is not None:  # UPDATE state: only now do deletions happen
                self._server._update([self._drop[n - 1] for n in self._deleted])
            # Before the reply: a client that logs in again right after finds it free.
            self.release()
            await self.reply("+OK bye")
            return False
        if word == "CAPA":
            await self.multiline("+OK capabilities follow", [b"USER", b"UIDL"])
        elif word == "NOOP" and self._drop is not None:
            await self.reply("+OK")
        elif self._drop is None:
            await self._authorize(word, argument)
        else:
            await self._transact(word, argument.strip())
        return True

    async def _authorize(self, word: str, argument: str) -> None:
        if word == "USER":
            self._user = argument
            await self.reply("+OK send PASS")
        elif word == "PASS" and self._user is not None:
            if (self._user, argument) != (self._server.username, self._server.password):
                self._user = None
                await self.reply("-ERR authentication failed")
                return
            drop = self._server._take()
            if drop is None:
                await self.reply("-ERR [IN-USE] maildrop already locked")
                return
            self._drop = drop
            await self.reply(f"+OK {len(drop)} messages")
        else:
            await self.reply("-ERR log in first")

    async def _transact(self, word: str, argument: str) -> None:
        assert self._drop is not None
        live = [(n, m) for n, m in enumerate(self._drop, 1) if n not in self._deleted]
        if word == "STAT":
            await self.reply(f"+OK {len(live)} {sum(m.octets for _, m in live)}")
        elif word in ("LIST", "UIDL"):

            def show(n: int, m: Stored) -> str:
                return f"{n} {m.octets if word == 'LIST' else m.uid}"

            if argument:
                found = self._message(argument)
                if found is None:
                    await self.reply("-ERR no such message")
                else:
                    await self.reply(f"+OK {show(int(argument), found)}")
            else:
                await self.multiline("+OK", [show(n, m).encode() for n, m in live])
        elif word == "RETR":
            found = self._message(argument)
            if found is None:
                await self.reply("-ERR no such message")
            else:
                await self.multiline(f"+OK {found.octets} octets", found.lines())
        elif word == "DELE":
            if self._message(argument) is None:
                await self.reply("-ERR no such message")
            else:
                self._deleted.add(int(argument))
                await self.reply(f"+OK message {argument} deleted")
        elif word == "RSET":
            self._deleted.clear()
            await self.reply(f"+OK {len(self._drop)} messages")
        else:
            await self.reply("-ERR unknown command")

    def _message(self, argument: str) -> Stored | None:
        if not argument.isdigit():
            return None
        number = int(argument)
        if not 1 <= number <= len(self._drop or []) or number in self._deleted:
            return None
        return (self._drop or [])[number - 1]
