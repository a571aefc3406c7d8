"""The rules a bounce, a complaint or an unsubscribe applies, on both databases."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from domain.statuses import SendStatus
from store import feedback, suppressions
from store.db import make_engine, session_scope
from store.models import Journey, Relation, Send, Trip


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def _send(engine: Engine, relation_id: int, number: int, status: SendStatus) -> int:
    with session_scope(engine) as session:
        journey = session.get(Journey, 1)
        if journey is None:
            session.add(Journey(id=1, name="j", definition={"name": "j", "steps": []}))
            session.flush()
        trip_id = f"trip:1:{relation_id}:{number}"
        session.add(
            Trip(
                id=trip_id, journey_id=1, journey_version=1, relation_id=relation_id, number=number
            )
        )
        session.flush()
        relation = session.get(Relation, relation_id)
        assert relation is not None and relation.email
        send = Send(
            key=f"{trip_id}/mail",
            trip_id=trip_id,
            step_id="mail",
            relation_id=relation_id,
            journey_id=1,
            template="t",
            message_id=f"<{number}@x>",
            status=status,
            address_hash=suppressions.address_hash(relation.email),
        )
        session.add(send)
        session.flush()
        assert send.id is not None
        return send.id


def _relation(engine: Engine, email: str) -> int:
    with session_scope(engine) as session:
        relation = Relation(email=email)
        session.add(relation)
        session.flush()
        assert relation.id is not None
        return relation.id


def _bounce(engine: Engine, send_id: int, *, hard: bool, key: str) -> bool:
    with session_scope(engine) as session:
        send = session.get(Send, send_id)
        assert send is not None
        return feedback.bounce(session, send, hard=hard, detail="x", dedupe_key=key, soft_limit=2)


def _suppressed(engine: Engine, email: str) -> bool:
    with session_scope(engine) as session:
        return suppressions.is_suppressed(session, email) is not None


def test_a_late_bounce_suppresses_the_address_the_mail_went_to(engine: Engine) -> None:
    ann = _relation(engine, "old@example.org")
    sent = _send(engine, ann, 1, SendStatus.sent)
    with session_scope(engine) as session:
        relation = session.get(Relation, ann)
        assert relation is not None
        relation.email = "new@example.org"  # she moved before the bounce came back
    assert _bounce(engine, sent, hard=True, key="dsn:1")
    assert _suppressed(engine, "old@example.org")
    assert not _suppressed(engine, "new@example.org")
    assert not _bounce(engine, sent, hard=True, key="dsn:1")  # the same report: nothing more


def test_soft_bounces_count_since_the_last_clean_delivery(engine: Engine) -> None:
    bob = _relation(engine, "bob@example.org")
    first = _send(engine, bob, 1, SendStatus.sent)
    _bounce(engine, first, hard=False, key="a")
    _send(engine, bob, 2, SendStatus.sent)  # delivered cleanly since: the count restarts
    third = _send(engine, bob, 3, SendStatus.sent)
    _bounce(engine, third, hard=False, key="b")
    assert not _suppressed(engine, "bob@example.org")  # 1 since the clean one, limit 2
    fourth = _send(engine, bob, 4, SendStatus.sent)
    _bounce(engine, fourth, hard=False, key="c")
    assert _suppressed(engine, "bob@example.org")
