"""A journey mail as a bulk sender must send it, read back from a real SMTP server:
signed, tracked, one-click unsubscribable, bounced the right way, and paced by the
workspace's contact-pressure policy in each relation's own timezone."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dkim
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select
from temporalio.testing import WorkflowEnvironment

from activities.mail import verp
from activities.mail.bounce_reports import send_header
from domain.pressure import ContactPressure, QuietHours
from domain.statuses import SuppressionReason
from store import policy
from store.db import session_scope
from store.models import Event, SendFeedback, Trip
from store.suppressions import is_suppressed, suppress
from tests.api.support import eventually
from tests.conftest import running_worker
from tests.support.dkim import dkim_key
from tests.support.smtp import SmtpSink
from tests.workflows.support import (
    add_journey,
    add_relation,
    add_template,
    path_of,
    sends_of,
    start_trip,
)
from worker.settings import Settings

SECRET = "a-test-secret-that-signs-tokens"
PUBLIC = "http://reisplan.test"
OFFER = "https://shop.example.org/offer?id=7"


def _one_mail(name: str, **step: Any) -> dict[str, Any]:
    return {
        "name": name,
        "steps": [{"id": "mail", "type": "send_email", "template": "offer", **step}],
    }


def _offer_template(engine: Engine) -> None:
    add_template(
        engine,
        "offer",
        "An offer for {{ relation.first_name }}",
        f'<html><body><p>Hi {{{{ relation.first_name }}}}</p><a href="{OFFER}">See it</a> '
        '<a href="mailto:help@example.org">help</a></body></html>',
    )


@pytest.fixture
def signing_key(tmp_path: Path) -> tuple[Path, bytes]:
    return dkim_key(tmp_path)


def _trusted_settings(settings: Settings, **more: Any) -> Settings:
    return settings.model_copy(update={"secret_key": SECRET, "public_url": PUBLIC, **more})


async def test_a_marketing_mail_is_signed_tracked_and_carries_one_click_unsubscribe(
    time_env: WorkflowEnvironment,
    engine: Engine,
    settings: Settings,
    smtp_sink: SmtpSink,
    signing_key: tuple[Path, bytes],
) -> None:
    key_path, dns_record = signing_key
    settings = _trusted_settings(
        settings, dkim_private_key=key_path, dkim_selector="rp2026", dkim_domain="example.org"
    )
    _offer_template(engine)
    relation_id = add_relation(engine, email="ann@example.org", first_name="Ann")
    journey = add_journey(engine, _one_mail("Offer"))
    async with running_worker(time_env.client, engine, settings):
        handle = await start_trip(
            time_env.client, engine, settings.task_queue, journey, relation_id
        )
        await handle.result()

    [(envelope_sender, raw)] = smtp_sink.handler.received
    [send] = sends_of(engine, handle.id)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    # RFC 8058 one-click, signed by DKIM along with the rest.
    assert message["List-Unsubscribe"].startswith(f"<{PUBLIC}/u/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Id"] == "<journeys.test.reisplan.example>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Precedence"] == "bulk"
    assert message["Message-ID"] == send.message_id
    assert message["Date"]
    assert send.id is not None
    assert message["X-Reisplan-Send"] == send_header(SECRET.encode(), send.id)
    signed = dkim.verify(raw, dnsfunc=lambda name, timeout=5: dns_record)
    assert signed, "the DKIM signature does not verify"
    tags = dict(
        part.strip().split("=", 1) for part in message["DKIM-Signature"].split(";") if "=" in part
    )
    signed_headers = {h.strip().lower() for h in tags["h"].replace(" ", "").split(":")}
    assert {"list-unsubscribe", "list-unsubscribe-post", "from", "message-id"} <= signed_headers
    assert tags["d"] == "example.org" and tags["s"] == "rp2026"
    # A bounce comes back to a return path that names this send, signed.
    assert verp.send_id_of(envelope_sender, SECRET.encode()) == send.id
    # The link goes through the click endpoint; mailto stays; the open pixel is there.
    body = message.get_body(("html",))
    assert body is not None
    html = body.get_content()
    assert OFFER not in html and f"{PUBLIC}/t/c/" in html
    assert "mailto:help@example.org" in html
    assert f"{PUBLIC}/t/o/" in html
    # A signature that does not cover a changed header is worth nothing: prove it would fail.
    tampered = raw.replace(
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"List-Unsubscribe-Post: x"
    )
    assert not dkim.verify(tampered, dnsfunc=lambda name, timeout=5: dns_record)


async def test_a_transactional_mail_has_no_unsubscribe_and_passes_the_caps_not_the_list(
    time_env: WorkflowEnvironment, engine: Engine, settings: Settings, smtp_sink: SmtpSink
) -> None:
    settings = _trusted_settings(settings)
    _offer_template(engine)
    with session_scope(engine) as session:
        policy.save(session, ContactPressure(per_day=1))
    receipt = add_journey(engine, _one_mail("Receipt", transactional=True))
    marketing = add_journey(engine, _one_mail("Offer"))
    ann = add_relation(engine, email="ann@example.org", first_name="Ann")
    bob = add_relation(engine, email="bob@example.org", first_name="Bob")
    with session_scope(engine) as session:
        suppress(session, "BOB@example.org", SuppressionReason.manual)
    async with running_worker(time_env.client, engine, settings):
        first = await start_trip(time_env.client, engine, settings.task_queue, marketing, ann)
        await first.result()
        for relation_id in (ann, bob):
            trip = await start_trip(
                time_env.client, engine, settings.task_queue, receipt, relation_id
            )
            await trip.result()
    to_ann = smtp_sink.to("ann@example.org")
    assert len(to_ann) == 2  # the cap of one a day does not hold the receipt back
    receipt_mail = to_ann[1]
    assert receipt_mail["List-Unsubscribe"] is None and receipt_mail["Precedence"] is None
    assert smtp_sink.to("bob@example.org") == []  # suppressed: not even a receipt
    [bob_send] = sends_of(engine, f"trip:{receipt[0]}:{bob}:1")
    assert (bob_send.status, bob_send.reason) == ("skipped", "suppressed")


async def test_a_550_at_rcpt_suppresses_the_address_and_the_trip_goes_on(
    time_env: WorkflowEnvironment, engine: Engine, settings: Settings, smtp_sink: SmtpSink
) -> None:
    _offer_template(engine)
    add_template(engine, "later", "Later", "<p>later</p>")
    smtp_sink.handler.refuse["gone@example.org"] = "550 5.1.1 mailbox unavailable"
    relation_id = add_relation(engine, email="gone@example.org")
    journey = add_journey(
        engine,
        {
            "name": "Two",
            "steps": [
                {"id": "mail", "type": "send_email", "template": "offer"},
                {"id": "pause", "type": "wait", "duration": "P1D"},
                {"id": "later", "type": "send_email", "template": "later"},
            ],
        },
    )
    # The seed's customer-service follow-up starts on the bounce itself.
    follow_up, _ = add_journey(
        engine,
        {
            "name": "Bounced",
            "triggers": [{"type": "event", "event": "email_bounced"}],
            "steps": [{"id": "noted", "type": "exit"}],
        },
    )
    async with running_worker(time_env.client, engine, settings):
        handle = await start_trip(
            time_env.client, engine, settings.task_queue, journey, relation_id
        )
        await handle.result()
        # Dispatched by the send activity at the bounce, not by the sweep minutes later.
        follow_up_trip = f"trip:{follow_up}:{relation_id}:1"

        async def admitted() -> bool:
            with session_scope(engine) as session:
                return session.get(Trip, follow_up_trip) is not None

        await eventually(admitted, bool, what="the bounce's follow-up trip")
        await time_env.client.get_workflow_handle(follow_up_trip).result()
    with session_scope(engine) as session:
        [event] = session.exec(select(Event).where(col(Event.type) == "email_bounced")).all()
        assert event.relation_id == relation_id and "send_id" in event.payload
    assert [(r.step_id, r.outcome) for r in path_of(engine, handle.id)] == [
        ("mail", "bounced"),
        ("pause", "waited"),
        ("later", "skipped"),
    ]
    assert smtp_sink.handler.refused == ["gone@example.org"]  # the second was never tried
    with session_scope(engine) as session:
        found = is_suppressed(session, "Gone@Example.org")
        assert found is not None and found.reason == "hard_bounce"
    assert {(s.step_id, s.status, s.reason) for s in sends_of(engine, handle.id)} == {
        ("mail", "bounced", ""),
        ("later", "skipped", "suppressed"),
    }


async def test_4xx_refusals_are_retried_counted_once_as_soft_and_delivered_once(
    time_env: WorkflowEnvironment, engine: Engine, settings: Settings, smtp_sink: SmtpSink
) -> None:
    _offer_template(engine)
    # Refused three times: a greylisting server, then a relay throttling us (4.7.x is
    # about the sender), then accepted. One soft bounce for the send, not three.
    smtp_sink.handler.refuse_next["busy@example.org"] = [
        "451 4.3.0 try again later",
        "450 4.2.0 greylisted",
        "451 4.7.1 rate limited, slow down",
    ]
    relation_id = add_relation(engine, email="busy@example.org")
    journey = add_journey(engine, _one_mail("Offer"))
    async with running_worker(time_env.client, engine, settings):
        handle = await start_trip(
            time_env.client, engine, settings.task_queue, journey, relation_id
        )
        await handle.result()
    assert smtp_sink.handler.refused == ["busy@example.org"] * 3
    assert len(smtp_sink.to("busy@example.org")) == 1
    [send] = sends_of(engine, handle.id)
    assert send.status == "sent"
    with session_scope(engine) as session:
        kinds = session.exec(
            select(SendFeedback.kind).where(col(SendFeedback.send_id) == send.id)
        ).all()
        assert kinds == ["soft_bounce"]
        assert is_suppressed(session, "busy@example.org") is None  # one soft bounce of three


@pytest.mark.parametrize(
    ("arrives", "amsterdam_nine", "tokyo_nine"),
    [
        # The night Europe/Amsterdam springs forward (02:00 -> 03:00 on 28 March 2027).
        ("2027-03-27T20:30:00+00:00", "2027-03-28T07:00:00+00:00", "2027-03-28T00:00:00+00:00"),
        # ... and falls back (03:00 -> 02:00 on 31 October 2027).
        ("2027-10-30T20:30:00+00:00", "2027-10-31T08:00:00+00:00", "2027-10-31T00:00:00+00:00"),
    ],
)
async def test_quiet_hours_end_at_nine_in_each_relations_own_timezone(
    time_env: WorkflowEnvironment,
    engine: Engine,
    settings: Settings,
    smtp_sink: SmtpSink,
    arrives: str,
    amsterdam_nine: str,
    tokyo_nine: str,
) -> None:
    _offer_template(engine)
    with session_scope(engine) as session:
        policy.save(session, ContactPressure(quiet_hours=QuietHours(start="21:00", end="09:00")))
    journey = add_journey(
        engine,
        {
            "name": "Night owls",
            "timezone": "Europe/Amsterdam",
            "steps": [
                {"id": "night", "type": "wait_until", "until": arrives},
                {"id": "mail", "type": "send_email", "template": "offer"},
            ],
        },
    )
    amsterdam = add_relation(engine, email="ams@example.org", timezone="Europe/Amsterdam")
    tokyo = add_relation(engine, email="tyo@example.org", timezone="Asia/Tokyo")
    async with running_worker(time_env.client, engine, settings):
        handles = [
            await start_trip(time_env.client, engine, settings.task_queue, journey, rid)
            for rid in (amsterdam, tokyo)
        ]
        for handle in handles:
            await handle.result()
    sent_at = {handle.id: sends_of(engine, handle.id)[0].sent_at for handle in handles}
    # Temporal's clock, to the second: the timer fires, then the send is scheduled.
    for handle, nine in zip(handles, (amsterdam_nine, tokyo_nine), strict=True):
        went = sent_at[handle.id]
        assert went is not None
        assert timedelta(0) <= went - datetime.fromisoformat(nine) < timedelta(seconds=1)
    assert len(smtp_sink.messages) == 2
    for handle in handles:
        mail_row = [r for r in path_of(engine, handle.id) if r.step_id == "mail"][-1]
        assert mail_row.outcome == "sent"
        assert "held back by quiet hours" in mail_row.detail


async def test_a_cap_of_two_a_day_holds_across_three_journeys(
    time_env: WorkflowEnvironment, engine: Engine, settings: Settings, smtp_sink: SmtpSink
) -> None:
    _offer_template(engine)
    with session_scope(engine) as session:
        policy.save(session, ContactPressure(per_day=2))
    # Four journeys whose mails fall due an hour apart, in this order (the time-skipping
    # server runs their timers in order, so which mail meets the cap is certain).
    start = datetime(2027, 5, 3, 8, 0, tzinfo=UTC)

    def journey(name: str, hours: int, **step: Any) -> tuple[int, Any]:
        due = (start + timedelta(hours=hours)).isoformat()
        return add_journey(
            engine,
            {
                "name": name,
                "steps": [
                    {"id": "due", "type": "wait_until", "until": due},
                    {"id": "mail", "type": "send_email", "template": "offer", **step},
                ],
            },
        )

    first, second = journey("First", 0), journey("Second", 1)
    skipping = journey("Third, skips", 2, when_capped="skip")
    waiting = journey("Third, waits", 3)
    relation_id = add_relation(engine, email="busy@example.org")
    async with running_worker(time_env.client, engine, settings):
        handles = {
            j[0]: await start_trip(time_env.client, engine, settings.task_queue, j, relation_id)
            for j in (first, second, skipping, waiting)
        }
        for handle in handles.values():
            await handle.result()
    sends = {j: sends_of(engine, handle.id)[0] for j, handle in handles.items()}
    assert [sends[j[0]].status for j in (first, second, skipping, waiting)] == [
        "sent",
        "sent",
        "skipped",
        "sent",
    ]
    assert sends[skipping[0]].reason == "capped"
    # The mail that waits goes once the first is 24 hours old, not before.
    went = sends[waiting[0]].sent_at
    assert went is not None
    assert timedelta(0) <= went - (start + timedelta(days=1)) < timedelta(seconds=1)
    assert len(smtp_sink.to("busy@example.org")) == 3
    mail_rows = {
        j: [r for r in path_of(engine, handle.id) if r.step_id == "mail"]
        for j, handle in handles.items()
    }
    assert mail_rows[skipping[0]][-1].outcome == "skipped"
    assert "at most 2 a day" in mail_rows[skipping[0]][-1].detail
    assert mail_rows[waiting[0]][-1].outcome == "sent"
    assert "held back by cap day" in mail_rows[waiting[0]][-1].detail


async def test_a_policy_refusal_of_us_as_sender_suppresses_nobody(
    time_env: WorkflowEnvironment, engine: Engine, settings: Settings, smtp_sink: SmtpSink
) -> None:
    # 5.7.x says the receiver dislikes the sender (reputation, authentication), not that
    # the address is bad: the relation stays mailable once the sender is fixed.
    _offer_template(engine)
    smtp_sink.handler.refuse["fine@example.org"] = "550 5.7.1 rejected by policy"
    relation_id = add_relation(engine, email="fine@example.org")
    journey = add_journey(engine, _one_mail("Offer"))
    async with running_worker(time_env.client, engine, settings):
        handle = await start_trip(
            time_env.client, engine, settings.task_queue, journey, relation_id
        )
        await handle.result()
    [send] = sends_of(engine, handle.id)
    assert send.status == "failed"  # it went nowhere, but the address is not to blame
    with session_scope(engine) as session:
        assert is_suppressed(session, "fine@example.org") is None
        kinds = session.exec(
            select(SendFeedback.kind).where(col(SendFeedback.send_id) == send.id)
        ).all()
        assert kinds == ["soft_bounce"]
