"""The suppression list: addresses that are never mailed again, whatever the journey.

An address is kept as the SHA-256 of its normalised form: erasing a relation must not
take its address off the list (a complainer who is erased and comes back through a form
must still not be mailed), and the list must not keep the address itself either.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from domain.statuses import SuppressionReason
from store.errors import NotFound
from store.models import Suppression


def address_hash(address: str) -> str:
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()


def is_suppressed(session: Session, address: str) -> Suppression | None:
    return session.exec(
        select(Suppression).where(col(Suppression.address_hash) == address_hash(address))
    ).first()


def suppress(
    session: Session,
    address: str,
    reason: SuppressionReason,
    detail: str = "",
    send_id: int | None = None,
) -> bool:
    """Put the address on the list (in the caller's transaction); False when it was
    already there (the first reason stays)."""
    return suppress_hash(session, address_hash(address), reason, detail, send_id)


def suppress_hash(
    session: Session,
    key: str,
    reason: SuppressionReason,
    detail: str = "",
    send_id: int | None = None,
) -> bool:
    """`suppress` for an address known only by its hash (the one a send went to)."""
    if session.exec(select(Suppression.id).where(col(Suppression.address_hash) == key)).first():
        return False
    try:
        with session.begin_nested():
            session.add(
                Suppression(address_hash=key, reason=reason, detail=detail[:500], send_id=send_id)
            )
    except IntegrityError:  # a concurrent suppression of the same address won
        return False
    return True


def lift(session: Session, address: str) -> None:
    """Take an address off the list (an operator's decision, e.g. a mistaken bounce)."""
    row = is_suppressed(session, address)
    if row is None:
        raise NotFound("suppression", address_hash(address))
    session.delete(row)


def list_page(
    session: Session, *, reason: SuppressionReason | None, limit: int, offset: int
) -> tuple[list[Suppression], int]:
    where = [] if reason is None else [col(Suppression.reason) == reason]
    count = session.exec(select(func.count()).select_from(Suppression).where(*where)).one()
    rows = session.exec(
        select(Suppression)
        .where(*where)
        .order_by(col(Suppression.id).desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), int(count)
