"""DKIM signatures (RFC 6376) with dkimpy, over the headers receivers judge bulk mail by.

dkimpy's default header list leaves out `List-Unsubscribe-Post`; Gmail and Yahoo want
both unsubscribe headers signed (RFC 8058 section 4), so the list is ours.
"""

from __future__ import annotations

from pathlib import Path

import dkim

# Signed when present. From is required by RFC 6376; the rest are what a forwarder or a
# list manager must not be able to change without breaking the signature.
SIGNED_HEADERS = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"mime-version",
    b"content-type",
    b"list-id",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
    b"auto-submitted",
)


class DkimSigner:
    def __init__(self, *, domain: str, selector: str, private_key: bytes) -> None:
        if not domain or not selector:
            raise ValueError("DKIM signing needs a domain and a selector")
        self.domain = domain.encode()
        self.selector = selector.encode()
        self._key = private_key

    @classmethod
    def from_file(cls, *, domain: str, selector: str, path: Path) -> DkimSigner:
        return cls(domain=domain, selector=selector, private_key=path.read_bytes())

    def sign(self, message: bytes) -> bytes:
        """The message with its DKIM-Signature header in front."""
        present = {
            line.split(b":", 1)[0].strip().lower()
            for line in message.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
            if line and not line[:1].isspace()
        }
        signature = dkim.sign(
            message,
            self.selector,
            self.domain,
            self._key,
            include_headers=[h for h in SIGNED_HEADERS if h in present],
            canonicalize=(b"relaxed", b"relaxed"),
        )
        signed: bytes = signature + message
        return signed
