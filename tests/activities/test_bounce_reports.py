"""What a message in the bounce mailbox reports, as Postfix, Gmail, Yahoo and qmail send
them; and that a forged report names no send."""

from __future__ import annotations

from email.message import Message

import pytest

from activities.mail import verp
from activities.mail.bounce_reports import parse, scrub, send_header
from activities.mail.mailbox import parse_url
from tests.support.bounce_mail import (
    DOMAIN,
    gmail_dsn,
    original,
    out_of_office,
    postfix_dsn,
    qmail_bounce,
    yahoo_arf,
)

SECRET = b"the workspace secret"
SEND = 4711
VERP = verp.return_path(f"bounces@{DOMAIN}", SECRET, SEND)
MESSAGE_ID = f"<0f3c2a9e@{DOMAIN}>"
JAN = "jan.jansen@example.org"


def _mail(**extra: str) -> Message:
    return original(to=JAN, message_id=MESSAGE_ID, return_path=VERP, **extra)


def test_a_postfix_user_unknown_is_a_hard_bounce_of_the_send_it_came_back_for() -> None:
    raw = postfix_dsn(report_id="<r1@mail.example.net>", to=VERP, recipient=JAN, mail=_mail())
    [report] = parse(raw, SECRET)
    assert (report.send_id, report.kind, report.code) == (SEND, "hard", "5.1.1")
    assert report.message_id == MESSAGE_ID
    assert "Recipient address rejected: User unknown" in report.detail
    assert "jan" not in report.detail and "@" not in report.detail
    assert report.dedupe_key == "mailbox:<r1@mail.example.net>:hard"


def test_a_full_mailbox_delay_is_a_soft_bounce() -> None:
    raw = postfix_dsn(
        report_id="<r2@mail.example.net>",
        to=VERP,
        recipient=JAN,
        mail=_mail(),
        action="delayed",
        status="4.2.2",
        reply="452 4.2.2",
        reason="Mailbox full",
    )
    [report] = parse(raw, SECRET)
    assert (report.send_id, report.kind, report.code) == (SEND, "soft", "4.2.2")
    assert report.detail == "452 4.2.2 <address>: Mailbox full"


def test_a_permanent_failure_with_a_transient_status_is_soft() -> None:
    # Postfix gives up after its queue lifetime with the last (temporary) status.
    raw = postfix_dsn(
        report_id="<r3@mail.example.net>",
        to=VERP,
        recipient=JAN,
        mail=_mail(),
        status="4.4.1",
        reply="421 4.4.1",
        reason="connection timed out",
    )
    assert [r.kind for r in parse(raw, SECRET)] == ["soft"]


def test_a_policy_refusal_is_soft_not_a_verdict_on_the_address() -> None:
    raw = postfix_dsn(
        report_id="<r4@mail.example.net>",
        to=VERP,
        recipient=JAN,
        mail=_mail(),
        status="5.7.1",
        reply="550 5.7.1",
        reason="Message rejected as spam by Content Filtering",
    )
    [report] = parse(raw, SECRET)
    assert (report.kind, report.code) == ("soft", "5.7.1")


@pytest.mark.parametrize("action", ["delivered", "relayed", "expanded"])
def test_a_success_notice_reports_nothing(action: str) -> None:
    raw = postfix_dsn(
        report_id="<r5@mail.example.net>",
        to=VERP,
        recipient=JAN,
        mail=_mail(),
        action=action,
        status="2.0.0",
        reply="250 2.0.0",
        reason="Ok: queued",
    )
    assert parse(raw, SECRET) == []


def test_a_gmail_bounce_with_the_whole_original_attached() -> None:
    raw = gmail_dsn(report_id="<CAG1@mail.gmail.com>", to=VERP, recipient=JAN, mail=_mail())
    [report] = parse(raw, SECRET)
    assert (report.send_id, report.kind, report.code) == (SEND, "hard", "5.1.1")
    assert report.detail.startswith("550-5.1.1 The email account that you tried to reach")
    assert "<address>" in report.detail and JAN not in report.detail


def test_a_yahoo_abuse_report_is_a_complaint_found_by_the_originals_message_id() -> None:
    # Feedback loops write to the address registered with them: no VERP to go by.
    mail = original(to="redacted@yahoo.example", message_id=MESSAGE_ID)
    [report] = parse(yahoo_arf(report_id="<arf1@yahoo.example>", mail=mail), SECRET)
    assert (report.send_id, report.message_id) == (None, MESSAGE_ID)
    assert (report.kind, report.code) == ("complaint", "abuse")
    assert report.detail == "abuse report by Yahoo!-Mail-Feedback/2.0"
    assert report.dedupe_key == "mailbox:<arf1@yahoo.example>:complaint"


def test_a_complaint_names_the_send_by_its_signed_header_or_original_envelope_sender() -> None:
    signed = original(
        to="x@yahoo.example", message_id="<other@x>", send_header=send_header(SECRET, SEND)
    )
    [by_header] = parse(yahoo_arf(report_id="<arf2@y>", mail=signed), SECRET)
    assert by_header.send_id == SEND
    plain = original(to="x@yahoo.example", message_id="<other@x>")
    [by_sender] = parse(
        yahoo_arf(report_id="<arf3@y>", mail=plain, original_mail_from=VERP), SECRET
    )
    assert by_sender.send_id == SEND


@pytest.mark.parametrize("feedback_type", ["not-spam", "auth-failure", "virus", "other"])
def test_feedback_that_is_no_complaint_reports_nothing(feedback_type: str) -> None:
    mail = original(to="x@yahoo.example", message_id=MESSAGE_ID)
    raw = yahoo_arf(report_id="<arf4@y>", mail=mail, feedback_type=feedback_type)
    assert parse(raw, SECRET) == []


def test_a_forged_verp_address_or_bare_send_header_names_no_send() -> None:
    forged = f"bounces+{SEND}-AAAAAAAAAAAAAAAA@{DOMAIN}"
    other_key = verp.return_path(f"bounces@{DOMAIN}", b"another secret", SEND)
    for address in (forged, other_key):
        mail = original(
            to=JAN, message_id="<unknown@x>", return_path=address, send_header=str(SEND)
        )
        [report] = parse(
            postfix_dsn(report_id="<f@x>", to=address, recipient=JAN, mail=mail), SECRET
        )
        assert report.send_id is None, address
        assert report.message_id == "<unknown@x>"  # found only if it is one of ours


def test_a_qmail_bounce_without_a_report_part_is_read_by_flufl_bounce() -> None:
    raw = qmail_bounce(to=VERP, recipient=JAN, mail=_mail())
    [report] = parse(raw, SECRET)
    assert (report.send_id, report.kind, report.message_id) == (SEND, "hard", MESSAGE_ID)
    # It has no Message-ID of its own: known by its bytes, the same every reading.
    assert report.dedupe_key.startswith("mailbox:sha256:")
    assert parse(raw, SECRET) == [report]


def test_a_persons_reply_is_no_bounce_whatever_it_says() -> None:
    assert parse(out_of_office(to=VERP, report_id="<ooo@example.org>"), SECRET) == []
    assert parse(b"not a mail at all \xff\xfe", SECRET) == []


def test_scrub_leaves_no_address() -> None:
    text = "550 5.1.1 <jan@example.org>: user jan.jansen+x@mail.example.org\n    unknown"
    assert scrub(text) == "550 5.1.1 <address>: user <address> unknown"


def test_mailbox_urls() -> None:
    pop = parse_url("pop3s://bounce%40ours:p%40ss%3Aword@mail.example.net")
    assert (pop.scheme, pop.host, pop.port, pop.username, pop.password) == (
        "pop3s",
        "mail.example.net",
        995,
        "bounce@ours",
        "p@ss:word",
    )
    imap = parse_url("imap://u:p@127.0.0.1:1143/Bounces")
    assert (imap.port, imap.folder) == (1143, "Bounces")
    assert parse_url("imaps://u:p@h").folder == "INBOX"
    assert "p@ss" not in repr(pop) and "p@ss" not in str(pop)
    for bad in (
        "http://u:secretpw@h",
        "pop3://h",
        "pop3://u:secretpw@h:x",
        "pop3://u:secretpw@h/x",
    ):
        with pytest.raises(ValueError, match="REISPLAN_BOUNCE_MAILBOX") as error:
            parse_url(bad)
        assert "secretpw" not in str(error.value)


def test_an_internationalised_report_is_read_the_same() -> None:
    raw = postfix_dsn(report_id="<u1@mail.example.net>", to=VERP, recipient=JAN, mail=_mail())
    utf8 = raw.replace(b"message/delivery-status", b"message/global-delivery-status")
    assert [(r.send_id, r.kind, r.code) for r in parse(utf8, SECRET)] == [(SEND, "hard", "5.1.1")]
