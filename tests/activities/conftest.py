"""Activity fixtures: the real SMTP pool against the aiosmtpd sink, engines per database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.engine import Engine

from activities.mail.outgoing import Sender
from activities.mail.smtp import SmtpPool
from activities.send import SendActivities
from store.db import make_engine
from tests.support.rendering import shared_render_pool
from tests.support.smtp import SmtpSink

MAIL_FROM = "Reisplan Test <journeys@example.org>"
MAIL_DOMAIN = "test.reisplan.example"


@pytest.fixture
def any_engine(db_url: str) -> Iterator[Engine]:
    """An engine on SQLite, then on PostgreSQL (the test runs once for each)."""
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
async def pool(smtp_sink: SmtpSink) -> AsyncIterator[SmtpPool]:
    smtp = SmtpPool(
        host="127.0.0.1", port=smtp_sink.port, size=2, timeout=5, local_hostname="worker.test"
    )
    yield smtp
    await smtp.close()


SENDER = Sender(
    mail_from=MAIL_FROM,
    mail_domain=MAIL_DOMAIN,
    public_url="http://reisplan.test",
    secret=b"test-secret",
    list_id=f"journeys.{MAIL_DOMAIN}",
    bounce_address=f"bounces@{MAIL_DOMAIN}",
)


def make_sender(engine: Engine, smtp: SmtpPool) -> SendActivities:
    return SendActivities(engine, smtp, shared_render_pool(), SENDER)
