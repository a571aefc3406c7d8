"""send_email against a real SMTP server: personalised, recorded, and never sent twice."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import col
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.contracts import ResendEmailInput, SendEmailInput, SendEmailResult, SendStatus
from activities.mail.smtp import SmtpPool
from activities.passages import write_passage
from activities.send import SendActivities
from domain.statuses import Outcome
from store import ledger, paths, relations, templates
from store.db import session_scope
from store.models import Send, utcnow
from tests.activities.conftest import MAIL_DOMAIN, SENDER, make_sender
from tests.activities.data import (
    ENTERED,
    Seeded,
    add_template,
    erase_relation,
    passage,
    path,
    seed_trip,
    sends,
    trip,
)
from tests.support.smtp import SinkHandler, SmtpSink, free_port

WELCOME_HTML = (
    "<html><head><style>p {color: red}</style></head><body>"
    "<h1>Welcome, {{ relation.first_name }}!</h1>"
    "<p>Your plan: {{ relation.plan }}.</p>"
    "<p>Note: {{ relation.note }}</p>"
    '<p><a href="https://example.org/start">Get started</a></p>'
    "</body></html>"
)


def _input(seeded: Seeded, template: str = "welcome", step_id: str = "welcome") -> SendEmailInput:
    return SendEmailInput(
        passage=passage(seeded.trip_id, step_id=step_id),
        relation_id=seeded.relation_id,
        journey_id=seeded.journey_id,
        template=template,
    )


def _claim(engine: Engine, seeded: Seeded) -> str:
    """Claim the welcome send as an earlier attempt would have; returns its ledger key."""
    key = ledger.send_key(seeded.trip_id, "welcome")
    ledger.claim(
        engine,
        key=key,
        trip_id=seeded.trip_id,
        step_id="welcome",
        relation_id=seeded.relation_id,
        journey_id=seeded.journey_id,
        template="welcome",
        message_id=ledger.message_id_for(key, MAIL_DOMAIN),
    )
    return key


async def _send(sender: SendActivities, data: SendEmailInput) -> SendEmailResult:
    result: SendEmailResult = await ActivityEnvironment().run(sender.send_email, data)
    return result


def _part(message: EmailMessage, subtype: str) -> str:
    body = message.get_body(preferencelist=(subtype,))
    assert body is not None
    # The wire format has CRLF line ends; compare text as typed.
    return str(body.get_content()).replace("\r\n", "\n")


def _welcome(engine: Engine, **relation: Any) -> Seeded:
    add_template(engine, "welcome", "Welcome {{ relation.first_name }}", WELCOME_HTML)
    fields: dict[str, Any] = dict(
        email="anna@example.org",
        first_name="Anna",
        last_name="de Vries",
        custom={"plan": "Gold", "note": "<b>bold</b>"},
    )
    fields.update(relation)
    return seed_trip(engine, **fields)


async def test_a_personalised_mail_arrives(
    engine: Engine, pool: SmtpPool, smtp_sink: SmtpSink
) -> None:
    seeded = _welcome(engine)
    result = await _send(make_sender(engine, pool), _input(seeded))

    key = ledger.send_key(seeded.trip_id, "welcome")
    assert result == SendEmailResult(
        status=SendStatus.sent, message_id=ledger.message_id_for(key, MAIL_DOMAIN, SENDER.secret)
    )
    [message] = smtp_sink.messages
    assert message["Subject"] == "Welcome Anna"
    assert message["To"] == "Anna de Vries <anna@example.org>"
    assert message["From"] == "Reisplan Test <journeys@example.org>"
    assert message["Message-ID"] == result.message_id
    assert message["X-Reisplan-Trip"] == seeded.trip_id
    assert message["Date"]
    html = _part(message, "html")
    assert "Welcome, Anna!" in html
    assert "Your plan: Gold." in html
    # Relation data is escaped in HTML: a field cannot inject markup.
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    # No text in the template: a readable one is derived from the HTML.
    text = _part(message, "plain")
    assert "Welcome, Anna!" in text
    assert "Get started (https://example.org/start)" in text
    assert "color" not in text and "<h1>" not in text
    # Text is not HTML: the relation's note reads as typed.
    assert "Note: <b>bold</b>" in text

    [row] = sends(engine, seeded.trip_id)
    assert (row.status, row.attempts, row.message_id) == ("sent", 1, result.message_id)
    [step] = path(engine, seeded.trip_id)
    assert (step.step_id, step.outcome) == ("welcome", "sent")
    assert trip(engine, seeded.trip_id).current_step == "welcome"


async def test_a_retry_after_a_successful_send_sends_nothing(
    any_engine: Engine, pool: SmtpPool, smtp_sink: SmtpSink
) -> None:
    seeded = _welcome(any_engine)
    sender = make_sender(any_engine, pool)
    first = await _send(sender, _input(seeded))
    # The worker died before Temporal heard of the result: the activity runs again.
    second = await _send(sender, _input(seeded))

    assert len(smtp_sink.messages) == 1
    assert first == second
    assert first.status is SendStatus.sent
    assert [r.outcome for r in path(any_engine, seeded.trip_id)] == ["sent"]


async def test_two_concurrent_attempts_send_one_mail(
    any_engine: Engine, pool: SmtpPool, smtp_sink: SmtpSink
) -> None:
    seeded = _welcome(any_engine)
    sender = make_sender(any_engine, pool)
    results = await asyncio.gather(*(_send(sender, _input(seeded)) for _ in range(2)))

    assert len(smtp_sink.messages) == 1
    assert [r.status for r in results] == [SendStatus.sent, SendStatus.sent]
    [row] = sends(any_engine, seeded.trip_id)
    assert (row.status, row.attempts) == ("sent", 1)


async def test_a_send_cut_off_mid_transaction_becomes_uncertain_and_is_not_resent(
    any_engine: Engine, pool: SmtpPool, smtp_sink: SmtpSink
) -> None:
    seeded = _welcome(any_engine)
    key = ledger.send_key(seeded.trip_id, "welcome")
    # What a worker killed during DATA leaves behind (a while ago: Temporal retries a
    # dead worker's activity only after its timeout).
    with session_scope(any_engine) as session:
        session.add(
            Send(
                key=key,
                trip_id=seeded.trip_id,
                step_id="welcome",
                relation_id=seeded.relation_id,
                journey_id=seeded.journey_id,
                template="welcome",
                message_id=ledger.message_id_for(key, MAIL_DOMAIN),
                status="transmitting",
                attempts=1,
                updated_at=utcnow() - timedelta(minutes=2),
            )
        )
    result = await _send(make_sender(any_engine, pool), _input(seeded))

    assert result.status is SendStatus.uncertain
    assert "delivery unknown" in result.detail
    assert smtp_sink.messages == []
    [row] = sends(any_engine, seeded.trip_id)
    assert row.status == "uncertain"
    [step] = path(any_engine, seeded.trip_id)
    assert step.outcome == "uncertain"


async def test_a_claim_left_before_transmitting_is_sent_once(
    engine: Engine, pool: SmtpPool, smtp_sink: SmtpSink
) -> None:
    seeded = _welcome(engine)
    _claim(engine, seeded)
    result = await _send(make_sender(engine, pool), _input(seeded))
    assert result.status is SendStatus.sent
    assert len(smtp_sink.messages) == 1


async def test_a_permanent_refusal_is_a_bounce_and_the_trip_goes_on(
    any_engine: Engine, pool: SmtpPool, smtp_sink: SmtpSink
) -> None:
    seeded = _welcome(any_engine, email="gone@example.org")
    smtp_sink.handler.refuse["gone@example.org"] = "550 5.1.1 <gone@example.org>: no such user"
    result = await _send(make_sender(any_engine, pool), _input(seeded))

    assert result.status is SendStatus.bounced
    assert result.detail.startswith("550 5.1.1")
    # The server's reply named the address; the recorded detail must not.
    assert "gone@" not in result.detail
    assert smtp_sink.messages == []
    [row] = sends(any_engine, seeded.trip_id)
    assert (row.status, row.detail) == ("bounced", result.detail)
    [step] = path(any_engine, seeded.trip_id)
    assert step.outcome == "bounced"
    # The path names the template and the Message-ID receivers can trace it by.
    assert step.detail == f"template `welcome` v1; Message-ID {result.message_id}; {result.detail}"


async def test_a_temporary_refusal_retries_and_a_later_attempt_sends_once(
    any_engine: Engine, pool: SmtpPool, smtp_sink: SmtpSink
) -> None:
    seeded = _welcome(any_engine, email="busy@example.org")
    smtp_sink.handler.refuse["busy@example.org"] = "451 4.3.0 mailbox busy, try later"
    sender = make_sender(any_engine, pool)
    with pytest.raises(ApplicationError) as raised:
        await _send(sender, _input(seeded))
    assert not raised.value.non_retryable
    assert "451" in str(raised.value) and "busy@" not in str(raised.value)
    [row] = sends(any_engine, seeded.trip_id)
    assert row.status == "claimed"
    assert path(any_engine, seeded.trip_id)[0].outcome == "sending"

    smtp_sink.handler.refuse.clear()
    result = await _send(sender, _input(seeded))
    assert result.status is SendStatus.sent
    assert len(smtp_sink.messages) == 1
    assert path(any_engine, seeded.trip_id)[0].outcome == "sent"


async def test_an_unreachable_relay_retries_without_recording_a_result(engine: Engine) -> None:
    seeded = _welcome(engine)
    nobody = SmtpPool(host="127.0.0.1", port=free_port(), size=1, timeout=2)
    try:
        with pytest.raises(ApplicationError) as raised:
            await _send(make_sender(engine, nobody), _input(seeded))
    finally:
        await nobody.close()
    assert not raised.value.non_retryable
    assert "unavailable" in str(raised.value)
    [row] = sends(engine, seeded.trip_id)
    assert (row.status, row.attempts) == ("claimed", 0)


class _HangUpAfterData(SinkHandler):
    """Takes the whole message, then drops the connection instead of answering."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await super().handle_DATA(server, session, envelope)
        server.transport.close()
        return "250 never heard"


async def test_a_connection_lost_after_data_is_uncertain_not_resent(engine: Engine) -> None:
    seeded = _welcome(engine)
    handler = _HangUpAfterData()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    smtp = SmtpPool(host="127.0.0.1", port=controller.port, size=1, timeout=5)
    try:
        sender = make_sender(engine, smtp)
        first = await _send(sender, _input(seeded))
        again = await _send(sender, _input(seeded))
    finally:
        await smtp.close()
        controller.stop()

    assert first.status is SendStatus.uncertain
    assert again == first
    # It did arrive: resending would have made it two.
    assert len(handler.messages) == 1
    assert sends(engine, seeded.trip_id)[0].status == "uncertain"


class _RefuseSender(SinkHandler):
    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        return "550 5.7.1 sender not authorised"


async def test_a_refused_sender_is_retried_not_bounced(engine: Engine) -> None:
    # A relay policy problem is ours, not the relation's: no bounce is recorded for them.
    seeded = _welcome(engine)
    controller = Controller(_RefuseSender(), hostname="127.0.0.1", port=free_port())
    controller.start()
    smtp = SmtpPool(host="127.0.0.1", port=controller.port, size=1, timeout=5)
    try:
        with pytest.raises(ApplicationError) as raised:
            await _send(make_sender(engine, smtp), _input(seeded))
    finally:
        await smtp.close()
        controller.stop()
    assert not raised.value.non_retryable
    assert "550 5.7.1" in str(raised.value)
    assert sends(engine, seeded.trip_id)[0].status == "claimed"


@pytest.mark.parametrize(
    ("relation", "detail"),
    [
        ({"opt_in_email": False}, "no email consent"),
        ({"email": None}, "no email address"),
        ({"email": "not-an-address"}, "invalid email address"),
    ],
)
async def test_relations_that_cannot_receive_mail_are_skipped_and_the_path_says_so(
    engine: Engine,
    pool: SmtpPool,
    smtp_sink: SmtpSink,
    relation: dict[str, Any],
    detail: str,
) -> None:
    seeded = _welcome(engine, **relation)
    result = await _send(make_sender(engine, pool), _input(seeded))

    assert (result.status, result.detail, result.relation_exists) == (
        SendStatus.skipped,
        detail,
        True,
    )
    assert smtp_sink.messages == []
    [step] = path(engine, seeded.trip_id)
    assert (step.outcome, step.detail) == ("skipped", f"template `welcome` v1; {detail}")
    assert sends(engine, seeded.trip_id)[0].status == "skipped"


async def test_an_erased_relation_is_skipped_and_reported(
    engine: Engine, pool: SmtpPool, smtp_sink: SmtpSink
) -> None:
    seeded = _welcome(engine)
    erase_relation(engine, seeded.relation_id)
    sender = make_sender(engine, pool)
    result = await _send(sender, _input(seeded))
    assert (result.status, result.detail, result.relation_exists) == (
        SendStatus.skipped,
        "relation erased",
        False,
    )
    # A retry reads the recorded result and still reports the erasure.
    assert (await _send(sender, _input(seeded))).relation_exists is False
    assert smtp_sink.messages == []
    assert path(engine, seeded.trip_id)[0].detail == "template `welcome` v1; relation erased"


async def test_an_undefined_template_variable_fails_the_send_with_the_field_named(
    engine: Engine, pool: SmtpPool, smtp_sink: SmtpSink
) -> None:
    seeded = seed_trip(engine, email="anna@example.org", first_name="Anna")
    add_template(
        engine, "colours", "Hi {{ relation.first_name }}", "<p>{{ relation.favourite_colour }}</p>"
    )
    result = await _send(make_sender(engine, pool), _input(seeded, template="colours"))

    assert result.status is SendStatus.failed
    assert "'colours'" in result.detail and "favourite_colour" in result.detail
    assert "Anna" not in result.detail
    assert smtp_sink.messages == []
    [step] = path(engine, seeded.trip_id)
    assert (step.outcome, step.detail) == ("failed", f"template `colours` v1; {result.detail}")


@pytest.mark.parametrize(
    ("subject", "html", "where"),
    [
        ("Hi", "<p>Hello</p>\n<p>{{ relation[relation.city] }}</p>", "(html), line 2"),
        ("Hi {{ relation.first_name.encode('ascii') }}", "<p>Hello</p>", "(subject), line 1"),
    ],
)
async def test_a_failed_render_records_no_relation_data(
    engine: Engine, pool: SmtpPool, smtp_sink: SmtpSink, subject: str, html: str, where: str
) -> None:
    seeded = seed_trip(
        engine, email="zoe@example.org", first_name="Zoë", custom={"city": "Utrecht"}
    )
    add_template(engine, "broken", subject, html)
    result = await _send(make_sender(engine, pool), _input(seeded, template="broken"))

    assert result.status is SendStatus.failed
    assert smtp_sink.messages == []
    [row] = sends(engine, seeded.trip_id)
    [step] = path(engine, seeded.trip_id)
    # Temporal history (the result), the ledger and the trip's path shown in the UI.
    assert step.detail == f"template `broken` v1; {row.detail}"
    assert row.detail == result.detail
    assert [v for v in ("Utrecht", "Zoë", "\\xeb", "zoe@") if v in result.detail] == []
    assert result.detail.startswith(f"template 'broken' {where}: ")


async def test_a_missing_template_fails_the_send(
    engine: Engine, pool: SmtpPool, smtp_sink: SmtpSink
) -> None:
    seeded = seed_trip(engine, email="anna@example.org")
    result = await _send(make_sender(engine, pool), _input(seeded, template="nope"))
    assert result.status is SendStatus.failed
    assert result.detail == "template 'nope' does not exist"
    assert smtp_sink.messages == []


async def test_an_edited_template_is_used_by_the_next_send(
    engine: Engine, pool: SmtpPool, smtp_sink: SmtpSink
) -> None:
    seeded = _welcome(engine)
    later = seed_trip(engine, email="bob@example.org", first_name="Bob", custom={})
    sender = make_sender(engine, pool)
    await _send(sender, _input(seeded))
    with session_scope(engine) as session:
        # A journey version activated before template versions existed has no pin: it
        # sends the latest version.
        templates.update(
            session,
            "welcome",
            {
                "subject": "Hello again {{ relation.first_name }}",
                "html": "<p>New text for {{ relation.first_name }}</p>",
            },
        )
    await _send(sender, _input(later))

    assert [m["Subject"] for m in smtp_sink.messages] == ["Welcome Anna", "Hello again Bob"]
    assert "New text for Bob" in _part(smtp_sink.messages[1], "html")


async def test_a_text_part_in_the_template_is_used_unescaped(
    engine: Engine, pool: SmtpPool, smtp_sink: SmtpSink
) -> None:
    seeded = seed_trip(engine, email="jan@example.org", first_name="Jan & Piet")
    add_template(
        engine,
        "plain",
        "For {{ relation.first_name }}",
        "<p>{{ relation.first_name }}</p>",
        text="Dear {{ relation.first_name }},\nwelcome.",
    )
    await _send(make_sender(engine, pool), _input(seeded, template="plain"))
    [message] = smtp_sink.messages
    assert message["Subject"] == "For Jan & Piet"
    assert _part(message, "plain").startswith("Dear Jan & Piet,\nwelcome.")
    assert "Jan &amp; Piet" in _part(message, "html")


class _LockAtRecipient(SinkHandler):
    """Accepts the first recipient only once another connection holds a write lock on
    the send ledger row, and keeps that lock for `hold` seconds: the database is slow at
    the very moment the send marks the row `transmitting`."""

    def __init__(self, engine: Engine, key: str, hold: float) -> None:
        super().__init__()
        self._engine = engine
        self._key = key
        self._hold = hold
        self.holder: threading.Thread | None = None

    def _lock(self, locked: threading.Event) -> None:
        with self._engine.begin() as conn:
            # An UPDATE takes SQLite's write lock and PostgreSQL's row lock alike.
            conn.execute(
                update(Send).where(col(Send.key) == self._key).values(detail=col(Send.detail))
            )
            locked.set()
            time.sleep(self._hold)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.holder is None:
            locked = threading.Event()
            self.holder = threading.Thread(target=self._lock, args=(locked,))
            self.holder.start()
            locked.wait()
        return await super().handle_RCPT(server, session, envelope, address, options)

    async def lock_released(self) -> None:
        assert self.holder is not None
        await asyncio.to_thread(self.holder.join)
        # Temporal retries after a backoff (1 s by default); a write still pending from
        # the first attempt has landed by then.
        await asyncio.sleep(0.5)


@asynccontextmanager
async def _slow_ledger(
    engine: Engine, seeded: Seeded, *, hold: float, smtp_timeout: float
) -> AsyncIterator[tuple[_LockAtRecipient, SendActivities]]:
    handler = _LockAtRecipient(engine, ledger.send_key(seeded.trip_id, "welcome"), hold)
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    smtp = SmtpPool(host="127.0.0.1", port=controller.port, size=1, timeout=smtp_timeout)
    try:
        yield handler, make_sender(engine, smtp)
    finally:
        await smtp.close()
        controller.stop()


async def test_a_ledger_write_slower_than_the_smtp_timeout_is_retried_and_sent_once(
    any_engine: Engine,
) -> None:
    seeded = _welcome(any_engine)
    async with _slow_ledger(any_engine, seeded, hold=2.0, smtp_timeout=1.0) as (handler, sender):
        with pytest.raises(ApplicationError) as raised:
            await _send(sender, _input(seeded))
        await handler.lock_released()
        # The timeout struck before DATA: nothing went out, and the claim is back.
        assert not raised.value.non_retryable
        assert "nothing was sent, will retry" in str(raised.value)
        assert handler.messages == []
        assert sends(any_engine, seeded.trip_id)[0].status == "claimed"
        result = await _send(sender, _input(seeded))

    assert result.status is SendStatus.sent
    assert len(handler.messages) == 1
    [row] = sends(any_engine, seeded.trip_id)
    assert row.status == "sent"
    assert [r.outcome for r in path(any_engine, seeded.trip_id)] == ["sent"]


async def test_a_send_cancelled_while_the_ledger_write_waits_is_sent_by_the_retry(
    any_engine: Engine,
) -> None:
    seeded = _welcome(any_engine)
    async with _slow_ledger(any_engine, seeded, hold=1.5, smtp_timeout=5.0) as (handler, sender):
        env = ActivityEnvironment()
        attempt = asyncio.ensure_future(env.run(sender.send_email, _input(seeded)))
        while handler.holder is None:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)  # the send is now waiting for the locked row
        env.cancel()  # e.g. the worker shuts down
        with pytest.raises(asyncio.CancelledError):
            await attempt
        await handler.lock_released()
        assert handler.messages == []
        assert sends(any_engine, seeded.trip_id)[0].status == "claimed"
        result = await _send(sender, _input(seeded))

    assert result.status is SendStatus.sent
    assert len(handler.messages) == 1
    assert sends(any_engine, seeded.trip_id)[0].status == "sent"


async def test_a_send_attempt_after_its_trip_was_cancelled_sends_nothing(
    engine: Engine, pool: SmtpPool, smtp_sink: SmtpSink
) -> None:
    # Deactivated with mode=cancel while the attempt was queued: it begins too late.
    seeded = _welcome(engine)
    with session_scope(engine) as session:
        paths.finish_trip(session, trip_id=seeded.trip_id, status="cancelled", ended_at=ENTERED)
    result = await _send(make_sender(engine, pool), _input(seeded))
    assert (result.status, result.detail) == (SendStatus.skipped, "the trip is no longer running")
    assert smtp_sink.messages == []
    assert ledger.get(engine, ledger.send_key(seeded.trip_id, "welcome")) is None


async def test_a_claim_made_before_the_cancel_is_not_sent_after_it(
    engine: Engine, pool: SmtpPool, smtp_sink: SmtpSink
) -> None:
    seeded = _welcome(engine)
    key = _claim(engine, seeded)
    with session_scope(engine) as session:
        paths.finish_trip(session, trip_id=seeded.trip_id, status="cancelled", ended_at=ENTERED)
    result = await _send(make_sender(engine, pool), _input(seeded))
    assert result.status is SendStatus.skipped
    assert smtp_sink.messages == []
    entry = ledger.get(engine, key)
    assert entry is not None and entry.status == SendStatus.skipped


async def test_a_relation_erased_after_the_claim_gets_no_mail(
    engine: Engine, pool: SmtpPool, smtp_sink: SmtpSink
) -> None:
    """The claim read the relation; the erase commits before the SMTP transaction: the
    send must not go out on data read before the erase."""
    seeded = _welcome(engine)
    key = _claim(engine, seeded)
    with session_scope(engine) as session:
        relations.erase(session, seeded.relation_id)
    assert ledger.start_transmitting(engine, key) is False
    assert smtp_sink.messages == []


async def test_a_resend_reopens_only_the_uncertain_episode_it_was_asked_for(
    engine: Engine,
) -> None:
    seeded = _welcome(engine)
    key = _claim(engine, seeded)
    assert ledger.start_transmitting(engine, key)  # attempt 1
    ledger.settle(engine, key, SendStatus.uncertain, expected=(SendStatus.transmitting,))
    assert ledger.reopen(engine, key, attempts=0) is False, "an older episode's resend"
    assert ledger.reopen(engine, key, attempts=1) is True
    entry = ledger.get(engine, key)
    assert entry is not None and entry.status == "claimed"


async def test_a_resend_retried_after_its_mail_went_puts_the_path_right(
    engine: Engine, pool: SmtpPool, smtp_sink: SmtpSink
) -> None:
    """The resend settles the ledger, then the path, in two writes: a retry after a worker
    died between them sends nothing and makes the path say `sent` too."""
    seeded = _welcome(engine)
    key = _claim(engine, seeded)
    assert ledger.start_transmitting(engine, key)
    ledger.settle(engine, key, SendStatus.uncertain, expected=(SendStatus.transmitting,))
    with session_scope(engine) as session:
        write_passage(session, passage(seeded.trip_id), Outcome.uncertain, "delivery unknown")
    sender = make_sender(engine, pool)
    real = sender._end_resend

    def dies(*args: Any) -> None:
        raise RuntimeError("worker killed")

    sender._end_resend = dies  # type: ignore[method-assign,assignment]
    with pytest.raises(RuntimeError):
        await ActivityEnvironment().run(
            sender.resend_email, ResendEmailInput(send_key=key, attempts=1)
        )
    assert sends(engine, seeded.trip_id)[0].status == "sent"
    assert [p.outcome for p in path(engine, seeded.trip_id)] == ["uncertain"]

    sender._end_resend = real  # type: ignore[method-assign]
    again = await ActivityEnvironment().run(
        sender.resend_email, ResendEmailInput(send_key=key, attempts=1)
    )
    assert again.status is SendStatus.sent
    assert len(smtp_sink.messages) == 1, "the retry sends nothing"
    [step] = path(engine, seeded.trip_id)
    assert (step.outcome, "resent on request" in step.detail) == ("sent", True)
