"""How fast a journey admits the current members of a large segment at activation.

On the embedded default (benchmarks/embedded.py): N relations that are members of a
segment (rows inserted directly, as a segment's creation would have stored them), a
journey with a `segment_entry` trigger on it and one `send_email` step, created and
activated through the API with `POST /journeys/{id}/activate?members=current`, which
stores an admission run and starts its AdmitMembers workflow before it answers. The
worker then admits the members page by page, and every trip sends one mail to the
sink. The run's own row (`admission_run`: admitted of total) is the progress, read from
the store every POLL_EVERY seconds (not through the API, which would cost it work).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import func, insert
from sqlmodel import Session, col, select

from activities.admission_runs import FINISHED
from benchmarks.cli import log
from benchmarks.embedded import Stack, cpu_usage, load_average
from domain.statuses import TripStatus
from store.models import AdmissionRun, Relation, Segment, SegmentMember, Trip, utcnow

SEGMENT = "bench_members"
JOURNEY = {
    "name": "Benchmark: welcome the segment",
    "timezone": "UTC",
    "triggers": [{"type": "segment_entry", "segment": SEGMENT}],
    "steps": [{"id": "hello", "type": "send_email", "template": "bench_hello"}],
}
POLL_EVERY = 2.0
LOG_EVERY = 30.0
INSERT_CHUNK = 5000


@dataclass
class AdmissionResult:
    members: int
    total: int = 0  # the run's own count of whom it will admit
    admitted: int = 0
    skipped: int = 0
    seconds_to_plan: float = 0.0  # the activate request: count the members, store and start the run
    # -> the run's finished_at: later than its last admission, because its last (empty)
    # page waits in the task queue behind the trips it started
    seconds_to_finish: float = 0.0
    seconds_to_first_mail: float = 0.0
    seconds_to_last_mail: float = 0.0
    seconds_to_last_trip: float = 0.0  # -> the last trip's workflow closed
    mails: int = 0
    doubles: int = 0  # mails beyond one per address
    trips_completed: int = 0  # trip workflows completed (Temporal's visibility)
    cpu: dict[str, float] = field(default_factory=dict)
    load_before: list[float] = field(default_factory=list)
    load_after: list[float] = field(default_factory=list)
    # (seconds since start_run, admitted, mails) every POLL_EVERY seconds
    series: list[tuple[float, int, int]] = field(default_factory=list)

    @property
    def seconds_to_admit(self) -> float:
        """The request -> the first poll that saw every member admitted (the run's own
        count; polled every POLL_EVERY seconds), or the run's finish if that came first."""
        done = [t for t, admitted, _ in self.series if self.total and admitted >= self.total]
        polled = done[0] if done else 0.0
        finished = self.seconds_to_finish if self.admitted >= self.total else 0.0
        return min(t for t in (polled, finished) if t) if polled or finished else 0.0

    @property
    def admissions_per_s(self) -> float:
        return round(self.admitted / self.seconds_to_admit, 2) if self.seconds_to_admit else 0.0

    @property
    def mails_per_s(self) -> float:
        return (
            round(self.mails / self.seconds_to_last_mail, 2) if self.seconds_to_last_mail else 0.0
        )

    @property
    def trips_per_s(self) -> float:
        last = self.seconds_to_last_trip
        return round(self.trips_completed / last, 2) if last else 0.0

    def middle_rate(self) -> float | None:
        """Admissions/s between 25 % and 75 % admitted: the pace once started, without
        the start-up and the last page."""
        quarter = [s for s in self.series if s[1] >= self.members * 0.25]
        three = [s for s in self.series if s[1] >= self.members * 0.75]
        if not quarter or not three or three[0][0] <= quarter[0][0]:
            return None
        return round((three[0][1] - quarter[0][1]) / (three[0][0] - quarter[0][0]), 2)

    def one_line(self) -> str:
        return (
            f"{self.admitted} of {self.total} admitted in {self.seconds_to_admit:.1f} s "
            f"(run finished after {self.seconds_to_finish:.1f} s) "
            f"({self.admissions_per_s:.1f}/s, middle half {self.middle_rate() or '-'}/s); "
            f"{self.mails} mails, last after {self.seconds_to_last_mail:.1f} s "
            f"({self.mails_per_s:.1f}/s); first mail after {self.seconds_to_first_mail:.2f} s; "
            f"{self.trips_completed} trips completed ({self.trips_per_s:.1f}/s); CPU "
            + " ".join(f"{k} {v:.0f}" for k, v in self.cpu.items())
        )


def add_members(stack: Stack, n: int) -> None:
    """n relations, all members of the segment (whose condition they do match)."""
    now = utcnow()
    with Session(stack.store.engine) as session:
        segment = Segment(
            key=SEGMENT,
            name="Benchmark members",
            condition={"field": "cohort", "op": "eq", "value": "spring"},
        )
        session.add(segment)
        session.flush()
        for start in range(0, n, INSERT_CHUNK):
            rows: list[dict[str, Any]] = [
                {
                    "email": f"m{i}@members.example",
                    "first_name": f"M{i}",
                    "last_name": "Bench",
                    "opt_in_email": True,
                    "opt_in_sms": False,
                    "custom": {"cohort": "spring"},
                }
                for i in range(start, min(n, start + INSERT_CHUNK))
            ]
            ids = session.scalars(insert(Relation).returning(col(Relation.id)), rows).all()
            session.execute(
                insert(SegmentMember),
                [{"segment_id": segment.id, "relation_id": i, "since": now} for i in ids],
            )
        session.commit()


async def _activate(http: httpx.AsyncClient) -> tuple[int, int]:
    """Create the journey and activate it with its current members: (journey, run) ids."""
    created = await http.post("/journeys", json={"definition": JOURNEY})
    if created.status_code != 201:
        raise RuntimeError(f"POST /journeys: {created.status_code} {created.text}")
    journey_id = int(created.json()["id"])
    activated = await http.post(f"/journeys/{journey_id}/activate", params={"members": "current"})
    if activated.status_code != 200:
        raise RuntimeError(f"activate?members=current: {activated.status_code} {activated.text}")
    (run,) = activated.json()["admission_runs"]
    return journey_id, int(run["id"])


def _progress(stack: Stack, run_id: int, journey_id: int) -> tuple[AdmissionRun, int]:
    with Session(stack.store.engine, expire_on_commit=False) as session:
        run = session.get(AdmissionRun, run_id)
        assert run is not None
        completed = session.exec(
            select(func.count())
            .select_from(Trip)
            .where(col(Trip.journey_id) == journey_id, col(Trip.status) == TripStatus.completed)
        ).one()
        return run, completed


async def _trips_closed(stack: Stack, journey_id: int) -> tuple[int, float | None]:
    """Trips completed and the last one's close time, from Temporal's visibility (the
    store's `ended_at` is when the send began, before the mail went out)."""
    count, last = 0, None
    query = f"JourneyId = '{journey_id}' AND ExecutionStatus = 'Completed'"
    async for execution in stack.client.list_workflows(query, page_size=1000):
        if execution.close_time is not None:
            count += 1
            closed = execution.close_time.timestamp()
            last = closed if last is None else max(last, closed)
    return count, last


async def _follow(
    stack: Stack, run_id: int, journey_id: int, result: AdmissionResult, began: float
) -> AdmissionRun:
    """Poll the run and the sink until every admitted trip completed (or a generous
    deadline passed); the series of (seconds, admitted, mails) goes into `result`."""
    deadline = began + 120.0 + result.members * 0.5  # ~20/s expected; a stuck run ends
    last_log = began
    while True:
        stack.check_alive()
        run, completed = await asyncio.to_thread(_progress, stack, run_id, journey_id)
        mails = stack.sink.count
        elapsed = time.monotonic() - began
        result.series.append((round(elapsed, 1), run.admitted, mails))
        if time.monotonic() - last_log >= LOG_EVERY:
            log(f"[admission] {elapsed:5.0f} s: {run.admitted} admitted, {mails} mails")
            last_log = time.monotonic()
        if run.status == FINISHED and completed >= run.admitted:
            return run
        if time.monotonic() > deadline:
            log(f"[admission] gave up after {elapsed:.0f} s")
            return run
        await asyncio.sleep(POLL_EVERY)


async def measure(stack: Stack, members: int) -> AdmissionResult:
    result = AdmissionResult(members)
    await asyncio.to_thread(add_members, stack, members)
    log(f"[admission] {members} members in segment {SEGMENT}")
    result.load_before = load_average()
    before = stack.cpu_seconds()
    began_wall = time.time()
    began = time.monotonic()
    async with stack.http() as http:
        journey_id, run_id = await _activate(http)
    # The answer came once the run was stored and its workflow started.
    result.seconds_to_plan = round(time.monotonic() - began, 3)
    run, _ = await asyncio.to_thread(_progress, stack, run_id, journey_id)
    result.total = run.total

    run = await _follow(stack, run_id, journey_id, result, began)
    result.cpu = cpu_usage(before, stack.cpu_seconds())
    result.load_after = load_average()
    result.admitted, result.skipped = run.admitted, run.skipped
    if run.finished_at is not None:
        result.seconds_to_finish = round(run.finished_at.timestamp() - began_wall, 2)
    received = stack.sink.received()
    result.mails = len(received)
    result.doubles = stack.sink.count - len(received)
    if received:
        result.seconds_to_first_mail = round(min(received.values()) - began_wall, 2)
        result.seconds_to_last_mail = round(max(received.values()) - began_wall, 2)
    # Visibility follows the store by a moment: ask until it has them all (or 30 s).
    for _ in range(15):
        result.trips_completed, last_closed = await _trips_closed(stack, journey_id)
        if result.trips_completed >= run.admitted:
            break
        await asyncio.sleep(POLL_EVERY)
    if last_closed is not None:
        result.seconds_to_last_trip = round(last_closed - began_wall, 2)
    log(f"[admission] {result.one_line()}")
    return result
