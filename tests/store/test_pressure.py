"""What the frequency caps count, on SQLite and PostgreSQL: a relation's marketing mails
of the last 7 days that went or are going, from every journey, but not the one judged."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from domain.statuses import SendStatus
from store.db import make_engine
from store.models import Journey, Send, Trip
from store.pressure import recent_marketing_sends

NOW = datetime(2027, 6, 15, 12, 0, tzinfo=UTC)
ANNA, BOB = 1, 2


@pytest.fixture
def db(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def _sends(engine: Engine, rows: list[dict[str, Any]]) -> None:
    with Session(engine) as session:
        for number, journey_name in enumerate(("Welcome", "Newsletter", "Receipts"), 1):
            session.add(Journey(id=number, name=journey_name, definition={}))
            for relation_id in (ANNA, BOB):
                trip = f"trip:{number}:{relation_id}:1"
                session.add(
                    Trip(
                        id=trip,
                        journey_id=number,
                        journey_version=1,
                        relation_id=relation_id,
                        number=1,
                    )
                )
        session.flush()
        for index, row in enumerate(rows):
            journey = int(row.pop("journey", 1))
            relation = int(row.get("relation_id", ANNA))
            values: dict[str, Any] = {
                "key": f"trip:{journey}:{relation}:1/step{index}",
                "trip_id": f"trip:{journey}:{relation}:1",
                "step_id": f"step{index}",
                "relation_id": relation,
                "journey_id": journey,
                "template": "t",
                "message_id": f"<{index}@test>",
                "updated_at": NOW - timedelta(days=30),
                **row,
            }
            session.add(Send(**values))
        session.commit()


def test_the_caps_count_what_went_or_is_going_from_every_journey(db: Engine) -> None:
    hours = [timedelta(hours=h) for h in range(200)]
    _sends(
        db,
        [
            # Counted: sent (by its SMTP time, whatever the row's last change), bounced,
            # uncertain, and those claimed or transmitting right now (by their claim).
            {"status": SendStatus.sent, "sent_at": NOW - hours[30], "updated_at": NOW},
            {"journey": 2, "status": SendStatus.bounced, "sent_at": NOW - hours[5]},
            {"journey": 3, "status": SendStatus.uncertain, "sent_at": NOW - hours[160]},
            {"journey": 2, "status": SendStatus.claimed, "updated_at": NOW - hours[1]},
            {"journey": 3, "status": SendStatus.transmitting, "updated_at": NOW - hours[0]},
            # Not counted: older than 7 days, transactional, did not go, someone else's.
            {"status": SendStatus.sent, "sent_at": NOW - hours[169]},
            {"status": SendStatus.sent, "sent_at": NOW - hours[2], "transactional": True},
            {"status": SendStatus.skipped, "updated_at": NOW - hours[3], "reason": "capped"},
            {"status": SendStatus.failed, "updated_at": NOW - hours[3]},
            {"status": SendStatus.deferred, "updated_at": NOW - hours[3]},
            {"status": SendStatus.dismissed, "sent_at": NOW - hours[3]},
            {"relation_id": BOB, "status": SendStatus.sent, "sent_at": NOW - hours[4]},
            # The send being judged: its own claim does not count against it.
            {"journey": 2, "status": SendStatus.claimed, "updated_at": NOW},
        ],
    )
    with Session(db) as session:
        found = recent_marketing_sends(session, ANNA, NOW, exclude_key="trip:2:1:1/step12")
        for_bob = recent_marketing_sends(session, BOB, NOW, exclude_key="none")
    assert found == [NOW - hours[h] for h in (160, 30, 5, 1, 0)]
    assert all(moment.tzinfo is not None for moment in found)
    assert for_bob == [NOW - hours[4]]
