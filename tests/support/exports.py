"""Rows for the export tests: relations with a sent mail that bounces hard, as the
send activity or the bounce mailbox records it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from domain.statuses import SendStatus
from store import feedback, suppressions
from store.db import session_scope
from store.models import Journey, Relation, Send, Trip


def newsletter(engine: Engine) -> int:
    """A journey whose (already finished) trips sent the mails that bounce."""
    with session_scope(engine) as session:
        journey = Journey(name="Newsletter", status="inactive", definition={})
        session.add(journey)
        session.flush()
        assert journey.id is not None
        return journey.id


def sent_mail(engine: Engine, journey_id: int, **relation_fields: Any) -> tuple[int, int]:
    """A relation and a mail sent to it: (relation id, send id)."""
    with session_scope(engine) as session:
        relation = Relation(**relation_fields)
        session.add(relation)
        session.flush()
        assert relation.id is not None
        trip_id = f"trip:{journey_id}:{relation.id}:1"
        session.add(
            Trip(
                id=trip_id,
                journey_id=journey_id,
                journey_version=1,
                relation_id=relation.id,
                admitted_relation_id=relation.id,
                number=1,
                status="completed",
            )
        )
        session.flush()
        send = Send(
            key=f"{trip_id}/news",
            trip_id=trip_id,
            step_id="news",
            relation_id=relation.id,
            journey_id=journey_id,
            template="news",
            message_id=f"<{relation.id}@test>",
            status=SendStatus.sent,
            address_hash=suppressions.address_hash(str(relation.email)),
        )
        session.add(send)
        session.flush()
        assert send.id is not None
        return relation.id, send.id


def hard_bounce(engine: Engine, send_id: int, key: str = "") -> int | None:
    """Record a hard bounce of the send (as a 5xx reply or a DSN would); the id of the
    `email_bounced` event still to dispatch, if any."""
    with session_scope(engine) as session:
        send = session.get(Send, send_id)
        assert send is not None
        feedback.bounce(
            session,
            send,
            hard=True,
            detail="550 5.1.1 no such user",
            dedupe_key=key or f"t:{send_id}",
        )
    with session_scope(engine) as session:
        return feedback.bounce_event(session, send_id)
