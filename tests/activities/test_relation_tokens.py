"""Relation tokens: what they carry comes back, and every token that is not exactly one
of ours, made with a key still held and not yet expired, is refused."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from activities.relation_tokens import (
    MAX_FIELDS_BYTES,
    Expired,
    NotValid,
    RelationTokens,
    TooLarge,
    derived_key,
    new_key,
)
from worker.settings import Settings

KEY_A = new_key()
KEY_B = new_key()
MADE = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
UNTIL = MADE + timedelta(days=30)
FIELDS = {"id": 42, "email": "anna@example.org", "birth_date": date(1990, 5, 17)}


def _made(keys: list[str], fields: dict[str, object] | None = None) -> str:
    return RelationTokens(keys).make(fields or FIELDS, issued_at=MADE, expires_at=UNTIL)


def test_a_token_carries_its_fields_encrypted_in_a_url_safe_string() -> None:
    token = _made([KEY_A])

    found = RelationTokens([KEY_A]).read(token, MADE + timedelta(days=1))
    assert found.fields == {"id": 42, "email": "anna@example.org", "birth_date": "1990-05-17"}
    assert (found.issued_at, found.expires_at) == (MADE, UNTIL)
    # Opaque to whoever holds it, and nothing in it needs escaping in a URL.
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert b"anna" not in raw and b"example" not in raw and b"email" not in raw
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert len(_made([KEY_A], {"id": 42, "email": "anna@example.org"})) == 162


def _flipped(token: str, at: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[at] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda t: _flipped(t, 40), id="one-byte-of-the-ciphertext-flipped"),
        pytest.param(lambda t: _flipped(t, 5), id="its-time-flipped"),
        pytest.param(lambda t: t[:-12], id="truncated"),
        pytest.param(lambda t: "hello", id="garbage"),
        pytest.param(lambda t: "", id="empty"),
        pytest.param(lambda t: t[:50] + "é" + t[51:], id="not-ascii"),
        pytest.param(lambda t: t + "A" * 3000, id="overlong"),
        pytest.param(lambda t: _made([KEY_B]), id="made-with-an-unknown-key"),
    ],
)
def test_a_spoilt_token_is_refused_with_one_message_for_every_kind(spoil: object) -> None:
    assert callable(spoil)
    with pytest.raises(NotValid) as refused:
        RelationTokens([KEY_A]).read(spoil(_made([KEY_A])), MADE)
    assert str(refused.value) == "the token is not valid"


def test_an_expired_token_is_refused_naming_the_moment() -> None:
    token = _made([KEY_A])

    RelationTokens([KEY_A]).read(token, UNTIL - timedelta(seconds=1))
    with pytest.raises(Expired) as refused:
        RelationTokens([KEY_A]).read(token, UNTIL)
    assert refused.value.expired_at == UNTIL
    assert str(refused.value) == "the token expired at 2026-04-01T09:30:00+00:00"


def test_keys_rotate_new_tokens_use_the_first_and_a_dropped_key_reads_no_more() -> None:
    old = _made([KEY_A])

    assert RelationTokens([KEY_B, KEY_A]).read(old, MADE).fields["id"] == 42
    with pytest.raises(NotValid):
        RelationTokens([KEY_B]).read(old, MADE)
    new = _made([KEY_B, KEY_A])
    assert RelationTokens([KEY_B]).read(new, MADE).fields["id"] == 42
    with pytest.raises(NotValid):
        RelationTokens([KEY_A]).read(new, MADE)


def test_without_configured_keys_one_is_derived_from_the_secret(tmp_path: Path) -> None:
    settings = Settings(secret_key="workspace-secret", data_dir=tmp_path)
    derived = settings.relation_token_keys()

    assert derived == [derived_key(b"workspace-secret")]
    assert derived != [derived_key(b"another-secret")]
    # Not the secret itself: the derived key serves relation tokens only.
    assert "workspace-secret" not in derived[0]
    configured = Settings(secret_key="workspace-secret", token_keys=[KEY_B, KEY_A])
    assert configured.relation_token_keys() == [KEY_B, KEY_A]
    with pytest.raises(ValueError, match="key 2: not a Fernet key"):
        Settings(token_keys=[KEY_A, "not-a-key"])


def test_fields_too_large_for_a_url_are_refused_by_size_not_value() -> None:
    huge = {"id": 1, "notes": "x" * MAX_FIELDS_BYTES}
    with pytest.raises(TooLarge) as refused:
        RelationTokens([KEY_A]).make(huge, issued_at=MADE, expires_at=UNTIL)
    assert "xxxx" not in str(refused.value)
    assert f"at most {MAX_FIELDS_BYTES:,}" in str(refused.value)
