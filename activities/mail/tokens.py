"""Signed tokens for what a mail links to: a click, the open pixel, the unsubscribe.

A token carries only numbers (a send id, a link index) and an HMAC-SHA256 over them
with the workspace secret, so it can neither be forged nor pointed elsewhere: the
click endpoint redirects to the link stored under that index for the send's template
version, never to anything the request says.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal

Purpose = Literal["c", "o", "u"]  # click, open, unsubscribe
_SIGNATURE_BYTES = 12  # 96 bits: far beyond guessing over HTTP, short in a URL


@dataclass(frozen=True)
class Token:
    purpose: Purpose
    send_id: int
    link: int = 0


def signature(secret: bytes, body: str) -> str:
    digest = hmac.new(secret, body.encode(), hashlib.sha256).digest()[:_SIGNATURE_BYTES]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def make(secret: bytes, token: Token) -> str:
    body = f"{token.purpose}{token.send_id}.{token.link}"
    return f"{body}.{signature(secret, body)}"


def read(secret: bytes, text: str, purpose: Purpose) -> Token | None:
    """The token, or None when it is malformed, of another purpose or tampered with."""
    if not text.isascii():  # compare_digest refuses non-ASCII str: not one of ours anyway
        return None
    body, _, signed = text.rpartition(".")
    if not body.startswith(purpose) or not hmac.compare_digest(signature(secret, body), signed):
        return None
    send, _, link = body[1:].partition(".")
    if not (send.isdigit() and link.isdigit()) or len(send) > 18 or len(link) > 6:
        return None
    return Token(purpose, int(send), int(link))
