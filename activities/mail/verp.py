"""VERP return paths: `bounces+<send id>-<signature>@domain`, so that a bounce names the
send it is about without trusting anything else in it (the signature stops a forged
bounce from suppressing someone else's address)."""

from __future__ import annotations

import hmac
import re

from activities.mail import tokens

_LOCAL = re.compile(r"^(?P<base>[^+@]+)\+(?P<send>\d{1,18})-(?P<sig>[A-Za-z0-9_-]+)$")


def return_path(bounce_address: str, secret: bytes, send_id: int) -> str:
    base, _, domain = bounce_address.rpartition("@")
    signature = tokens.signature(secret, f"b{send_id}")
    return f"{base}+{send_id}-{signature}@{domain}"


def send_id_of(address: str, secret: bytes) -> int | None:
    """The send a VERP address names, or None when it is not one of ours (or forged)."""
    local = address.strip().strip("<>").rpartition("@")[0]
    found = _LOCAL.match(local)
    if found is None:
        return None
    send_id = int(found["send"])
    if not hmac.compare_digest(tokens.signature(secret, f"b{send_id}"), found["sig"]):
        return None
    return send_id
