"""API keys: created and revoked from the CLI, checked by the API on every request.

A key is `rp_<prefix>_<secret>`. The secret has 256 random bits, so a plain SHA-256 of
the key is enough to store (no one can guess a preimage); a slow password hash would
only add milliseconds to every request. The prefix is stored in clear to find the row.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlmodel import Session, col, select

from store.errors import NotFound
from store.models import ApiKey, utcnow

KEY_PREFIX = "rp_"


class Scope(StrEnum):
    """Who a key is for: the three users of the product, and the administrator."""

    app = "app"  # send events, admit relations, create and update relations
    operator = "operator"  # journeys, templates, groups, activation, deactivation
    support = "support"  # read relations, trips, paths, stats, who waits where
    admin = "admin"  # everything, including erasing relations

    @property
    def description(self) -> str:
        return SCOPE_DESCRIPTIONS[self]


SCOPE_DESCRIPTIONS = {
    Scope.app: "send events, admit relations, create and update relations",
    Scope.operator: "journeys, templates, groups, activation and deactivation",
    Scope.support: "read relations, trips, paths, statistics and who waits where",
    Scope.admin: "everything, including erasing relations",
}


@dataclass(frozen=True)
class Caller:
    """The key a request came with."""

    key_id: int
    prefix: str
    name: str
    scopes: frozenset[Scope]

    def may(self, allowed: Iterable[Scope]) -> bool:
        return Scope.admin in self.scopes or not self.scopes.isdisjoint(allowed)


@dataclass(frozen=True)
class CreatedKey:
    key: str  # shown once; only its digest is stored
    row: ApiKey


def create(session: Session, *, name: str, scopes: Sequence[Scope]) -> CreatedKey:
    if not scopes:
        raise ValueError("a key needs at least one scope")
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(
        prefix=prefix,
        digest=_digest(key),
        name=name,
        scopes=",".join(sorted({Scope(s).value for s in scopes})),
    )
    session.add(row)
    session.commit()
    session.refresh(row)
    return CreatedKey(key=key, row=row)


def authenticate(session: Session, key: str) -> Caller | None:
    """The caller for a presented key; None when it is unknown, malformed or revoked."""
    prefix = _prefix_of(key)
    if prefix is None:
        return None
    row = session.exec(select(ApiKey).where(col(ApiKey.prefix) == prefix)).first()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.digest, _digest(key)):
        return None
    assert row.id is not None
    return Caller(key_id=row.id, prefix=row.prefix, name=row.name, scopes=scopes_of(row))


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.exec(select(ApiKey).order_by(col(ApiKey.id))).all())


def revoke(session: Session, prefix_or_id: str) -> ApiKey:
    """Revoke by prefix (as `list` shows it) or id; revoking twice keeps the first time."""
    query = select(ApiKey).where(col(ApiKey.prefix) == prefix_or_id.removeprefix(KEY_PREFIX))
    row = session.exec(query).first()
    if row is None and prefix_or_id.isdigit():
        row = session.get(ApiKey, int(prefix_or_id))
    if row is None:
        raise NotFound("API key", prefix_or_id)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        session.commit()
        session.refresh(row)
    return row


def scopes_of(row: ApiKey) -> frozenset[Scope]:
    return frozenset(Scope(s) for s in row.scopes.split(",") if s)


def _prefix_of(key: str) -> str | None:
    if not key.startswith(KEY_PREFIX) or len(key) > 100:
        return None
    prefix, sep, secret = key.removeprefix(KEY_PREFIX).partition("_")
    if not sep or not secret or len(prefix) != 8:
        return None
    return prefix


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
