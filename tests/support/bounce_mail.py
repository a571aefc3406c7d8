"""Bounces and complaints as mail systems send them, built with the stdlib email package:
a Postfix DSN (RFC 3464), a Gmail DSN, a Yahoo ARF complaint (RFC 5965), a qmail
bounce (no standard report at all) and an out-of-office reply (no report)."""

from __future__ import annotations

from email.message import Message
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate

DOMAIN = "test.reisplan.example"
FBL_ADDRESS = f"fbl@{DOMAIN}"  # where a provider's feedback loop sends complaints


def original(
    *,
    to: str,
    message_id: str,
    return_path: str | None = None,
    send_header: str | None = None,
) -> Message:
    """The journey mail as the receiving side saw it."""
    mail = MIMEText("Hello Jan,\n\nWelcome aboard.\n", "plain", "utf-8")
    if return_path is not None:
        mail["Return-Path"] = f"<{return_path}>"
    mail["From"] = f"Reisplan <journeys@{DOMAIN}>"
    mail["To"] = to
    mail["Subject"] = "Welcome"
    mail["Date"] = formatdate(1772440200)
    mail["Message-ID"] = message_id
    mail["List-Unsubscribe"] = f"<https://{DOMAIN}/u/abc>"
    if send_header is not None:
        mail["X-Reisplan-Send"] = send_header
    return mail


def _headers_of(mail: Message) -> str:
    return "".join(f"{name}: {value}\n" for name, value in mail.items())


def postfix_dsn(
    *,
    report_id: str,
    to: str,
    recipient: str,
    mail: Message,
    action: str = "failed",
    status: str = "5.1.1",
    reply: str = "550 5.1.1",
    reason: str = "Recipient address rejected: User unknown in virtual mailbox table",
) -> bytes:
    """Postfix's bounce (or delay warning): the report to the envelope sender (our VERP
    address, which the delivering Postfix also writes in X-Original-To and Delivered-To),
    with the original's headers attached."""
    delayed = action == "delayed"
    report = MIMEMultipart("report", report_type="delivery-status")
    report["Return-Path"] = "<>"
    report["X-Original-To"] = to
    report["Delivered-To"] = to
    report["Date"] = formatdate(1772443800)
    report["From"] = "MAILER-DAEMON@mail.example.net (Mail Delivery System)"
    report["Subject"] = (
        "Delayed Mail (still being retried)" if delayed else "Undelivered Mail Returned to Sender"
    )
    report["To"] = to
    report["Auto-Submitted"] = "auto-replied"
    report["Message-Id"] = report_id
    notice = (
        "This is the mail system at host mail.example.net.\n\n"
        + (
            "####################################################################\n"
            "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\n"
            "####################################################################\n\n"
            if delayed
            else "I'm sorry to have to inform you that your message could not\n"
            "be delivered to one or more recipients.\n\n"
        )
        + f"<{recipient}>: host mx.example.org[203.0.113.5] said: {reply}\n"
        f"    <{recipient}>: {reason} (in reply to RCPT TO command)\n"
    )
    text = MIMEText(notice, "plain", "us-ascii")
    text["Content-Description"] = "Notification"
    report.attach(text)

    per_message = Message()
    per_message["Reporting-MTA"] = "dns; mail.example.net"
    per_message["X-Postfix-Queue-ID"] = "4XyzAB1c2d"
    per_message["X-Postfix-Sender"] = f"rfc822; {to}"
    per_message["Arrival-Date"] = formatdate(1772440200)
    per_recipient = Message()
    per_recipient["Final-Recipient"] = f"rfc822; {recipient}"
    per_recipient["Original-Recipient"] = f"rfc822;{recipient}"
    per_recipient["Action"] = action
    per_recipient["Status"] = status
    per_recipient["Remote-MTA"] = "dns; mx.example.org"
    per_recipient["Diagnostic-Code"] = f"smtp; {reply} <{recipient}>: {reason}"
    if delayed:
        per_recipient["Will-Retry-Until"] = formatdate(1772872200)
    status_part = Message()
    status_part["Content-Description"] = "Delivery report"
    status_part["Content-Type"] = "message/delivery-status"
    status_part.set_payload([per_message, per_recipient])
    report.attach(status_part)

    headers = MIMEText(_headers_of(mail), "rfc822-headers", "us-ascii")
    headers["Content-Description"] = "Undelivered Message Headers"
    report.attach(headers)
    return report.as_bytes()


def gmail_dsn(*, report_id: str, to: str, recipient: str, mail: Message) -> bytes:
    """Gmail's "Delivery Status Notification (Failure)": the whole original attached."""
    report = MIMEMultipart("report", report_type="delivery-status")
    report["Return-Path"] = "<>"
    report["Delivered-To"] = to
    report["From"] = "Mail Delivery Subsystem <mailer-daemon@googlemail.com>"
    report["To"] = to
    report["Auto-Submitted"] = "auto-replied"
    report["Subject"] = "Delivery Status Notification (Failure)"
    report["Message-ID"] = report_id
    report["Date"] = formatdate(1772443800)
    report.attach(
        MIMEText(
            f"Address not found\n\nYour message wasn't delivered to {recipient} because the "
            "address couldn't be found, or is unable to receive mail.\n",
            "plain",
            "utf-8",
        )
    )
    per_message = Message()
    per_message["Reporting-MTA"] = "dns; googlemail.com"
    per_message["Received-From-MTA"] = f"dns; mail.{DOMAIN}"
    per_recipient = Message()
    per_recipient["Final-Recipient"] = f"rfc822; {recipient}"
    per_recipient["Action"] = "failed"
    per_recipient["Status"] = "5.1.1"
    per_recipient["Remote-MTA"] = "dns; gmail-smtp-in.l.google.com. (142.250.0.27)"
    per_recipient["Diagnostic-Code"] = (
        f"smtp; 550-5.1.1 The email account that you tried to reach does not exist. "
        f"Please try double-checking the recipient's email address {recipient} for typos."
    )
    status_part = Message()
    status_part["Content-Type"] = "message/delivery-status"
    status_part.set_payload([per_message, per_recipient])
    report.attach(status_part)
    report.attach(MIMEMessage(mail))
    return report.as_bytes()


def yahoo_arf(
    *,
    report_id: str,
    mail: Message,
    original_mail_from: str | None = None,
    feedback_type: str = "abuse",
    to: str = FBL_ADDRESS,
) -> bytes:
    """A complaint through Yahoo's feedback loop: to the address registered with it (no
    VERP there), the original attached whole (its recipient redacted)."""
    report = MIMEMultipart("report", report_type="feedback-report")
    report["From"] = "Yahoo! Mail AntiSpam Feedback <feedback@arf.mail.yahoo.com>"
    report["To"] = to
    report["Delivered-To"] = to
    report["Subject"] = "FW: Welcome"
    report["Message-ID"] = report_id
    report["Date"] = formatdate(1772447400)
    report.attach(
        MIMEText(
            "This is an email abuse report for an email message received from IP "
            f"203.0.113.9 on {formatdate(1772440200)}.\n",
            "plain",
            "us-ascii",
        )
    )
    fields = Message()
    fields["Feedback-Type"] = feedback_type
    fields["User-Agent"] = "Yahoo!-Mail-Feedback/2.0"
    fields["Version"] = "1"
    if original_mail_from is not None:
        fields["Original-Mail-From"] = f"<{original_mail_from}>"
    fields["Original-Rcpt-To"] = "<redacted@yahoo.example>"
    fields["Arrival-Date"] = formatdate(1772440200)
    fields["Reported-Domain"] = DOMAIN
    fields["Source-IP"] = "203.0.113.9"
    feedback = Message()
    feedback["Content-Type"] = "message/feedback-report"
    feedback.set_payload([fields])
    report.attach(feedback)
    report.attach(MIMEMessage(mail))
    return report.as_bytes()


def qmail_bounce(*, to: str, recipient: str, mail: Message) -> bytes:
    """qmail's "failure notice": plain text, no report parts, the original quoted below
    a line; and no Message-ID of its own."""
    body = (
        "Hi. This is the qmail-send program at mail.example.net.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        f"<{recipient}>:\n"
        "Sorry, no mailbox here by that name. (#5.1.1)\n\n"
        "--- Below this line is a copy of the message.\n\n" + _headers_of(mail) + "\nHello Jan,\n"
    )
    bounce = MIMEText(body, "plain", "us-ascii")
    bounce["Return-Path"] = "<>"
    bounce["Delivered-To"] = to
    bounce["Date"] = formatdate(1772443800)
    bounce["From"] = "MAILER-DAEMON@mail.example.net"
    bounce["To"] = to
    bounce["Subject"] = "failure notice"
    return bounce.as_bytes()


def out_of_office(*, to: str, report_id: str) -> bytes:
    """An auto-reply to the return path: it mentions delivery words, reports nothing."""
    reply = MIMEText(
        "I am out of the office until Monday. Mail to jan@example.org is not read; "
        "the user is unknown to my colleagues, write to piet@example.org instead.\n",
        "plain",
        "utf-8",
    )
    reply["Return-Path"] = "<jan@example.org>"
    reply["Delivered-To"] = to
    reply["From"] = "Jan <jan@example.org>"
    reply["To"] = to
    reply["Subject"] = "Automatic reply: Welcome"
    reply["Auto-Submitted"] = "auto-replied"
    reply["Message-ID"] = report_id
    return reply.as_bytes()
