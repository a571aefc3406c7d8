"""What the contact-pressure caps count: a relation's recent marketing mails."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from domain.pressure import WEEK
from domain.statuses import SendStatus
from store.models import Send

# A mail counts from the moment it is claimed to go out: two journeys sending at the
# same instant must see each other. Skipped, failed and deferred mails did not go (a
# deferred one counts again once claimed), and a dismissed one was never resent.
COUNTED = (
    SendStatus.claimed,
    SendStatus.transmitting,
    SendStatus.sent,
    SendStatus.bounced,
    SendStatus.uncertain,
)


def recent_marketing_sends(
    session: Session, relation_id: int, now: datetime, exclude_key: str
) -> list[datetime]:
    """When each of the relation's marketing (not transactional) mails of the last 7
    days went, oldest first: `sent_at` once it went to SMTP, else when its row last
    changed (claimed, or claimed again after a deferral). `exclude_key` is the send
    being judged, whose own claim must not count against it."""
    since = now - WEEK
    rows = session.exec(
        select(Send.sent_at, Send.updated_at).where(
            col(Send.relation_id) == relation_id,
            col(Send.transactional).is_(False),
            col(Send.status).in_(COUNTED),
            col(Send.key) != exclude_key,
            or_(
                col(Send.sent_at) > since,
                and_(col(Send.sent_at).is_(None), col(Send.updated_at) > since),
            ),
        )
    ).all()
    return sorted(sent_at or updated_at for sent_at, updated_at in rows)
