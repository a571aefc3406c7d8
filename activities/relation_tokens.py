"""Relation tokens: chosen fields of a relation, encrypted and authenticated for a URL.

A token is a Fernet token (AES-128-CBC with HMAC-SHA256, from `cryptography`): the
fields as compact JSON with the token's expiry (`exp`, Unix seconds) beside them, and
its issue time in Fernet's own header. Encrypted, not only signed: an email address in
a link is personal data, and links end up in logs, browser histories and forwarded
mails. Whoever holds a token can read nothing from it; the verify endpoint (scope `app`)
decrypts it for the app that made the link.

Keys rotate with MultiFernet: tokens are made with the first key and read with any, so a
new key goes in front and an old one is dropped once its tokens have expired. Without
configured keys, one is derived from the workspace secret (HKDF-SHA256 with a label of
its own, so it is no key used for anything else).

Length: Fernet adds 57 bytes and pads to 16, then base64 adds a third. The trailing `=`
padding is left off (it follows from the length, so nothing is ambiguous; `=` would be
`%3D` in a query string). A token of `id` (up to 6 digits) and an address of up to
22 characters is 162 characters; every 16 bytes of JSON more add 21 or 22.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from domain.steps.tokens import EXPIRY_KEY

# Separates this key from every other use of the workspace secret.
_DERIVATION_LABEL = b"reisplan relation tokens v1"
# Fields as JSON; a token of this many bytes is ~1,450 characters, near what some mail
# clients and proxies still carry in a URL.
MAX_FIELDS_BYTES = 1024
# Longer input is no token of ours (checked before any decoding work).
MAX_TOKEN_CHARS = 2048
_ALPHABET = re.compile(r"[A-Za-z0-9_-]+={0,2}")


class TokenError(Exception):
    """A token that is refused."""


class NotValid(TokenError):
    """Tampered with, made with a key no longer held, cut short or not a token at all:
    one message for all of them, so a caller learns nothing about which."""

    def __init__(self) -> None:
        super().__init__("the token is not valid")


class Expired(TokenError):
    """Genuine, but past its expiry."""

    def __init__(self, expired_at: datetime) -> None:
        self.expired_at = expired_at
        super().__init__(f"the token expired at {expired_at.isoformat()}")


class TooLarge(TokenError):
    """Fields too large to carry in a URL; the message says the size, not the values."""


@dataclass(frozen=True)
class TokenFields:
    fields: dict[str, Any]  # a snapshot of the relation at `issued_at`
    issued_at: datetime
    expires_at: datetime


def derived_key(secret: bytes) -> str:
    """The Fernet key made from the workspace secret (when no keys are configured)."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_DERIVATION_LABEL).derive(
        secret
    )
    return base64.urlsafe_b64encode(raw).decode()


def keys_of(configured: Sequence[str], secret: bytes) -> list[str]:
    """The keys to use, newest first: the configured ones, else the derived one."""
    return list(configured) or [derived_key(secret)]


def key_problem(key: str) -> str | None:
    """Why `key` is no Fernet key, without repeating the key (it is a secret)."""
    try:
        Fernet(key)
    except (ValueError, TypeError):
        return "not a Fernet key (32 bytes in URL-safe base64, 44 characters)"
    return None


def new_key() -> str:
    return Fernet.generate_key().decode()


class RelationTokens:
    """Makes tokens with the first key; reads tokens made with any of them."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("relation tokens need at least one key")
        for position, key in enumerate(keys):
            problem = key_problem(key)
            if problem is not None:
                raise ValueError(f"token key {position + 1}: {problem}")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def make(self, fields: Mapping[str, Any], *, issued_at: datetime, expires_at: datetime) -> str:
        body = {**fields, EXPIRY_KEY: int(expires_at.timestamp())}
        data = json.dumps(
            body, separators=(",", ":"), ensure_ascii=False, default=_as_json
        ).encode()
        if len(data) > MAX_FIELDS_BYTES:
            raise TooLarge(
                f"the fields take {len(data):,} bytes as JSON; a token carries at most "
                f"{MAX_FIELDS_BYTES:,}"
            )
        token = self._fernet.encrypt_at_time(data, int(issued_at.timestamp()))
        return token.decode().rstrip("=")

    def read(self, token: str, now: datetime) -> TokenFields:
        if len(token) > MAX_TOKEN_CHARS or not _ALPHABET.fullmatch(token):
            raise NotValid()
        padded = token.rstrip("=")
        padded += "=" * (-len(padded) % 4)
        try:
            data = self._fernet.decrypt(padded)
            issued = self._fernet.extract_timestamp(padded)
            body = json.loads(data)
        except (InvalidToken, ValueError):
            raise NotValid() from None
        expiry = body.pop(EXPIRY_KEY, None) if isinstance(body, dict) else None
        if not isinstance(expiry, int):
            raise NotValid()  # authentic, but not one of our relation tokens
        expires_at = datetime.fromtimestamp(expiry, UTC)
        if now >= expires_at:
            raise Expired(expires_at)
        return TokenFields(
            fields=body, issued_at=datetime.fromtimestamp(issued, UTC), expires_at=expires_at
        )


def _as_json(value: Any) -> Any:
    # Dates (birth_date, created_at) travel as ISO text, as in the API.
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)
