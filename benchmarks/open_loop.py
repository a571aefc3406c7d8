"""Events posted at a steady rate, open loop, and what became of each one.

Open loop: each request is sent when the wall clock says it is due, whether or not the
earlier ones have been answered, as independent clients (a web shop, a donation form)
would send them. A closed loop (send, wait, send) would slow down with the system and
hide its queueing. Latency counts from the moment an event was *due*, not from when the
harness got round to sending it, so a harness that falls behind makes the figures worse,
never better; how far it fell behind is reported (`sender lag`).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from benchmarks.report import quantile

# The harness starts sending this long after it has scheduled the first event, so the
# first event is not late already.
LEAD = 0.5
WINDOW = 10.0  # seconds per point of a run's timeline


@dataclass
class Shot:
    """One POST /events."""

    address: str  # the relation's address: the sink files its mail under it
    due: float  # wall time it was scheduled for
    sent: float = 0.0  # wall time the request went out
    answered: float = 0.0  # wall time of the answer (or of the error)
    status: int = 0  # HTTP status; 0 for a transport error
    event_id: int | None = None  # from a 2xx answer: to find the event's workflows
    relation_id: int | None = None


async def fire(
    http: httpx.AsyncClient, rate: float, events: Sequence[tuple[str, dict[str, Any]]]
) -> list[Shot]:
    """POST every (address, body) at `rate` per second by the wall clock; returns once
    every request has been answered."""
    start = time.time() + LEAD
    shots = [Shot(address, start + i / rate) for i, (address, _) in enumerate(events)]

    async def one(shot: Shot, body: dict[str, Any]) -> None:
        shot.sent = time.time()
        try:
            response = await http.post("/events", json=body)
            shot.status = response.status_code
            if response.is_success:
                event = response.json()["event"]
                shot.event_id, shot.relation_id = event["id"], event["relation_id"]
        except httpx.HTTPError:
            shot.status = 0
        shot.answered = time.time()

    tasks = []
    for shot, (_, body) in zip(shots, events, strict=True):
        delay = shot.due - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(shot, body)))
    await asyncio.gather(*tasks)
    return shots


async def wait_for_mail(
    shots: Sequence[Shot],
    received: Callable[[], dict[str, float]],
    within: float,
    alive: Callable[[], None],
) -> dict[str, float]:
    """Until every accepted event's relation has mail, or `within` seconds have passed;
    returns address -> receipt time. `received()` reads the sink, `alive()` raises
    when a part of the system died."""
    wanted = {s.address for s in shots if 200 <= s.status < 300}
    deadline = time.monotonic() + within
    while True:
        arrived = received()
        if wanted <= arrived.keys() or time.monotonic() > deadline:
            return arrived
        alive()
        await asyncio.sleep(0.1)


@dataclass
class RateResult:
    """What one open-loop run at one rate showed. Times in ms unless named otherwise."""

    label: str  # steady | sweep | highest
    rate: float  # offered events/s
    events: int
    accepted: int  # 2xx answers
    errors: dict[str, int]  # other answers by status ("0": no answer at all)
    mails: int  # accepted events whose mail arrived
    missing: int  # accepted events without mail when the harness stopped waiting
    p50: float  # due -> mail received by the sink (missing mail counts as infinite)
    p95: float
    p99: float
    max: float
    api_p50: float  # due -> the API's answer
    api_p99: float
    ingested_per_s: float  # 2xx answers / (last answer - first due)
    mails_per_s: float  # mails / (last mail - first due)
    backlog: int  # events due by the last one's due time whose mail had not arrived
    sender_lag_p99: float  # due -> actually sent, the harness's own delay
    # Where the time went (benchmarks/event_stages.py): stage -> [p50, p99] ms
    stages: dict[str, list[float]] = field(default_factory=dict)
    # [seconds from the first due, events, p50 ms, max ms] per WINDOW seconds of due
    # times: a spike (a checkpoint, a schedule firing) shows here, a trend too.
    timeline: list[list[float]] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # % of one core, per process
    load_before: list[float] = field(default_factory=list)
    load_after: list[float] = field(default_factory=list)
    sustained: bool = False

    @classmethod
    def of(
        cls, label: str, rate: float, shots: Sequence[Shot], arrived: dict[str, float]
    ) -> RateResult:
        accepted = [s for s in shots if 200 <= s.status < 300]
        errors: dict[str, int] = {}
        for s in shots:
            if not 200 <= s.status < 300:
                errors[str(s.status)] = errors.get(str(s.status), 0) + 1
        mailed = [s for s in accepted if s.address in arrived]
        to_mail = sorted(
            [(arrived[s.address] - s.due) * 1000 for s in mailed]
            + [math.inf] * (len(accepted) - len(mailed))
        )
        to_answer = sorted((s.answered - s.due) * 1000 for s in accepted)
        lag = sorted((s.sent - s.due) * 1000 for s in shots)
        first = min(s.due for s in shots)
        last_due = max(s.due for s in shots)
        last_answer = max((s.answered for s in accepted), default=first)
        last_mail = max((arrived[s.address] for s in mailed), default=first)
        return cls(
            label=label,
            rate=rate,
            events=len(shots),
            accepted=len(accepted),
            errors=errors,
            mails=len(mailed),
            missing=len(accepted) - len(mailed),
            p50=round(quantile(to_mail, 0.50), 1),
            p95=round(quantile(to_mail, 0.95), 1),
            p99=round(quantile(to_mail, 0.99), 1),
            max=round(to_mail[-1], 1) if to_mail else math.nan,
            api_p50=round(quantile(to_answer, 0.50), 1),
            api_p99=round(quantile(to_answer, 0.99), 1),
            ingested_per_s=round(len(accepted) / max(last_answer - first, 1e-9), 2),
            mails_per_s=round(len(mailed) / max(last_mail - first, 1e-9), 2),
            backlog=sum(1 for s in accepted if arrived.get(s.address, math.inf) > last_due),
            sender_lag_p99=round(quantile(lag, 0.99), 1),
            timeline=_timeline(accepted, arrived, first),
        )

    def judge(self, p99_limit_ms: float) -> None:
        """Sustained: every event accepted, every mail arrived, p99 within the limit (a
        backlog that grows pushes the last events' latency, and so p99, past it)."""
        self.sustained = (
            self.accepted == self.events and self.missing == 0 and self.p99 <= p99_limit_ms
        )

    def one_line(self) -> str:
        verdict = "sustained" if self.sustained else "NOT sustained"
        errors = f", errors {self.errors}" if self.errors else ""
        return (
            f"{self.label} {self.rate:g}/s x {self.events}: to mail p50 {self.p50:.0f} "
            f"p99 {self.p99:.0f} max {self.max:.0f} ms; API p50 {self.api_p50:.0f} "
            f"p99 {self.api_p99:.0f} ms; {self.ingested_per_s:.1f} ingested/s, "
            f"{self.mails_per_s:.1f} mails/s, {self.missing} missing{errors}; CPU "
            + " ".join(f"{k} {v:.0f}" for k, v in self.cpu.items())
            + f" -> {verdict}"
        )


def _timeline(shots: Sequence[Shot], arrived: dict[str, float], first: float) -> list[list[float]]:
    windows: dict[int, list[float]] = {}
    for s in shots:
        latency = (arrived[s.address] - s.due) * 1000 if s.address in arrived else math.inf
        windows.setdefault(int((s.due - first) // WINDOW), []).append(latency)
    return [
        [n * WINDOW, len(v), round(quantile(sorted(v), 0.5), 1), round(max(v), 1)]
        for n, v in sorted(windows.items())
    ]
