"""The mail throughput benchmark's phases: the raw SMTP ceiling, the send activity called
directly (Temporal out of the way), and full trips on a Temporal dev server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import func
from sqlmodel import col, select
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from activities.contracts import SEND_EMAIL, SendEmailInput, SendStatus
from activities.mail.outgoing import Outgoing, Sender
from activities.mail.render import Rendering
from activities.send import SendActivities
from benchmarks import cpu, mail_setup, workloads
from benchmarks.mail_report import MailPhase
from benchmarks.sink import TimingSink
from benchmarks.throughput import measure
from store.db import session_scope
from store.models import Trip
from worker.settings import Settings
from worker.worker import build_smtp_pool


@dataclass(frozen=True)
class Bench:
    """What every phase shares."""

    store: workloads.Store
    settings: Settings
    renderer: Rendering
    server_pid: int
    concurrency: int


async def _gated(
    items: Iterable[str], limit: int, work: Callable[[str], Awaitable[None]]
) -> dict[str, float]:
    """Run `work` for every item with at most `limit` in flight; returns start times."""
    gate = asyncio.Semaphore(limit)
    started: dict[str, float] = {}

    async def one(item: str) -> None:
        async with gate:
            started[item] = time.time()
            await work(item)

    async with asyncio.TaskGroup() as group:
        for item in items:
            group.create_task(one(item))
    return started


async def _all_received(sink: TimingSink, n: int, within: float) -> None:
    """Every send answered means the sink replied to DATA; its record is already made,
    but poll briefly (with a deadline) rather than assume it."""
    deadline = time.monotonic() + within
    while len(sink.received()) < n and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


# --- raw ceiling ---------------------------------------------------------------------------


async def raw(bench: Bench, payloads: list[Outgoing], round_no: int) -> MailPhase:
    """Pre-built mails straight through the worker's SMTP pool: no store, no rendering,
    no signing while the clock runs. The ceiling of this pool and sink on this machine."""
    sink = TimingSink().start()
    try:
        pool = build_smtp_pool(bench.settings.model_copy(update={"smtp_port": sink.port}))
        by_recipient = {p.recipient.lower(): p for p in payloads}
        try:
            before = cpu.sample(bench.server_pid)

            async def send(recipient: str) -> None:
                mail = by_recipient[recipient]
                await pool.send(
                    sender=mail.return_path, recipient=mail.recipient, payload=mail.payload
                )

            started = await _gated(by_recipient, bench.concurrency, send)
            await _all_received(sink, len(payloads), 10)
            after = cpu.sample(bench.server_pid)
        finally:
            await pool.close()
        received = sink.received()
        doubles = sink.count - len(received)
        return MailPhase.of("raw", round_no, started, received, 0, doubles, (before, after))
    finally:
        sink.stop()


# --- the activity, Temporal out of the way ---------------------------------------------------


async def activity(
    bench: Bench,
    sender: Sender,
    kind: str,
    round_no: int,
    n: int,
    *,
    sends_class: type[SendActivities] = SendActivities,
) -> MailPhase:
    """N sends through `SendActivities.send_email` as a worker runs it: each a ledger
    claim (with the path write, the suppression, exit and consent checks and the
    contact-pressure policy), a render, tracking, DKIM, SMTP through the pool and the
    passage and trip end written, on the SQLite store; `concurrency` in flight, like a
    worker's activity slots. Temporal itself is not involved: `ActivityEnvironment`
    provides what `activity.info()` returns."""
    recipients = mail_setup.seed(bench.store, f"{kind}{round_no}", n, trips=True)
    inputs = {
        recipients.addresses[data.relation_id].lower(): data
        for data in mail_setup.send_inputs(recipients)
    }
    sink = TimingSink().start()
    try:
        pool = build_smtp_pool(bench.settings.model_copy(update={"smtp_port": sink.port}))
        sends = sends_class(bench.store.engine, pool, bench.renderer, sender)
        environment = ActivityEnvironment()
        now = datetime.now(UTC)
        environment.info = replace(
            ActivityEnvironment.default_info(),
            activity_type=SEND_EMAIL,
            scheduled_time=now,
            current_attempt_scheduled_time=now,
            started_time=now,
        )
        results: dict[str, SendStatus] = {}
        try:
            before = cpu.sample(bench.server_pid)

            async def send(recipient: str) -> None:
                data: SendEmailInput = inputs[recipient]
                result = await environment.run(sends.send_email, data)
                results[recipient] = result.status

            started = await _gated(inputs, bench.concurrency, send)
            await _all_received(sink, n, 10)
            after = cpu.sample(bench.server_pid)
        finally:
            await pool.close()
        received = sink.received()
        not_sent = sum(1 for status in results.values() if status is not SendStatus.sent)
        closed = _trips_completed(bench, recipients.journey_id)
        if closed != n:
            raise RuntimeError(f"{kind}: {closed} of {n} trips closed as completed")
        return MailPhase.of(
            kind, round_no, started, received, not_sent, sink.count - len(received), (before, after)
        )
    finally:
        sink.stop()


def _trips_completed(bench: Bench, journey_id: int) -> int:
    with session_scope(bench.store.engine) as session:
        query = select(func.count()).where(
            col(Trip.journey_id) == journey_id, col(Trip.status) == "completed"
        )
        return int(session.exec(query).one())


# --- full trips -----------------------------------------------------------------------------


async def trips(bench: Bench, client: Client, round_no: int, n: int, in_flight: int) -> MailPhase:
    """N relations admitted into the one-email journey (`workloads.trips`, the real worker
    in this process), measured as `benchmarks.throughput` measures its bursts."""
    async with workloads.trips(
        client, bench.store, bench.settings, f"trips{round_no}", n
    ) as running:
        phase = await measure(
            client, running, ("tuned", "reisplan", round_no), n, in_flight, bench.server_pid
        )
    return MailPhase(
        kind="trips",
        round=round_no,
        mails=phase.trips,
        received=phase.trips - phase.not_completed,
        seconds=phase.seconds_to_last_mail,
        mails_per_s=phase.mails_per_s,
        p50_ms=phase.p50_ms,
        p95_ms=phase.p95_ms,
        not_sent=phase.not_completed,
        doubles=phase.doubles,
        server_cpu=phase.server_cpu,
        harness_cpu=phase.harness_cpu,
        others_cpu=phase.others_cpu,
        trips_per_s=phase.trips_per_s,
        # The harness (worker, admission, sink) over the burst, by its average use.
        cpu_ms_per_mail=round(phase.harness_cpu * 10 * phase.seconds_to_last_completion / n, 1),
    )
