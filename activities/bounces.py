"""Read the bounce mailbox and apply what it reports, by the rules every bounce and
complaint follows (store.feedback): a hard bounce or a complaint suppresses the
address, soft bounces suppress at the policy's limit.

Each message is applied in one transaction and removed from the mailbox only after that
transaction committed: a crash in between leaves the message to the next run, and the
report's dedupe key makes that second reading change nothing. A send's own status is
left as it is (`sent`: the relay accepted it); its statistics count the feedback rows.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio import activity

from activities.contracts import READ_BOUNCE_MAILBOX, ReadBouncesInput, ReadBouncesResult
from activities.mail import bounce_reports, mailbox
from activities.mail.bounce_reports import Report
from store import feedback, policy
from store.db import session_scope
from store.models import Send

# What an applied report adds to, by its kind (ReadBouncesResult's fields).
_COUNTED = {"hard": "hard", "soft": "soft", "complaint": "complaints"}


def soft_bounce_limit(session: Session) -> int:
    """How many soft bounces suppress an address: the contact-pressure policy's."""
    return policy.load(session).soft_bounce_limit


class BounceActivities:
    def __init__(self, engine: Engine, mailbox_url: str, secret: bytes) -> None:
        """`mailbox_url` is settings.bounce_mailbox (empty: nothing to read); a wrong
        one fails here, when the worker starts, not at the first scheduled run."""
        self._engine = engine
        self._mailbox = mailbox.parse_url(mailbox_url) if mailbox_url else None
        self._secret = secret

    @activity.defn(name=READ_BOUNCE_MAILBOX)
    def read_bounce_mailbox(self, data: ReadBouncesInput) -> ReadBouncesResult:
        if self._mailbox is None:
            activity.logger.warning("REISPLAN_BOUNCE_MAILBOX is not set: nothing to read")
            return ReadBouncesResult()
        counts: Counter[str] = Counter()
        with mailbox.connect(self._mailbox) as box:
            for ref, raw in box.messages(data.limit):
                counts["read"] += 1
                activity.heartbeat(counts["read"])
                try:
                    reports = bounce_reports.parse(raw, self._secret)
                except Exception as error:  # a message we cannot read must not stop the rest
                    # Set aside like a non-report (IMAP: marked seen and kept; POP3:
                    # deleted): it would fail the same way at every run, and enough of them
                    # at the head of the mailbox would keep the reader from newer reports.
                    activity.logger.error(
                        "bounce mailbox message %s could not be parsed (%s): set aside",
                        ref,
                        type(error).__name__,
                    )
                    counts["failed"] += 1
                    box.set_aside(ref)
                    continue
                if not reports:
                    activity.logger.info("bounce mailbox message %s reports nothing", ref)
                    counts["skipped"] += 1
                    box.set_aside(ref)
                    continue
                outcomes = self._apply(reports)  # committed when it returns
                counts.update(outcomes)
                if all(outcome == "unmatched" for outcome in outcomes):
                    activity.logger.info("bounce mailbox message %s names no send of ours", ref)
                    box.set_aside(ref)
                else:
                    box.delete(ref)
        result = ReadBouncesResult(**counts)
        activity.logger.info("bounce mailbox %s read: %s", self._mailbox, result)
        return result

    def _apply(self, reports: list[Report]) -> list[str]:
        """One transaction for one message's reports: what became of each."""
        outcomes: list[str] = []
        with session_scope(self._engine) as session:
            limit = soft_bounce_limit(session)
            for report in reports:
                send = _send_of(session, report)
                if send is None:
                    outcomes.append("unmatched")
                    continue
                if report.kind == "complaint":
                    applied = feedback.complaint(
                        session, send, detail=report.detail, dedupe_key=report.dedupe_key
                    )
                else:
                    applied = feedback.bounce(
                        session,
                        send,
                        hard=report.kind == "hard",
                        detail=report.detail,
                        dedupe_key=report.dedupe_key,
                        soft_limit=limit,
                    )
                outcomes.append(_COUNTED[report.kind] if applied else "repeated")
        return outcomes


def _send_of(session: Session, report: Report) -> Send | None:
    if report.send_id is not None:
        return session.get(Send, report.send_id)
    if report.message_id is not None:
        return session.exec(
            select(Send).where(col(Send.message_id) == report.message_id).limit(1)
        ).first()
    return None
