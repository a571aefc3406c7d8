"""A small but real IMAP4rev1 server (RFC 3501) on 127.0.0.1, one folder (INBOX), for
the bounce mailbox tests: the commands a mailbox reader needs (CAPABILITY, LOGIN,
SELECT, UID SEARCH, UID FETCH, UID STORE, EXPUNGE, CLOSE, NOOP, LOGOUT), with flags
kept per message, literals for message bodies and BODY.PEEK that leaves \\Seen alone."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

from tests.support.threaded_server import ThreadedServer

_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|(\([^)]*\))|(\S+)')


@dataclass
class Held:
    uid: int
    raw: bytes
    flags: set[str] = field(default_factory=set)


def _tokens(text: str) -> list[str]:
    return [
        re.sub(r"\\(.)", r"\1", quoted) if quoted else group or atom
        for quoted, group, atom in _TOKEN.findall(text)
    ]


def _args(text: str, count: int) -> list[str]:
    """Exactly `count` arguments, missing ones empty."""
    return [*_tokens(text), *[""] * count][:count]


class ImapServer:
    def __init__(self, username: str = "bounces", password: str = "p@ss word") -> None:
        self.username = username
        self.password = password
        self.port = 0
        self._lock = threading.Lock()
        self._messages: list[Held] = []
        self._next_uid = 1
        self._tcp = ThreadedServer(self._serve)

    @property
    def url(self) -> str:
        user, password = quote(self.username, safe=""), quote(self.password, safe="")
        return f"imap://{user}:{password}@127.0.0.1:{self.port}/INBOX"

    def put(self, raw: bytes, *flags: str) -> None:
        with self._lock:
            self._messages.append(Held(self._next_uid, raw, set(flags)))
            self._next_uid += 1

    @property
    def messages(self) -> list[tuple[bytes, frozenset[str]]]:
        with self._lock:
            return [(held.raw, frozenset(held.flags)) for held in self._messages]

    def start(self) -> ImapServer:
        self._tcp.start()
        self.port = self._tcp.port
        return self

    def stop(self) -> None:
        self._tcp.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = _Session(self, writer)
        try:
            await session.send(b"* OK reisplan test IMAP4rev1 ready")
            while not writer.is_closing():
                line = await reader.readline()
                if not line or not await session.command(line.decode("utf-8", "replace")):
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    # The maildrop, under the lock: called from sessions.

    def _search(self, criteria: list[str]) -> list[int]:
        tests: dict[str, Callable[[Held], bool]] = {
            "ALL": lambda h: True,
            "UNSEEN": lambda h: "\\Seen" not in h.flags,
            "SEEN": lambda h: "\\Seen" in h.flags,
            "UNDELETED": lambda h: "\\Deleted" not in h.flags,
            "DELETED": lambda h: "\\Deleted" in h.flags,
        }
        with self._lock:
            return [h.uid for h in self._messages if all(tests[c.upper()](h) for c in criteria)]

    def _find(self, uid: int) -> tuple[int, Held] | None:
        with self._lock:
            for number, held in enumerate(self._messages, 1):
                if held.uid == uid:
                    return number, held
        return None

    def _store(self, uid: int, flags: set[str], add: bool) -> None:
        with self._lock:
            for held in self._messages:
                if held.uid == uid:
                    held.flags = held.flags | flags if add else held.flags - flags

    def _expunge(self) -> list[int]:
        """The sequence numbers removed, each as numbered when it went (RFC 3501)."""
        gone: list[int] = []
        with self._lock:
            number = 1
            for held in list(self._messages):
                if "\\Deleted" in held.flags:
                    self._messages.remove(held)
                    gone.append(number)
                else:
                    number += 1
        return gone


class _Session:
    def __init__(self, server: ImapServer, writer: asyncio.StreamWriter) -> None:
        self._server = server
        self._writer = writer
        self._logged_in = False
        self._selected = False

    async def send(self, *lines: bytes) -> None:
        self._writer.write(b"".join(line + b"\r\n" for line in lines))
        await self._writer.drain()

    async def command(self, line: str) -> bool:
        tag, _, rest = line.rstrip("\r\n").partition(" ")
        word, _, argument = rest.partition(" ")
        word = word.upper()
        ok = f"{tag} OK {word} completed".encode()
        if word == "CAPABILITY":
            await self.send(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN", ok)
        elif word == "NOOP":
            await self.send(ok)
        elif word == "LOGOUT":
            await self.send(b"* BYE logging out", ok)
            return False
        elif word == "LOGIN":
            user, password = _args(argument, 2)
            if (user, password) != (self._server.username, self._server.password):
                await self.send(f"{tag} NO [AUTHENTICATIONFAILED] invalid credentials".encode())
            else:
                self._logged_in = True
                await self.send(ok)
        elif not self._logged_in:
            await self.send(f"{tag} BAD log in first".encode())
        elif word in ("SELECT", "EXAMINE"):
            await self._select(tag, _tokens(argument))
        elif not self._selected:
            await self.send(f"{tag} BAD select a folder first".encode())
        elif word == "UID":
            await self._uid(tag, argument)
        elif word == "EXPUNGE":
            gone = self._server._expunge()
            await self.send(*[f"* {n} EXPUNGE".encode() for n in gone], ok)
        elif word == "CLOSE":
            self._server._expunge()
            self._selected = False
            await self.send(ok)
        else:
            await self.send(f"{tag} BAD unknown command".encode())
        return True

    async def _select(self, tag: str, arguments: list[str]) -> None:
        if [a.upper() for a in arguments] != ["INBOX"]:
            await self.send(f"{tag} NO no such folder".encode())
            return
        self._selected = True
        count = len(self._server.messages)
        await self.send(
            f"* {count} EXISTS".encode(),
            b"* 0 RECENT",
            b"* FLAGS (\\Seen \\Deleted)",
            b"* OK [UIDVALIDITY 1] UIDs valid",
            f"{tag} OK [READ-WRITE] SELECT completed".encode(),
        )

    async def _uid(self, tag: str, argument: str) -> None:
        word, _, rest = argument.partition(" ")
        word = word.upper()
        ok = f"{tag} OK UID {word} completed".encode()
        if word == "SEARCH":
            uids = self._server._search(_tokens(rest))
            await self.send(("* SEARCH " + " ".join(map(str, uids))).rstrip().encode(), ok)
        elif word == "FETCH":
            uid, items = _args(rest, 2)
            found = self._server._find(int(uid)) if uid.isdigit() else None
            if found is None:
                await self.send(ok)
                return
            number, held = found
            if "BODY[]" in items.upper() and "PEEK" not in items.upper():
                self._server._store(held.uid, {"\\Seen"}, add=True)
            head = f"* {number} FETCH (UID {held.uid} BODY[] {{{len(held.raw)}}}".encode()
            self._writer.write(head + b"\r\n" + held.raw + b")\r\n")
            await self.send(ok)
        elif word == "STORE":
            uid, mode, flags = _args(rest, 3)
            if not uid.isdigit() or mode.upper().lstrip("+-") not in ("FLAGS", "FLAGS.SILENT"):
                await self.send(f"{tag} BAD uid STORE".encode())
                return
            self._server._store(int(uid), set(flags.strip("()").split()), add=mode[0] == "+")
            await self.send(ok)
        else:
            await self.send(f"{tag} BAD unknown UID command".encode())
