"""The bounce mailbox, over POP3 or IMAP (stdlib clients, blocking: run in a thread).

What happens to a message after it was read is the caller's choice, made per message:
- `delete`: applied (its database transaction committed). A crash before the deletion
  reaches the server leaves the message for the next run, whose dedupe keys make the
  second reading change nothing.
- `set_aside`: nothing of ours to apply (not a report, or a report about no send of
  ours). IMAP marks it seen and leaves it for an operator to look at; POP3 has no
  flags, so it deletes it (kept, it would be read again on every run for ever).
A message neither deleted nor set aside (it could not be parsed) is read again next run.
"""

from __future__ import annotations

import imaplib
import poplib
import re
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeVar
from urllib.parse import unquote, urlsplit

Scheme = Literal["pop3", "pop3s", "imap", "imaps"]
_PORTS: dict[str, int] = {"pop3": 110, "pop3s": 995, "imap": 143, "imaps": 993}
_Data = TypeVar("_Data")
_FOLDER = re.compile(r"^[\x20-\x7e]{1,200}$")  # IMAP needs modified UTF-7 beyond ASCII


@dataclass(frozen=True)
class MailboxUrl:
    scheme: Scheme
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    folder: str = "INBOX"  # IMAP only

    def __str__(self) -> str:
        """For logs: without the credentials."""
        return f"{self.scheme}://{self.host}:{self.port}"


def parse_url(url: str) -> MailboxUrl:
    """`pop3://user:password@host:port`, `pop3s://...`, `imap://user:password@host:port/
    folder`, `imaps://...` (folder INBOX by default); user and password %-encoded.
    Errors name the setting, never repeat the URL (it holds a password)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _PORTS:
        raise ValueError("REISPLAN_BOUNCE_MAILBOX: the scheme must be pop3, pop3s, imap or imaps")
    try:
        port = parts.port or _PORTS[scheme]
    except ValueError:
        raise ValueError("REISPLAN_BOUNCE_MAILBOX: the port is not a number") from None
    if not parts.hostname or not parts.username or parts.password is None:
        raise ValueError("REISPLAN_BOUNCE_MAILBOX: give user, password and host")
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    if scheme.startswith("pop3") and folder != "INBOX":
        raise ValueError("REISPLAN_BOUNCE_MAILBOX: POP3 has no folders; leave the path out")
    if not _FOLDER.match(folder):
        raise ValueError("REISPLAN_BOUNCE_MAILBOX: the IMAP folder name must be plain ASCII")
    return MailboxUrl(
        scheme=scheme,  # type: ignore[arg-type]  # checked against _PORTS above
        host=parts.hostname,
        port=port,
        username=unquote(parts.username),
        password=unquote(parts.password),
        folder=folder,
    )


class Mailbox(Protocol):
    def messages(self, limit: int) -> Iterator[tuple[str, bytes]]:
        """Up to `limit` messages not dealt with yet, oldest first: (reference, bytes)."""
        ...

    def delete(self, ref: str) -> None: ...

    def set_aside(self, ref: str) -> None: ...


@contextmanager
def connect(url: MailboxUrl, timeout: float = 60.0) -> Iterator[Mailbox]:
    """A logged-in mailbox; on leaving, deletions are made final (also after an error,
    so the messages applied before it do not come back)."""
    box: _Pop3 | _Imap
    box = _Pop3(url, timeout) if url.scheme.startswith("pop3") else _Imap(url, timeout)
    try:
        yield box
    except BaseException:
        box.finish(quietly=True)
        raise
    box.finish(quietly=False)


class _Pop3:
    def __init__(self, url: MailboxUrl, timeout: float) -> None:
        if url.scheme == "pop3s":
            context = ssl.create_default_context()
            self._conn: poplib.POP3 = poplib.POP3_SSL(
                url.host, url.port, timeout=timeout, context=context
            )
        else:
            self._conn = poplib.POP3(url.host, url.port, timeout=timeout)
        try:
            self._conn.user(url.username)
            self._conn.pass_(url.password)
        except BaseException:
            self._conn.close()
            raise

    def messages(self, limit: int) -> Iterator[tuple[str, bytes]]:
        count, _size = self._conn.stat()
        for number in range(1, min(count, limit) + 1):
            _reply, lines, _octets = self._conn.retr(number)  # poplib undoes byte-stuffing
            yield str(number), b"\r\n".join(lines) + b"\r\n"

    def delete(self, ref: str) -> None:
        self._conn.dele(int(ref))

    set_aside = delete

    def finish(self, *, quietly: bool) -> None:
        """QUIT: only then does a POP3 server delete what was marked (RFC 1939)."""
        try:
            self._conn.quit()
        except (OSError, poplib.error_proto):
            self._conn.close()
            if not quietly:
                raise


class _Imap:
    def __init__(self, url: MailboxUrl, timeout: float) -> None:
        if url.scheme == "imaps":
            context = ssl.create_default_context()
            self._conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                url.host, url.port, ssl_context=context, timeout=timeout
            )
        else:
            self._conn = imaplib.IMAP4(url.host, url.port, timeout=timeout)
        try:
            self._conn.login(url.username, url.password)
            folder = url.folder.replace("\\", "\\\\").replace('"', '\\"')
            _check(self._conn.select(f'"{folder}"'), "SELECT")
        except BaseException:
            self._conn.shutdown()
            raise

    def messages(self, limit: int) -> Iterator[tuple[str, bytes]]:
        # Seen ones were set aside; deleted ones were applied by a run that died before
        # its EXPUNGE.
        data = _check(self._conn.uid("SEARCH", "UNSEEN", "UNDELETED"), "SEARCH")
        found = data[0] if data and isinstance(data[0], bytes) else b""
        for uid in found.decode("ascii").split()[:limit]:
            # PEEK: reading does not mark it seen, so a crash leaves it to the next run.
            fetched = _check(self._conn.uid("FETCH", uid, "(BODY.PEEK[])"), "FETCH")
            raw = next((item[1] for item in fetched if isinstance(item, tuple)), None)
            if isinstance(raw, bytes):  # None: expunged by someone else meanwhile
                yield uid, raw

    def delete(self, ref: str) -> None:
        _check(self._conn.uid("STORE", ref, "+FLAGS.SILENT", "(\\Deleted)"), "STORE")

    def set_aside(self, ref: str) -> None:
        _check(self._conn.uid("STORE", ref, "+FLAGS.SILENT", "(\\Seen)"), "STORE")

    def finish(self, *, quietly: bool) -> None:
        # EXPUNGE removes every \Deleted message of the folder: the bounce mailbox is
        # ours alone, and a message marked by a run that died is applied already.
        try:
            self._conn.expunge()
            self._conn.close()
            self._conn.logout()
        except (OSError, imaplib.IMAP4.error):
            self._conn.shutdown()
            if not quietly:
                raise


def _check(response: tuple[str, _Data], command: str) -> _Data:
    status, data = response
    if status != "OK":
        raise imaplib.IMAP4.error(f"IMAP {command} answered {status}")
    return data
