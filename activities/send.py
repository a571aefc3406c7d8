"""The send-email activity: one personalised mail per (trip, step), never two.

The send ledger (`store.ledger`) is claimed before anything else and marked
`transmitting` right before the SMTP DATA command, so every retry (or a second worker
running the same attempt) can tell "not sent yet" from "sent" from "nobody can know".
Database work runs in threads; the event loop only talks SMTP. A send stopped (by the SMTP
timeout or a cancellation) while marking the row `transmitting` still waits for that
write and gives the row back to `claimed`: DATA never began, so the retry must send.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import (
    RESEND_EMAIL,
    SEND_EMAIL,
    ResendEmailInput,
    SendEmailInput,
    SendEmailResult,
)
from activities.mail.message import InvalidAddress, build_message, envelope_sender, recipient
from activities.mail.render import RenderError, Rendering
from activities.mail.smtp import DeliveryUnknown, SmtpPool, SmtpReply, SmtpUnavailable
from activities.mail.sources import source_of
from activities.passages import write_passage, write_passages
from domain.statuses import FINAL_SENDS, Outcome, SendStatus, TripStatus
from store import ledger, paths
from store.db import session_scope
from store.facts import RelationRecord, load_payload, load_relation, render_context
from store.models import Template, Trip, utcnow

RELATION_ERASED = "relation erased"
TRIP_ENDED = "the trip is no longer running"
NO_ADDRESS = "no email address"
NO_CONSENT = "no email consent"
BAD_ADDRESS = "invalid email address"
_POLL = 0.2
_log = logging.getLogger(__name__)
# Anything shaped like an address in a server reply is the relation's personal data.
_ADDRESS = re.compile(r"<?[^\s<>@]+@[^\s<>]+>?")


@dataclass(frozen=True)
class _Decision:
    """The send ends before SMTP (skipped or failed), for a reason worth recording."""

    status: str
    detail: str


@dataclass(frozen=True)
class _Facts:
    relation: RelationRecord | None
    template: Template | None
    trip_running: bool
    # The payload of the event that admitted the trip: `{{ event.fund }}`.
    event: dict[str, Any] | None = None


@dataclass(frozen=True)
class _Prepared:
    recipient: str
    payload: bytes


class _ClaimLost(Exception):
    """A concurrent attempt marked the ledger row `transmitting` before we did."""


def _scrub(text: str) -> str:
    return _ADDRESS.sub("<address>", text)


async def _to_the_end(work: Coroutine[Any, Any, None]) -> None:
    """Run `work` to completion even if this task is cancelled again meanwhile: the
    caller is already on its way out with a cancellation and re-raises that one."""
    task = asyncio.ensure_future(work)
    while not task.done():
        # asyncio.wait never cancels what it waits for, and does not raise its errors.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait({task})
    if not task.cancelled() and task.exception() is not None:
        _log.warning("giving back a send claim failed", exc_info=task.exception())


class SendActivities:
    def __init__(
        self,
        engine: Engine,
        smtp: SmtpPool,
        renderer: Rendering,
        *,
        mail_from: str,
        mail_domain: str,
    ) -> None:
        self._engine = engine
        self._smtp = smtp
        self._mail_from = mail_from
        self._sender = envelope_sender(mail_from)
        self._mail_domain = mail_domain
        self._renderer = renderer
        # A live attempt settles within one SMTP timeout of going `transmitting`; a row
        # older than this belongs to an attempt that died.
        self._lease = timedelta(seconds=smtp.timeout + 5)

    @activity.defn(name=SEND_EMAIL)
    async def send_email(self, data: SendEmailInput) -> SendEmailResult:
        key = ledger.send_key(data.passage.trip_id, data.passage.step_id)
        facts: list[_Facts] = []

        def begin(session: Session) -> bool:
            # The path writes the trip still owes and this passage as `sending`, in the
            # claim's transaction. Only a running trip may claim a new send: one that was
            # cancelled (or whose row is gone) before this attempt began sends nothing. The
            # relation and template are read in it too: one transaction, not two.
            if not (
                write_passages(session, data.writes)
                and write_passage(session, data.passage, Outcome.sending)
            ):
                return False
            facts.append(self._facts(session, data))
            return facts[-1].trip_running

        try:
            entry = await asyncio.to_thread(
                ledger.claim,
                self._engine,
                key=key,
                trip_id=data.passage.trip_id,
                step_id=data.passage.step_id,
                relation_id=data.relation_id,
                journey_id=data.journey_id,
                template=data.template,
                message_id=ledger.message_id_for(key, self._mail_domain),
                alongside=begin,
            )
        except ledger.NotClaimable:
            return SendEmailResult(status=SendStatus.skipped, detail=TRIP_ENDED)
        result = await self._send(data, key, entry, facts[-1])
        await asyncio.to_thread(self._end, data, result)
        return result

    @activity.defn(name=RESEND_EMAIL)
    async def resend_email(self, data: ResendEmailInput) -> SendEmailResult:
        """An uncertain send made again on an operator's request: the same ledger row and
        Message-ID, built from the relation and template as they are now. The row goes
        back to `claimed` first, so from there on it is an ordinary send: an attempt cut
        off again makes it `uncertain` again, never two sends at once."""
        key = data.send_key
        await asyncio.to_thread(ledger.reopen, self._engine, key, data.attempts)
        entry = await self._get(key)
        settled = await self._settled(entry)
        if settled is not None:
            return settled  # already settled (sent, or dismissed meanwhile)
        facts = await asyncio.to_thread(self._resend_facts, entry)
        prepared = await asyncio.to_thread(
            self._build, entry.template, entry.message_id, entry.trip_id, facts
        )
        if isinstance(prepared, _Decision):
            result = await self._settle(
                key, prepared.status, prepared.detail, (SendStatus.claimed,)
            )
        else:
            result = await self._transmit(key, prepared)
        if result.status is not SendStatus.uncertain:
            await asyncio.to_thread(self._end_resend, entry, result)
        return result

    def _end_resend(self, entry: ledger.LedgerEntry, result: SendEmailResult) -> None:
        step_id = entry.key.removeprefix(f"{entry.trip_id}/")
        words = [f"template `{entry.template}`", "resent on request"]
        if result.message_id:
            words.append(f"Message-ID {result.message_id}")
        if result.detail:
            words.append(result.detail)
        with session_scope(self._engine) as session:
            paths.record_resend(
                session,
                trip_id=entry.trip_id,
                step_id=step_id,
                outcome=Outcome(result.status.value),
                detail="; ".join(words),
            )

    def _resend_facts(self, entry: ledger.LedgerEntry) -> _Facts:
        with session_scope(self._engine) as session:
            relation = load_relation(session, entry.relation_id)
            template = session.exec(
                select(Template).where(col(Template.key) == entry.template)
            ).first()
            trip = session.get(Trip, entry.trip_id)
            event = load_payload(session, trip.event_id if trip is not None else None)
            return _Facts(relation, template, trip_running=True, event=event)

    async def _send(
        self, data: SendEmailInput, key: str, entry: ledger.LedgerEntry, facts: _Facts
    ) -> SendEmailResult:
        settled = await self._settled(entry)
        if settled is not None:
            return settled
        prepared = await asyncio.to_thread(self._prepare, data, entry.message_id, facts)
        if isinstance(prepared, _Decision):
            entry = await asyncio.to_thread(
                ledger.settle,
                self._engine,
                key,
                prepared.status,
                prepared.detail,
                expected=(SendStatus.claimed,),
            )
            return await self._settled_or_retry(entry)
        return await self._transmit(key, prepared)

    @staticmethod
    def _facts(session: Session, data: SendEmailInput) -> _Facts:
        relation = load_relation(session, data.relation_id)
        template = session.exec(select(Template).where(col(Template.key) == data.template)).first()
        return _Facts(
            relation,
            template,
            paths.is_running(session, data.passage.trip_id),
            load_payload(session, data.event_id),
        )

    def _prepare(
        self, data: SendEmailInput, message_id: str, facts: _Facts
    ) -> _Prepared | _Decision:
        """Everything that can be decided without SMTP, from the data as it was read at the
        claim (this attempt's, so a retry sees the data as it is then)."""
        if not facts.trip_running:
            # Claimed by an attempt while the trip ran, and cancelled since.
            return _Decision(SendStatus.skipped, TRIP_ENDED)
        return self._build(data.template, message_id, data.passage.trip_id, facts)

    def _build(
        self, template_key: str, message_id: str, trip_id: str, facts: _Facts
    ) -> _Prepared | _Decision:
        relation, template = facts.relation, facts.template
        if relation is None:
            return _Decision(SendStatus.skipped, RELATION_ERASED)
        if not relation.email:
            return _Decision(SendStatus.skipped, NO_ADDRESS)
        if not relation.opt_in_email:
            return _Decision(SendStatus.skipped, NO_CONSENT)
        if template is None:
            return _Decision(SendStatus.failed, f"template '{template_key}' does not exist")
        try:
            to = recipient(relation.email, relation.display_name)
        except InvalidAddress:
            return _Decision(SendStatus.skipped, BAD_ADDRESS)
        try:
            mail = self._renderer.render(source_of(template), render_context(relation, facts.event))
        except RenderError as error:
            return _Decision(SendStatus.failed, str(error))
        message = build_message(
            mail_from=self._mail_from,
            to=to,
            mail=mail,
            message_id=message_id,
            trip_id=trip_id,
        )
        return _Prepared(recipient=to.addr_spec, payload=message.as_bytes())

    async def _transmit(self, key: str, prepared: _Prepared) -> SendEmailResult:
        stopped_in_ledger = False

        async def point_of_no_return() -> None:
            nonlocal stopped_in_ledger
            write = asyncio.ensure_future(
                asyncio.to_thread(ledger.start_transmitting, self._engine, key)
            )
            try:
                moved = await asyncio.shield(write)
            except asyncio.CancelledError:
                # The SMTP timeout (or a cancellation) struck while the database was slow.
                # The write goes on in its thread regardless; a row it leaves `transmitting`
                # would read as "maybe sent" to the retry, and the mail would never go.
                # We are still before DATA, so a row we moved is ours to give back.
                stopped_in_ledger = True
                await _to_the_end(self._give_back(write, key))
                raise
            if not moved:
                raise _ClaimLost

        try:
            await self._smtp.send(
                sender=self._sender,
                recipient=prepared.recipient,
                payload=prepared.payload,
                before_data=point_of_no_return,
            )
        except _ClaimLost:
            return await self._settled_or_retry(await self._get(key))
        except SmtpReply as reply:
            detail = _scrub(str(reply))
            if reply.permanent and reply.about_recipient:
                return await self._settle(
                    key, SendStatus.bounced, detail, (SendStatus.claimed, SendStatus.transmitting)
                )
            # Refused with a reply: the message was definitely not accepted.
            await asyncio.to_thread(ledger.release, self._engine, key)
            raise ApplicationError(
                f"SMTP refused at {reply.phase.value}, will retry: {detail}",
                type="SmtpTemporaryFailure",
            ) from None
        except SmtpUnavailable as error:
            if stopped_in_ledger:
                raise ApplicationError(
                    "the send ledger was slower than the SMTP timeout; nothing was sent, "
                    "will retry",
                    type="SendLedgerSlow",
                ) from None
            raise ApplicationError(
                f"SMTP relay unavailable, will retry: {error}", type="SmtpUnavailable"
            ) from None
        except DeliveryUnknown as error:
            return await self._settle(
                key,
                SendStatus.uncertain,
                f"{error}: delivery unknown, not resent",
                (SendStatus.transmitting,),
            )
        # We know it went out, even if an impatient attempt meanwhile said "uncertain".
        return await self._settle(
            key, SendStatus.sent, "", (SendStatus.transmitting, SendStatus.uncertain)
        )

    async def _give_back(self, write: asyncio.Future[bool], key: str) -> None:
        """transmitting -> claimed, only if our own write moved the row: a row another
        attempt moved may be in DATA right now, and one whose write failed cannot be
        known to be ours; both are left for the lease to settle (never send twice)."""
        try:
            moved = await write
        except Exception:
            _log.warning("send %s: marking it transmitting failed after a stop", key)
            return
        if moved and not await asyncio.to_thread(ledger.release, self._engine, key):
            _log.warning("send %s: settled by another attempt before release", key)

    async def _settled(self, entry: ledger.LedgerEntry) -> SendEmailResult | None:
        """The recorded result, or None when the row is `claimed` (ours to send).

        A `transmitting` row is awaited while its attempt may still be alive; once that
        attempt must be dead, the row becomes `uncertain`: it may have been delivered,
        so it is never resent.
        """
        while True:
            if entry.status in FINAL_SENDS:
                return self._result(entry)
            if entry.status == SendStatus.claimed:
                return None
            if utcnow() - entry.updated_at > self._lease:
                entry = await asyncio.to_thread(
                    ledger.settle,
                    self._engine,
                    entry.key,
                    SendStatus.uncertain,
                    "a previous attempt stopped during the SMTP transaction: "
                    "delivery unknown, not resent",
                    expected=(SendStatus.transmitting,),
                )
                continue
            await asyncio.sleep(_POLL)
            entry = await self._get(entry.key)

    async def _settled_or_retry(self, entry: ledger.LedgerEntry) -> SendEmailResult:
        result = await self._settled(entry)
        if result is None:
            # A concurrent attempt gave the claim back after a temporary refusal.
            raise ApplicationError("send released by a concurrent attempt, will retry")
        return result

    async def _settle(
        self, key: str, status: str, detail: str, expected: tuple[str, ...]
    ) -> SendEmailResult:
        entry = await asyncio.to_thread(
            ledger.settle, self._engine, key, status, detail, expected=expected
        )
        return await self._settled_or_retry(entry)

    async def _get(self, key: str) -> ledger.LedgerEntry:
        entry = await asyncio.to_thread(ledger.get, self._engine, key)
        if entry is None:
            raise LookupError(f"send ledger row {key!r} disappeared")
        return entry

    @staticmethod
    def _result(entry: ledger.LedgerEntry) -> SendEmailResult:
        status = SendStatus(entry.status)
        went_out = status in (SendStatus.sent, SendStatus.bounced, SendStatus.uncertain)
        return SendEmailResult(
            status=status,
            detail=entry.detail,
            message_id=entry.message_id if went_out else None,
            relation_exists=not (status is SendStatus.skipped and entry.detail == RELATION_ERASED),
        )

    def _end(self, data: SendEmailInput, result: SendEmailResult) -> None:
        """The outcome, and the trip's end when this was its last step, in one transaction."""
        words = [f"template `{data.template}`"]
        if result.message_id:
            words.append(f"Message-ID {result.message_id}")
        if result.detail:
            words.append(result.detail)
        with session_scope(self._engine) as session:
            write_passage(session, data.passage, Outcome(result.status.value), "; ".join(words))
            if data.ends_trip:
                # Only a trip still running: one cancelled while this send was under way
                # was closed as cancelled by its workflow and stays so.
                paths.close_if_running(
                    session,
                    trip_id=data.passage.trip_id,
                    status=TripStatus.completed,
                    # Temporal's clock, as for every other time in the path.
                    ended_at=activity.info().started_time,
                )
