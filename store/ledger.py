"""The send ledger: one row per (trip, step) send, so a retry can never send twice.

Life of a row: `claimed` (inserted before anything else) -> `transmitting` (committed
right before the SMTP DATA command) -> `sent` | `bounced`. A send that cannot be built
ends `skipped` or `failed` straight from `claimed`; one the contact-pressure policy holds
back is `deferred` until its trip calls again, and is claimed (or held back again) then.
A row still `transmitting` when a later attempt finds it belongs to an attempt that
died mid-transaction: nobody can know whether the mail went out, so it becomes
`uncertain` and is never retried.

Every function here is its own committed transaction: the point of the ledger is that
its state is durable before the next side effect starts.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from domain.statuses import SendStatus
from store.db import session_scope
from store.models import Relation, Send, utcnow


class NotClaimable(Exception):
    """No send was claimed for this key, and none may be any more."""


@dataclass(frozen=True)
class Gate:
    """What a new (or deferred) send row becomes at its claim: `claimed` (ours to send,
    counted towards the caps from `sent_at`), `deferred` until `not_before`, or a final
    `skipped` with its reason."""

    status: SendStatus = SendStatus.claimed
    reason: str = ""
    detail: str = ""
    not_before: datetime | None = None
    sent_at: datetime | None = None
    # The template version the send is built from: a click may only lead to its links.
    template_version: int | None = None
    address_hash: str | None = None  # of the recipient, when the relation has an address


@dataclass(frozen=True)
class LedgerEntry:
    key: str
    trip_id: str
    relation_id: int
    template: str
    status: str
    detail: str
    message_id: str
    attempts: int
    updated_at: datetime
    id: int = 0
    reason: str = ""
    not_before: datetime | None = None
    template_version: int | None = None
    transactional: bool = False


def send_key(trip_id: str, step_id: str) -> str:
    return f"{trip_id}/{step_id}"


def message_id_for(key: str, domain: str, secret: bytes = b"") -> str:
    """The same Message-ID for every attempt of one send, so receivers can dedupe too.
    Keyed with the workspace secret: a complaint that quotes a Message-ID can then only
    name a send whose mail it really saw (trip ids are easy to guess)."""
    digest = hmac.new(secret, key.encode(), hashlib.sha256).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def _entry(row: Send) -> LedgerEntry:
    return LedgerEntry(
        key=row.key,
        trip_id=row.trip_id,
        relation_id=row.relation_id,
        template=row.template,
        status=row.status,
        detail=row.detail,
        message_id=row.message_id,
        attempts=row.attempts,
        updated_at=row.updated_at,
        id=row.id or 0,
        reason=row.reason,
        not_before=row.not_before,
        template_version=row.template_version,
        transactional=row.transactional,
    )


def get(engine: Engine, key: str) -> LedgerEntry | None:
    with session_scope(engine) as session:
        row = session.exec(select(Send).where(col(Send.key) == key)).first()
        return _entry(row) if row else None


def claim(
    engine: Engine,
    *,
    key: str,
    trip_id: str,
    step_id: str,
    relation_id: int,
    journey_id: int,
    template: str,
    message_id: str,
    alongside: Callable[[Session], bool] | None = None,
    gate: Callable[[Session], Gate] | None = None,
    transactional: bool = False,
) -> LedgerEntry:
    """Insert a `claimed` row, or return the row an earlier (or concurrent) attempt made.

    `alongside` runs first in the same transaction (the send's path writes), so one
    commit covers both; `gate` then decides what a new row, or one still `deferred`,
    becomes (the contact-pressure policy and the reasons not to send). When `alongside`
    returns False no new claim is made (NotClaimable), but an existing row is still
    returned, so a retry learns what its predecessor did. The unique key decides between
    concurrent attempts: the losing insert fails, its transaction is rolled back, and
    the loser reads the winner's row after redoing `alongside` on its own.
    """
    try:
        with session_scope(engine) as session:
            may_claim = alongside(session) if alongside is not None else True
            row = session.exec(select(Send).where(col(Send.key) == key)).first()
            if row is None and not may_claim:
                raise NotClaimable(key)
            if row is not None and not (row.status == SendStatus.deferred and may_claim):
                return _entry(row)
            verdict = gate(session) if gate is not None else Gate()
            if row is None:
                row = Send(
                    key=key,
                    trip_id=trip_id,
                    step_id=step_id,
                    relation_id=relation_id,
                    journey_id=journey_id,
                    template=template,
                    message_id=message_id,
                    transactional=transactional,
                )
            row.status = verdict.status
            # A send allowed after being held back keeps the rule that held it back: the
            # path and the statistics say why it went late.
            row.reason = verdict.reason or (
                row.reason if verdict.status == SendStatus.claimed else ""
            )
            row.not_before = verdict.not_before
            row.sent_at = verdict.sent_at
            row.template_version = verdict.template_version
            row.address_hash = verdict.address_hash
            if verdict.detail or row.detail:
                row.detail = verdict.detail
            session.add(row)
            session.flush()
            return _entry(row)
    except IntegrityError:
        if alongside is not None:
            with session_scope(engine) as session:
                alongside(session)
        winner = get(engine, key)
        if winner is None:
            # Not a lost race: the insert itself is invalid (e.g. the trip row is gone).
            raise
        return winner


def start_transmitting(engine: Engine, key: str) -> bool:
    """claimed -> transmitting; False when another attempt got there first, or when the
    relation was erased since the claim read it (its retry then skips the send)."""
    still_there = exists().where(col(Relation.id) == col(Send.relation_id))
    return _move(
        engine,
        key,
        (SendStatus.claimed,),
        SendStatus.transmitting,
        count_attempt=True,
        also=still_there,
    )


def reopen(engine: Engine, key: str, attempts: int) -> bool:
    """uncertain -> claimed: an operator asked for the send to be made again (with the
    same Message-ID, so a receiver that has the first copy can drop the second). Only the
    uncertain episode that was asked about (`attempts`), never a later one."""
    return _move(
        engine,
        key,
        (SendStatus.uncertain,),
        SendStatus.claimed,
        also=col(Send.attempts) == attempts,
    )


def dismiss(engine: Engine, key: str) -> bool:
    """uncertain -> dismissed: an operator chose not to resend it."""
    return _move(
        engine,
        key,
        (SendStatus.uncertain,),
        SendStatus.dismissed,
        detail="dismissed by an operator",
    )


def release(engine: Engine, key: str) -> bool:
    """transmitting -> claimed: the server refused the message, so it definitely did not
    go out and a retry may try again."""
    return _move(engine, key, (SendStatus.transmitting,), SendStatus.claimed)


def settle(
    engine: Engine,
    key: str,
    status: str,
    detail: str = "",
    *,
    expected: Iterable[str],
    reason: str | None = None,
) -> LedgerEntry:
    """Record a final status if the row is still in one of the `expected` states; either
    way return the row as it now stands (the recorded result wins over ours)."""
    with session_scope(engine) as session:
        _move_in(session, key, tuple(expected), status, detail=detail, reason=reason)
        row = session.exec(select(Send).where(col(Send.key) == key)).first()
        if row is None:
            raise LookupError(f"send ledger row {key!r} disappeared")
        return _entry(row)


def _move(
    engine: Engine,
    key: str,
    expected: tuple[str, ...],
    status: str,
    *,
    detail: str | None = None,
    count_attempt: bool = False,
    also: Any = None,
) -> bool:
    with session_scope(engine) as session:
        return _move_in(
            session, key, expected, status, detail=detail, count_attempt=count_attempt, also=also
        )


def _move_in(
    session: Session,
    key: str,
    expected: tuple[str, ...],
    status: str,
    *,
    detail: str | None = None,
    count_attempt: bool = False,
    also: Any = None,
    reason: str | None = None,
) -> bool:
    values: dict[str, object] = {"status": status, "updated_at": utcnow()}
    if detail is not None:
        values["detail"] = detail
    if reason is not None:
        values["reason"] = reason
    if count_attempt:
        values["attempts"] = col(Send.attempts) + 1
    where = [col(Send.key) == key, col(Send.status).in_(expected)]
    if also is not None:
        where.append(also)
    result = session.exec(update(Send).where(*where).values(**values))
    return bool(result.rowcount)
