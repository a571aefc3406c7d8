"""What became of a sent mail afterwards, and the rules it triggers.

Bounces, complaints and unsubscribes arrive from three places (the SMTP reply at send
time, the bounce mailbox, the one-click unsubscribe) and follow the same rules here:
- a hard bounce or a complaint suppresses the address;
- soft bounces suppress once the contact-pressure policy's `soft_bounce_limit` is
  reached (counted over the relation's sends);
- an unsubscribe turns opt-in email off and suppresses the address.
Each report is recorded once (`dedupe_key`), so a mailbox message read twice or a
retried activity changes nothing more.

A hard bounce is also an event of the relation, `email_bounced` (once per send, in the
transaction of the bounce), so a journey can start from it: the seed's "every day, all
bounced relations, for customer service" is an event trigger and an export step. The
caller starts its Dispatch after the commit (`bounce_event`); the trip-sync schedule
dispatches one that a crash left behind.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from domain.statuses import FeedbackKind, SendStatus, SuppressionReason
from store import suppressions
from store.membership import lock_relation, reevaluate
from store.models import Event, Relation, Send, SendFeedback, utcnow

DEFAULT_SOFT_BOUNCE_LIMIT = 3
# The event a hard bounce makes; its payload names the send and template, never the
# address.
EMAIL_BOUNCED = "email_bounced"


def record(
    session: Session,
    send_id: int,
    kind: FeedbackKind,
    *,
    link: int | None = None,
    machine: bool = False,
    detail: str = "",
    dedupe_key: str | None = None,
    at: datetime | None = None,
) -> bool:
    """Add one feedback row in the caller's transaction; False when `dedupe_key` was
    recorded before (nothing is added)."""
    if (
        dedupe_key is not None
        and session.exec(
            select(SendFeedback.id).where(col(SendFeedback.dedupe_key) == dedupe_key)
        ).first()
    ):
        return False
    try:
        with session.begin_nested():
            session.add(
                SendFeedback(
                    send_id=send_id,
                    kind=kind,
                    link=link,
                    machine=machine,
                    detail=detail[:500],
                    dedupe_key=dedupe_key,
                    at=at or utcnow(),
                )
            )
    except IntegrityError:  # the same report, recorded concurrently
        return False
    return True


def _recipient(session: Session, send: Send) -> str | None:
    """The hash of the address the mail went to (a relation may have changed its address
    since); for sends from before it was recorded, the relation's current one."""
    if send.address_hash:
        return send.address_hash
    relation = session.get(Relation, send.relation_id)
    if relation is None or not relation.email:
        return None
    return suppressions.address_hash(relation.email)


def bounce(
    session: Session,
    send: Send,
    *,
    hard: bool,
    detail: str,
    dedupe_key: str,
    soft_limit: int = DEFAULT_SOFT_BOUNCE_LIMIT,
    at: datetime | None = None,
) -> bool:
    """A bounce of `send`: recorded, and the address suppressed when the rules say so.
    False when this report was recorded before."""
    kind = FeedbackKind.hard_bounce if hard else FeedbackKind.soft_bounce
    assert send.id is not None
    if not record(session, send.id, kind, detail=detail, dedupe_key=dedupe_key, at=at):
        return False
    if hard:
        _bounced_event(session, send, at=at or utcnow())
    address = _recipient(session, send)
    if address is None:
        return True  # erased since: nothing left to suppress
    if hard:
        suppressions.suppress_hash(
            session, address, SuppressionReason.hard_bounce, detail, send_id=send.id
        )
    elif soft_bounces(session, send.relation_id) >= soft_limit:
        suppressions.suppress_hash(
            session,
            address,
            SuppressionReason.soft_bounces,
            f"{soft_limit} soft bounces; last: {detail}",
            send_id=send.id,
        )
    return True


def _bounce_key(send_id: int) -> str:
    return f"bounce:{send_id}"


def _bounced_event(session: Session, send: Send, *, at: datetime) -> None:
    """The relation's `email_bounced` event, once per send (a second hard bounce of the
    same mail, reported by the relay and by the mailbox, makes none), with the segment
    change it causes, as the event ingest makes them."""
    assert send.id is not None
    key = _bounce_key(send.id)
    if session.exec(select(Event.id).where(col(Event.idempotency_key) == key)).first():
        return
    # Before the event takes its id, as in the ingest: one relation's events commit in
    # id order. An erased relation has no events.
    if not lock_relation(session, send.relation_id):
        return
    now = utcnow()
    try:
        with session.begin_nested():
            event = Event(
                relation_id=send.relation_id,
                type=EMAIL_BOUNCED,
                payload={
                    "send_id": send.id,
                    "template": send.template,
                    "journey_id": send.journey_id,
                    "step_id": send.step_id,
                },
                occurred_at=at,
                received_at=now,
                idempotency_key=key,
            )
            session.add(event)
            session.flush()
    except IntegrityError:  # the same send's bounce, recorded concurrently
        return
    change = reevaluate(session, send.relation_id, cause=f"event:{event.id}", now=now)
    if change is not None:
        event.change_id = change.id
        session.add(event)
        session.flush()


def bounce_event(session: Session, send_id: int) -> int | None:
    """The id of the send's `email_bounced` event while it still needs its Dispatch
    (the caller starts it after committing the bounce), else None."""
    return session.exec(
        select(Event.id).where(
            col(Event.idempotency_key) == _bounce_key(send_id),
            col(Event.dispatched_at).is_(None),
        )
    ).first()


def soft_bounces(session: Session, relation_id: int) -> int:
    """The relation's sends that soft-bounced since its last clean delivery (a mail sent
    with no bounce of any kind): a mailbox full last year says nothing today."""
    bounced = exists().where(
        col(SendFeedback.send_id) == col(Send.id),
        col(SendFeedback.kind).in_((FeedbackKind.soft_bounce, FeedbackKind.hard_bounce)),
    )
    last_clean = (
        select(func.max(Send.id))
        .where(
            col(Send.relation_id) == relation_id,
            col(Send.status) == SendStatus.sent,
            ~bounced,
        )
        .scalar_subquery()
    )
    return int(
        session.exec(
            select(func.count(func.distinct(SendFeedback.send_id)))
            .join(Send, col(Send.id) == col(SendFeedback.send_id))
            .where(
                col(Send.relation_id) == relation_id,
                col(SendFeedback.kind) == FeedbackKind.soft_bounce,
                col(Send.id) > func.coalesce(last_clean, 0),
            )
        ).one()
    )


def complaint(session: Session, send: Send, *, detail: str, dedupe_key: str) -> bool:
    """A spam complaint (an ARF report): never mail the address again."""
    assert send.id is not None
    if not record(session, send.id, FeedbackKind.complaint, detail=detail, dedupe_key=dedupe_key):
        return False
    address = _recipient(session, send)
    if address is not None:
        suppressions.suppress_hash(
            session, address, SuppressionReason.complaint, detail, send_id=send.id
        )
    return True


def unsubscribe(session: Session, send: Send, *, detail: str = "one-click") -> bool:
    """The relation unsubscribed from a mail: opt-in email off, address suppressed.
    Once per send (a second click changes nothing)."""
    assert send.id is not None
    if not record(
        session,
        send.id,
        FeedbackKind.unsubscribe,
        detail=detail,
        dedupe_key=f"unsubscribe:{send.id}",
    ):
        return False
    relation = session.get(Relation, send.relation_id)
    if relation is not None:
        relation.opt_in_email = False
        session.add(relation)
    address = _recipient(session, send)
    if address is not None:
        suppressions.suppress_hash(
            session, address, SuppressionReason.unsubscribe, detail, send_id=send.id
        )
    return True
