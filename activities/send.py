"""The send-email activity: one personalised mail per (trip, step), never two.

The send ledger (`store.ledger`) is claimed before anything else and marked
`transmitting` right before the SMTP DATA command, so every retry (or a second worker
running the same attempt) can tell "not sent yet" from "sent" from "nobody can know".
Database work runs in threads; the event loop only talks SMTP. A send stopped (by the SMTP
timeout or a cancellation) while marking the row `transmitting` still waits for that
write and gives the row back to `claimed`: DATA never began, so the retry must send.

The claim also decides whether the mail may go at all (suppression list, consent, the
journey exits) and when (the contact-pressure policy, on the relation's own clock): a
mail held back is a `deferred` row, and the trip calls again at its `not_before`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.contracts import (
    RESEND_EMAIL,
    SEND_EMAIL,
    TASK_QUEUE,
    ResendEmailInput,
    SendEmailInput,
    SendEmailResult,
)
from activities.dispatch import start_dispatch
from activities.mail.message import InvalidAddress, recipient
from activities.mail.outgoing import Outgoing, Sender, compose
from activities.mail.render import RenderError, Rendering, recent_types
from activities.mail.smtp import DeliveryUnknown, SmtpPool, SmtpReply, SmtpUnavailable
from activities.mail.sources import source_of_version
from activities.passages import write_passage, write_passages
from domain import pressure
from domain.statuses import FINAL_SENDS, Outcome, SendStatus, SkipReason, TripStatus
from store import feedback, journey_exits, ledger, paths, policy, suppressions
from store.db import session_scope
from store.facts import (
    RelationRecord,
    load_payload,
    load_relation,
    recent_events,
    render_context,
    template_for_send,
)
from store.membership import lock_relation
from store.models import Send, TemplateVersion, Trip, utcnow
from store.pressure import recent_marketing_sends
from store.templates import version_of

# What the path and the ledger say for each reason not to send.
SKIPPED = {
    SkipReason.relation_erased: "relation erased",
    SkipReason.trip_ended: "the trip is no longer running",
    SkipReason.no_address: "no email address",
    SkipReason.no_consent: "no email consent",
    SkipReason.invalid_address: "invalid email address",
    SkipReason.suppressed: "the address is on the suppression list",
    SkipReason.left_journey: "unsubscribed from this journey",
}
TRIP_ENDED = SKIPPED[SkipReason.trip_ended]
_POLL = 0.2
_log = logging.getLogger(__name__)
# Anything shaped like an address in a server reply is the relation's personal data.
_ADDRESS = re.compile(r"<?[^\s<>@]+@[^\s<>]+>?")


@dataclass(frozen=True)
class _Decision:
    """The send ends before SMTP (skipped or failed), for a reason worth recording."""

    status: str
    detail: str
    reason: str = ""


@dataclass(frozen=True)
class _Facts:
    relation: RelationRecord | None
    template: TemplateVersion | None
    trip_running: bool
    # The payload of the event that admitted the trip: `{{ event.fund }}`.
    event: dict[str, Any] | None = None
    suppressed: bool = False
    left_journey: bool = False
    # `{{ recent.purchase }}`: the relation's last events of the types the template names.
    recent: dict[str, list[dict[str, Any]]] | None = None

    def skip_reason(self, transactional: bool) -> SkipReason | None:
        """Why this mail must not go, whatever the time: checked when the send is
        claimed and again right before SMTP (a retry sees the data as it is then).
        Transactional mail (a receipt) needs no marketing consent; nothing passes the
        suppression list."""
        relation = self.relation
        if relation is None:
            return SkipReason.relation_erased
        if not relation.email:
            return SkipReason.no_address
        if self.suppressed:
            return SkipReason.suppressed
        if not relation.opt_in_email and not transactional:
            return SkipReason.no_consent
        if self.left_journey:
            return SkipReason.left_journey
        try:
            recipient(relation.email, relation.display_name)
        except InvalidAddress:
            return SkipReason.invalid_address
        return None


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
        sender: Sender,
        client: Client | None = None,
        task_queue: str = TASK_QUEUE,
    ) -> None:
        self._engine = engine
        # Dispatches the `email_bounced` event of a hard bounce at once (without a
        # client, the trip-sync schedule does it within minutes).
        self._client = client
        self._task_queue = task_queue
        self._smtp = smtp
        self._sender = sender
        self._renderer = renderer
        # A live attempt settles within one SMTP timeout of going `transmitting`; a row
        # older than this belongs to an attempt that died.
        self._lease = timedelta(seconds=smtp.timeout + 5)

    @activity.defn(name=SEND_EMAIL)
    async def send_email(self, data: SendEmailInput) -> SendEmailResult:
        key = ledger.send_key(data.passage.trip_id, data.passage.step_id)
        facts: list[_Facts] = []
        transactional = data.pressure is not None and data.pressure.transactional

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
            facts.append(self._facts(session, data, key))
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
                message_id=ledger.message_id_for(
                    key, self._sender.mail_domain, self._sender.secret
                ),
                alongside=begin,
                gate=lambda session: self._gate(session, data, key, facts[-1]),
                transactional=transactional,
            )
        except ledger.NotClaimable:
            return SendEmailResult(status=SendStatus.skipped, detail=TRIP_ENDED)
        if entry.status == SendStatus.deferred:
            # Held back by the contact-pressure policy: the trip waits and calls again.
            return SendEmailResult(
                status=SendStatus.deferred,
                rule=entry.reason,
                detail=entry.detail,
                not_before=entry.not_before,
            )
        result = await self._send(data, key, entry, facts[-1], transactional)
        await asyncio.to_thread(self._end, data, result, entry)
        return result

    def _gate(self, session: Session, data: SendEmailInput, key: str, facts: _Facts) -> ledger.Gate:
        """What the claim makes of this send: skipped for good, held back by the
        contact-pressure policy, or allowed now (and counted towards the caps); with the
        address it is for, which a later bounce or complaint suppresses."""
        gate = self._decide(session, data, key, facts)
        email = facts.relation.email if facts.relation is not None else None
        return replace(gate, address_hash=suppressions.address_hash(email) if email else None)

    def _decide(
        self, session: Session, data: SendEmailInput, key: str, facts: _Facts
    ) -> ledger.Gate:
        version = facts.template.version if facts.template is not None else None
        settings = data.pressure
        transactional = settings is not None and settings.transactional
        reason = facts.skip_reason(transactional)
        if reason is not None:
            return ledger.Gate(SendStatus.skipped, reason, SKIPPED[reason], None, None, version)
        if settings is None:  # a trip started before the policy existed
            return ledger.Gate(sent_at=_now(data), template_version=version)
        now = _now(data)
        # Two sends to one relation decide one after the other, so a cap of two holds
        # when three journeys send at the same moment.
        lock_relation(session, data.relation_id)
        relation = facts.relation
        assert relation is not None  # skip_reason checked it
        verdict = pressure.decide(
            now=now,
            policy=policy.load(session),
            zone=pressure.zone_for(relation.fields.get("timezone"), settings.zone),
            window=settings.window,
            recent=[] if transactional else recent_marketing_sends(session, relation.id, now, key),
            transactional=transactional,
        )
        if verdict.allowed:
            return ledger.Gate(sent_at=now, template_version=version)
        if verdict.until is None:  # the send window lies wholly inside the quiet hours
            return ledger.Gate(SendStatus.failed, "", verdict.detail, None, None, version)
        if verdict.capped and settings.when_capped == "skip":
            return ledger.Gate(
                SendStatus.skipped, SkipReason.capped, verdict.detail, None, None, version
            )
        return ledger.Gate(
            SendStatus.deferred, verdict.rule or "", verdict.detail, verdict.until, None, version
        )

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
        if settled is not None:  # already settled (sent, or dismissed meanwhile)
            if settled.status is SendStatus.sent:
                # The ledger and the path are two writes: an attempt that died between
                # them left the path `uncertain`, and this retry puts it right.
                await asyncio.to_thread(self._end_resend, entry, settled)
            return settled
        facts = await asyncio.to_thread(self._resend_facts, entry)
        prepared = await asyncio.to_thread(self._prepare, entry, facts, entry.transactional)
        if isinstance(prepared, _Decision):
            result = await self._settle(
                key, prepared.status, prepared.detail, (SendStatus.claimed,), prepared.reason
            )
        else:
            result = await self._transmit(entry, prepared)
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
            trip = session.get(Trip, entry.trip_id)
            template = (
                version_of(session, entry.template, entry.template_version)
                if entry.template_version is not None
                else template_for_send(session, entry.trip_id, entry.template)
            )
            return self._read_facts(
                session,
                relation_id=entry.relation_id,
                journey_id=trip.journey_id if trip is not None else None,
                template=template,
                trip_running=True,
                event_id=trip.event_id if trip is not None else None,
            )

    async def _send(
        self,
        data: SendEmailInput,
        key: str,
        entry: ledger.LedgerEntry,
        facts: _Facts,
        transactional: bool,
    ) -> SendEmailResult:
        settled = await self._settled(entry)
        if settled is not None:
            return settled
        prepared = await asyncio.to_thread(self._prepare, entry, facts, transactional)
        if isinstance(prepared, _Decision):
            entry = await asyncio.to_thread(
                ledger.settle,
                self._engine,
                key,
                prepared.status,
                prepared.detail,
                expected=(SendStatus.claimed,),
                reason=prepared.reason,
            )
            return await self._settled_or_retry(entry)
        return await self._transmit(entry, prepared)

    def _facts(self, session: Session, data: SendEmailInput, key: str) -> _Facts:
        return self._read_facts(
            session,
            relation_id=data.relation_id,
            journey_id=data.journey_id,
            template=template_for_send(session, data.passage.trip_id, data.template),
            trip_running=paths.is_running(session, data.passage.trip_id),
            event_id=data.event_id,
        )

    @staticmethod
    def _read_facts(
        session: Session,
        *,
        relation_id: int,
        journey_id: int | None,
        template: TemplateVersion | None,
        trip_running: bool,
        event_id: int | None,
    ) -> _Facts:
        relation = load_relation(session, relation_id)
        left = journey_id is not None and journey_exits.has_left(session, journey_id, relation_id)
        types = recent_types(source_of_version(template)) if template is not None else ()
        return _Facts(
            relation,
            template,
            trip_running,
            load_payload(session, event_id),
            suppressed=bool(
                relation is not None
                and relation.email
                and suppressions.is_suppressed(session, relation.email)
            ),
            left_journey=bool(left),
            recent=recent_events(session, relation_id, types) if types else None,
        )

    def _prepare(
        self, entry: ledger.LedgerEntry, facts: _Facts, transactional: bool
    ) -> Outgoing | _Decision:
        """Everything that can be decided without SMTP, from the data as it was read at the
        claim (this attempt's, so a retry sees the data as it is then)."""
        if not facts.trip_running:
            # Claimed by an attempt while the trip ran, and cancelled since.
            return _Decision(SendStatus.skipped, TRIP_ENDED, SkipReason.trip_ended)
        reason = facts.skip_reason(transactional)
        if reason is not None:
            return _Decision(SendStatus.skipped, SKIPPED[reason], reason)
        relation, template = facts.relation, facts.template
        assert relation is not None and relation.email
        if template is None:
            return _Decision(SendStatus.failed, f"template '{entry.template}' does not exist")
        try:
            mail = self._renderer.render(
                source_of_version(template), render_context(relation, facts.event, facts.recent)
            )
        except RenderError as error:
            return _Decision(SendStatus.failed, str(error))
        return compose(
            self._sender,
            to=recipient(relation.email, relation.display_name),
            mail=mail,
            message_id=entry.message_id,
            trip_id=entry.trip_id,
            send_id=entry.id,
            links=list(template.links),
            transactional=transactional,
        )

    async def _transmit(self, entry: ledger.LedgerEntry, prepared: Outgoing) -> SendEmailResult:
        key = entry.key
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
                sender=prepared.return_path,
                recipient=prepared.recipient,
                payload=prepared.payload,
                before_data=point_of_no_return,
            )
        except _ClaimLost:
            return await self._settled_or_retry(await self._get(key))
        except SmtpReply as reply:
            detail = _scrub(str(reply))
            about_us = _about_sender(reply)
            if reply.about_recipient and not (about_us and not reply.permanent):
                # A refusal of this address: hard (5xx) suppresses it at once, soft (4xx)
                # counts towards the policy's limit, once per send whatever its retries; a
                # 5.7.x refusal is about us as a sender (reputation, authentication), so
                # it counts as soft and suppresses nobody at once. Recorded before the
                # ledger settles, so a crash in between cannot lose it (it is idempotent).
                await asyncio.to_thread(
                    self._bounced, entry.id, reply.permanent and not about_us, detail
                )
                await self._dispatch_bounce(entry.id)
            if reply.permanent and reply.about_recipient:
                # A policy refusal went nowhere: failed, not a bounce of the address.
                status = SendStatus.failed if about_us else SendStatus.bounced
                return await self._settle(
                    key, status, detail, (SendStatus.claimed, SendStatus.transmitting)
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

    def _bounced(self, send_id: int, hard: bool, detail: str) -> None:
        with session_scope(self._engine) as session:
            send = session.get(Send, send_id)
            if send is None:
                return
            feedback.bounce(
                session,
                send,
                hard=hard,
                detail=detail,
                # One record per send: a relay's throttling or greylisting retried five
                # times is one soft bounce, not five.
                dedupe_key=f"smtp:{send_id}",
                soft_limit=policy.load(session).soft_bounce_limit,
            )

    async def _dispatch_bounce(self, send_id: int) -> None:
        """Start the Dispatch of the bounce's `email_bounced` event, so a journey that
        starts on it (the daily bounce export) hears it now. Never fails the send: an
        event left undispatched is started by the trip-sync schedule."""
        if self._client is None:
            return
        try:
            event_id = await asyncio.to_thread(self._bounce_event, send_id)
            if event_id is not None:
                await start_dispatch(self._client, self._task_queue, event_id=event_id)
        except Exception:
            _log.warning("dispatching the bounce of send %s failed", send_id, exc_info=True)

    def _bounce_event(self, send_id: int) -> int | None:
        with session_scope(self._engine) as session:
            return feedback.bounce_event(session, send_id)

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
        self,
        key: str,
        status: str,
        detail: str,
        expected: tuple[str, ...],
        reason: str | None = None,
    ) -> SendEmailResult:
        entry = await asyncio.to_thread(
            ledger.settle, self._engine, key, status, detail, expected=expected, reason=reason
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
            relation_exists=not (
                status is SendStatus.skipped and entry.reason == SkipReason.relation_erased
            ),
            rule=entry.reason if status is SendStatus.sent else "",
        )

    def _end(
        self, data: SendEmailInput, result: SendEmailResult, entry: ledger.LedgerEntry
    ) -> None:
        """The outcome, and the trip's end when this was its last step, in one transaction."""
        words = [f"template `{data.template}`"]
        if entry.template_version is not None:
            words[0] += f" v{entry.template_version}"
        if result.rule:
            # Sent after the contact-pressure policy held it back: the path says which rule.
            words.append(f"held back by {result.rule.replace('_', ' ')} until allowed")
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


def _now(data: SendEmailInput) -> datetime:
    """Temporal's time for this attempt: the workflow's clock when it scheduled the send,
    moved on by how long Temporal took to start this attempt."""
    info = activity.info()
    if data.pressure is None:
        return info.started_time
    # Started minus first scheduled: the time the send waited in the (rate-limited) mail
    # task queue and between retries. A send admitted at 20:30 that starts at 21:10 is
    # judged at 21:10, inside the quiet hours.
    return data.pressure.now + max(timedelta(0), info.started_time - info.scheduled_time)


def _about_sender(reply: SmtpReply) -> bool:
    """A refusal of us, not of the address: 421 (the server is closing on us) and the
    enhanced status class x.7.x (policy: reputation, authentication, rate limits)."""
    return reply.code == 421 or reply.message.lstrip()[1:4] == ".7."
