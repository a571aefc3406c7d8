"""Bounces and complaints that arrive later, in the bounce mailbox: read from a real POP3
server by the ReadBounces workflow (and its schedule), applied by the same rules as a
refusal at send time, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import poplib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import col, select
from temporalio.client import Client, ScheduleIntervalSpec
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker

from activities.bounces import BounceActivities
from activities.contracts import READ_BOUNCES_WORKFLOW, ReadBouncesInput, ReadBouncesResult
from activities.mail import bounce_reports, verp
from store import suppressions
from store.db import make_engine, session_scope
from store.ledger import message_id_for
from store.models import Send, SendFeedback, utcnow
from tests.activities.data import seed_trip
from tests.conftest import make_settings, running_worker
from tests.support.bounce_mail import (
    DOMAIN,
    original,
    out_of_office,
    postfix_dsn,
    yahoo_arf,
)
from tests.support.imap import ImapServer
from tests.support.pop3 import Pop3Server
from tests.support.smtp import SmtpSink
from worker.schedules import BOUNCE_SCHEDULE_ID, ensure_bounce_schedule
from worker.worker import WORKFLOW_RUNNER
from workflows.bounces import ReadBouncesWorkflow

SECRET = b"bounce test secret"
BOUNCES = f"bounces@{DOMAIN}"


@pytest.fixture
def mailbox() -> Iterator[Pop3Server]:
    server = Pop3Server().start()
    yield server
    server.stop()


@pytest.fixture
def any_engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@dataclass(frozen=True)
class Sent:
    id: int
    message_id: str
    email: str

    @property
    def verp(self) -> str:
        return verp.return_path(BOUNCES, SECRET, self.id)


def add_sends(engine: Engine, email: str, steps: int = 1) -> list[Sent]:
    """A relation, a journey, its trip and `steps` sent mails of that trip."""
    trip = seed_trip(engine, email=email)
    with session_scope(engine) as session:
        rows = []
        for n in range(1, steps + 1):
            key = f"{trip.trip_id}/mail{n}"
            row = Send(
                key=key,
                trip_id=trip.trip_id,
                step_id=f"mail{n}",
                relation_id=trip.relation_id,
                journey_id=trip.journey_id,
                template="welcome",
                message_id=message_id_for(key, DOMAIN),
                status="sent",
                attempts=1,
                sent_at=utcnow(),
            )
            session.add(row)
            rows.append(row)
        session.flush()
        return [Sent(r.id, r.message_id, email) for r in rows if r.id is not None]


def hard_bounce(sent: Sent, report_id: str) -> bytes:
    mail = original(to=sent.email, message_id=sent.message_id, return_path=sent.verp)
    return postfix_dsn(report_id=report_id, to=sent.verp, recipient=sent.email, mail=mail)


def forged_bounce(sent: Sent, report_id: str) -> bytes:
    """From someone who knows how our return paths look, but not the secret."""
    address = f"bounces+{sent.id}-AAAAAAAAAAAAAAAA@{DOMAIN}"
    mail = original(to=sent.email, message_id="<made-up@evil.example>", return_path=address)
    return postfix_dsn(report_id=report_id, to=address, recipient=sent.email, mail=mail)


def mailbox_full(sent: Sent, report_id: str) -> bytes:
    mail = original(to=sent.email, message_id=sent.message_id, return_path=sent.verp)
    return postfix_dsn(
        report_id=report_id,
        to=sent.verp,
        recipient=sent.email,
        mail=mail,
        action="delayed",
        status="4.2.2",
        reply="452 4.2.2",
        reason="Mailbox full",
    )


def complaint(sent: Sent, report_id: str) -> bytes:
    # Through a feedback loop: no VERP, the original's Message-ID names the send.
    mail = original(to="redacted@yahoo.example", message_id=sent.message_id)
    return yahoo_arf(report_id=report_id, mail=mail)


def feedback_of(engine: Engine, sent: Sent) -> list[tuple[str, str]]:
    with session_scope(engine) as session:
        rows = session.exec(
            select(SendFeedback)
            .where(col(SendFeedback.send_id) == sent.id)
            .order_by(col(SendFeedback.id))
        ).all()
        return [(row.kind, row.detail) for row in rows]


def suppression(engine: Engine, email: str) -> str | None:
    with session_scope(engine) as session:
        row = suppressions.is_suppressed(session, email)
        return row.reason if row is not None else None


def send_status(engine: Engine, sent: Sent) -> str:
    with session_scope(engine) as session:
        row = session.get(Send, sent.id)
        assert row is not None
        return row.status


@asynccontextmanager
async def bounce_worker(client: Client, engine: Engine, url: str) -> AsyncIterator[str]:
    task_queue = f"bounces-{uuid.uuid4().hex[:8]}"
    activities = BounceActivities(engine, url, SECRET)
    with ThreadPoolExecutor(max_workers=2) as executor:
        async with Worker(
            client,
            task_queue=task_queue,
            workflows=[ReadBouncesWorkflow],
            activities=[activities.read_bounce_mailbox],
            activity_executor=executor,
            workflow_runner=WORKFLOW_RUNNER,
        ):
            yield task_queue


async def read_bounces(client: Client, task_queue: str) -> ReadBouncesResult:
    result: ReadBouncesResult = await client.execute_workflow(
        READ_BOUNCES_WORKFLOW,
        ReadBouncesInput(),
        id=f"read-bounces-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue,
        result_type=ReadBouncesResult,
    )
    return result


async def test_a_bounce_and_a_complaint_in_the_mailbox_suppress_their_addresses(
    time_env: WorkflowEnvironment, any_engine: Engine, mailbox: Pop3Server
) -> None:
    [jan] = add_sends(any_engine, "jan@example.org")
    [piet] = add_sends(any_engine, "piet@yahoo.example")
    [kees] = add_sends(any_engine, "kees@example.org")
    dsn = hard_bounce(jan, "<dsn-jan@mail.example.net>")
    mailbox.put(dsn)
    mailbox.put(complaint(piet, "<arf-piet@yahoo.example>"))
    mailbox.put(forged_bounce(kees, "<forged@evil.example>"))
    mailbox.put(out_of_office(to=jan.verp, report_id="<ooo@example.org>"))

    async with bounce_worker(time_env.client, any_engine, mailbox.url) as queue:
        first = await read_bounces(time_env.client, queue)
        assert first == ReadBouncesResult(read=4, hard=1, complaints=1, unmatched=1, skipped=1)
        assert suppression(any_engine, "jan@example.org") == "hard_bounce"
        assert suppression(any_engine, "piet@yahoo.example") == "complaint"
        assert suppression(any_engine, "kees@example.org") is None
        [(kind, detail)] = feedback_of(any_engine, jan)
        assert kind == "hard_bounce" and "5.1.1" in detail and "User unknown" in detail
        assert "jan" not in detail
        assert [kind for kind, _ in feedback_of(any_engine, piet)] == ["complaint"]
        assert feedback_of(any_engine, kees) == []
        # The relay accepted the mail: the send stays sent, its feedback says the rest.
        assert send_status(any_engine, jan) == "sent"
        # POP3 keeps no flags: what was read is gone, set aside or applied alike.
        assert mailbox.messages == []

        assert await read_bounces(time_env.client, queue) == ReadBouncesResult()

        # The same report once more (a mailbox that kept it, a second copy): counted
        # as repeated, nothing new recorded.
        mailbox.put(dsn)
        assert await read_bounces(time_env.client, queue) == ReadBouncesResult(read=1, repeated=1)
    assert len(feedback_of(any_engine, jan)) == 1
    assert mailbox.messages == []


def test_soft_bounces_count_and_suppress_at_the_limit(
    any_engine: Engine, mailbox: Pop3Server
) -> None:
    first, second, third = add_sends(any_engine, "full@example.org", steps=3)
    activities = BounceActivities(any_engine, mailbox.url, SECRET)

    def read() -> ReadBouncesResult:
        result = ActivityEnvironment().run(activities.read_bounce_mailbox, ReadBouncesInput())
        assert isinstance(result, ReadBouncesResult)
        return result

    mailbox.put(mailbox_full(first, "<delay-1@mail.example.net>"))
    mailbox.put(mailbox_full(second, "<delay-2@mail.example.net>"))
    assert read() == ReadBouncesResult(read=2, soft=2)
    assert suppression(any_engine, "full@example.org") is None  # 2 of 3

    mailbox.put(mailbox_full(third, "<delay-3@mail.example.net>"))
    assert read() == ReadBouncesResult(read=1, soft=1)
    assert suppression(any_engine, "full@example.org") == "soft_bounces"
    assert [kind for kind, _ in feedback_of(any_engine, third)] == ["soft_bounce"]


def test_a_message_leaves_the_mailbox_only_once_it_is_applied(
    engine: Engine, mailbox: Pop3Server
) -> None:
    """A database that fails on the second message: the first is applied and deleted,
    the second stays for the next run, which applies it once."""
    [jan] = add_sends(engine, "jan@example.org")
    [full] = add_sends(engine, "full@example.org")
    mailbox.put(hard_bounce(jan, "<dsn-1@mail.example.net>"))
    mailbox.put(mailbox_full(full, "<delay-1@mail.example.net>"))
    with engine.begin() as connection:
        connection.execute(
            text(
                # A runtime error, not a constraint: the store takes an IntegrityError
                # on send_feedback for a report recorded concurrently.
                "CREATE TRIGGER refuse_soft BEFORE INSERT ON send_feedback "
                "WHEN NEW.kind = 'soft_bounce' BEGIN SELECT abs(-9223372036854775808); END"
            )
        )
    activities = BounceActivities(engine, mailbox.url, SECRET)
    with pytest.raises(OperationalError, match="integer overflow"):
        ActivityEnvironment().run(activities.read_bounce_mailbox, ReadBouncesInput())
    assert suppression(engine, "jan@example.org") == "hard_bounce"
    assert len(mailbox.messages) == 1 and b"delay-1" in mailbox.messages[0]
    assert feedback_of(engine, full) == []

    with engine.begin() as connection:
        connection.execute(text("DROP TRIGGER refuse_soft"))
    again = ActivityEnvironment().run(activities.read_bounce_mailbox, ReadBouncesInput())
    assert again == ReadBouncesResult(read=1, soft=1)
    assert [kind for kind, _ in feedback_of(engine, full)] == ["soft_bounce"]
    assert mailbox.messages == []


def test_an_imap_mailbox_keeps_what_it_cannot_apply_for_an_operator(engine: Engine) -> None:
    [jan] = add_sends(engine, "jan@example.org")
    [kees] = add_sends(engine, "kees@example.org")
    [piet] = add_sends(engine, "piet@example.org")
    server = ImapServer().start()
    try:
        server.put(hard_bounce(jan, "<dsn-jan@mail.example.net>"))
        server.put(out_of_office(to=jan.verp, report_id="<ooo@example.org>"))
        server.put(forged_bounce(kees, "<forged@evil.example>"))
        # Already seen: an operator read it in a mail client, so it is theirs to handle.
        server.put(hard_bounce(piet, "<dsn-piet@mail.example.net>"), "\\Seen")
        activities = BounceActivities(engine, server.url, SECRET)

        first = ActivityEnvironment().run(activities.read_bounce_mailbox, ReadBouncesInput())
        assert first == ReadBouncesResult(read=3, hard=1, unmatched=1, skipped=1)
        assert suppression(engine, "jan@example.org") == "hard_bounce"
        assert suppression(engine, "kees@example.org") is None
        assert suppression(engine, "piet@example.org") is None
        left = server.messages
        assert [flags for _, flags in left] == [{"\\Seen"}] * 3
        assert not any(b"dsn-jan" in raw for raw, _ in left)  # applied: expunged

        again = ActivityEnvironment().run(activities.read_bounce_mailbox, ReadBouncesInput())
        assert again == ReadBouncesResult()
        assert len(server.messages) == 3
    finally:
        server.stop()


async def test_the_schedule_reads_the_mailbox_while_one_is_set(
    dev_env: WorkflowEnvironment, engine: Engine, smtp_sink: SmtpSink, sqlite_url: str
) -> None:
    client = dev_env.client
    assert await ensure_bounce_schedule(client, "queue-a", None) == "absent"
    assert await ensure_bounce_schedule(client, "queue-a", timedelta(minutes=5)) == "created"
    assert await ensure_bounce_schedule(client, "queue-a", timedelta(minutes=5)) == "kept"
    assert await ensure_bounce_schedule(client, "queue-a", timedelta(minutes=1)) == "updated"
    handle = client.get_schedule_handle(BOUNCE_SCHEDULE_ID)
    [interval] = (await handle.describe()).schedule.spec.intervals
    assert isinstance(interval, ScheduleIntervalSpec) and interval.every == timedelta(minutes=1)
    assert await ensure_bounce_schedule(client, "queue-a", None) == "removed"
    assert await ensure_bounce_schedule(client, "queue-a", None) == "absent"

    # Through the worker as `reisplan worker` builds it, on its own task queue.
    server = Pop3Server().start()
    try:
        settings = make_settings(
            sqlite_url,
            smtp_sink,
            task_queue=f"bounces-{uuid.uuid4().hex[:8]}",
            bounce_mailbox=server.url,
            secret_key=SECRET.decode(),
        )
        [jan] = add_sends(engine, "jan@example.org")
        server.put(hard_bounce(jan, "<dsn-scheduled@mail.example.net>"))
        every = timedelta(seconds=settings.bounce_check_every)
        assert await ensure_bounce_schedule(client, settings.task_queue, every) == "created"
        async with running_worker(client, engine, settings):
            await handle.trigger()  # the next interval, now
            for _ in range(200):
                if not server.messages:
                    break
                await asyncio.sleep(0.05)
        assert server.messages == []
        assert suppression(engine, "jan@example.org") == "hard_bounce"
    finally:
        server.stop()


def pop3_login(server: Pop3Server) -> poplib.POP3:
    """Logged in, once the previous session let go of the maildrop (a session that
    broke off is noticed by the server a moment later)."""
    for _ in range(100):
        client = poplib.POP3("127.0.0.1", server.port, timeout=5)
        client.user(server.username)
        try:
            client.pass_(server.password)
        except poplib.error_proto as error:
            client.close()
            if b"locked" not in error.args[0]:
                raise
            time.sleep(0.02)
            continue
        return client
    raise AssertionError("the maildrop stayed locked")


def test_the_test_pop3_server_keeps_to_the_protocol(mailbox: Pop3Server) -> None:
    """What the reader relies on: lines starting with a dot arrive intact, and only a
    session that ends with QUIT deletes what it marked."""
    raw = b"Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nend\r\n"
    mailbox.put(raw)
    first = pop3_login(mailbox)
    assert first.capa() == {"USER": [], "UIDL": []}
    _, lines, _ = first.retr(1)
    assert b"\r\n".join(lines) + b"\r\n" == raw
    first.dele(1)
    other = poplib.POP3("127.0.0.1", mailbox.port, timeout=5)
    other.user(mailbox.username)
    with pytest.raises(poplib.error_proto, match="locked"):
        other.pass_(mailbox.password)
    other.close()
    first.close()  # no QUIT: the session broke off
    assert mailbox.messages == [raw]

    second = pop3_login(mailbox)
    second.dele(1)
    second.rset()
    second.quit()
    assert mailbox.messages == [raw]
    third = pop3_login(mailbox)
    third.dele(1)
    third.quit()
    assert mailbox.messages == []


def test_messages_the_parser_fails_on_do_not_keep_the_reader_from_newer_reports(
    engine: Engine, mailbox: Pop3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two messages the parser cannot read (a parser bug, simulated by wrapping the real
    parser) at the head of the mailbox, a real DSN behind them, and a reader that takes
    two messages a run: the DSN is applied by the second run, not never."""
    [jan] = add_sends(engine, "jan@example.org")
    for n in range(2):
        mailbox.put(f"Subject: odd {n}\r\nX-Breaks-Parser: yes\r\n\r\nbody\r\n".encode())
    mailbox.put(hard_bounce(jan, "<dsn-1@mail.example.net>"))
    real = bounce_reports.parse

    def parse(raw: bytes, secret: bytes) -> list[bounce_reports.Report]:
        if b"X-Breaks-Parser" in raw:
            raise ValueError("the parser cannot read this")
        return real(raw, secret)

    monkeypatch.setattr(bounce_reports, "parse", parse)
    activities = BounceActivities(engine, mailbox.url, SECRET)
    first = ActivityEnvironment().run(activities.read_bounce_mailbox, ReadBouncesInput(limit=2))
    assert first == ReadBouncesResult(read=2, failed=2)
    second = ActivityEnvironment().run(activities.read_bounce_mailbox, ReadBouncesInput(limit=2))
    assert second == ReadBouncesResult(read=1, hard=1)
    assert suppression(engine, "jan@example.org") == "hard_bounce"
