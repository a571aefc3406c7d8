"""What became of the mails: send ledger counts per step and the sends to look at.

An `uncertain` send is one whose attempt died during the SMTP transaction: it may have
been delivered, so it is never resent by itself; it must be visible instead. A row still
`claimed` or `transmitting` whose trip has ended belongs to a send that gave up after
its retries: it counts as failed. A `deferred` one counts as in progress while its trip
runs, and as skipped once the trip has ended (it will never go).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from sqlalchemy import func
from sqlmodel import Session, col, select

from domain.statuses import SendStatus
from store import mail_stats
from store.errors import NotFound
from store.models import Send


def counts_by_step(session: Session, journey_id: int) -> dict[str, Counter[str]]:
    """step id -> outcome -> number of sends. An outcome is a final send status, or
    `in_progress` (api/schemas/journeys.py SendCounts lists them); store/mail_stats.py
    counts the rest of what became of the mails."""
    return mail_stats.outcomes_by_step(session, journey_id)


def total(per_step: Iterable[Counter[str]]) -> Counter[str]:
    summed: Counter[str] = Counter()
    for counts in per_step:
        summed.update(counts)
    return summed


def get(session: Session, send_id: int) -> Send:
    row = session.get(Send, send_id)
    if row is None:
        raise NotFound("send", send_id)
    return row


def uncertain_keys(session: Session, limit: int = 1000) -> list[tuple[str, int]]:
    rows = session.exec(
        select(Send.key, Send.attempts)
        .where(col(Send.status) == SendStatus.uncertain)
        .order_by(col(Send.id))
        .limit(limit)
    ).all()
    return [(key, int(attempts)) for key, attempts in rows]


def list_page(
    session: Session,
    *,
    status: SendStatus | None,
    journey_id: int | None,
    limit: int,
    offset: int,
) -> tuple[list[Send], int]:
    where = []
    if status is not None:
        where.append(col(Send.status) == status)
    if journey_id is not None:
        where.append(col(Send.journey_id) == journey_id)
    count = session.exec(select(func.count()).select_from(Send).where(*where)).one()
    rows = session.exec(
        select(Send)
        .where(*where)
        .order_by(col(Send.updated_at).desc(), col(Send.id).desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), int(count)
