"""From POST /events to the first mail, through the embedded default (benchmarks/embedded.py).

A donation journey (trigger `donation` to fund `general`, one `send_email` step with a
template that uses the relation and the event) is set up through the API. Every event
names a new donor by address with `create: true`, so each event creates its relation,
is stored, starts its Dispatch workflow, which admits the donor, whose trip sends one
mail; the sink's receipt for that address ends the measurement of that event.

1. steady: `--events` events at `--rate` per second (10 by default): the latency targets;
2. sweep: `--sweep-seconds` at each of the `--sweep` rates, upwards, until one is not
   sustained (an event refused or without mail, or p99 above `--sustain-p99`);
3. highest: `--events` events again at the highest rate the sweep sustained.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx

from benchmarks import event_stages, segment_data, spy
from benchmarks.cli import log
from benchmarks.embedded import Stack, cpu_usage, load_average
from benchmarks.open_loop import RateResult, fire, wait_for_mail

TEMPLATE = {
    "key": "bench_thanks",
    "name": "Benchmark thank-you",
    "subject": "Thank you, {{ relation.first_name }}",
    "html": "<p>Dear {{ relation.first_name }},</p><p>Thank you for your gift of "
    "{{ event.amount }} to the {{ event.fund }} fund.</p>",
}
JOURNEY = {
    "name": "Benchmark: thank a donor",
    "timezone": "UTC",
    "triggers": [{"type": "donation", "fund": "general"}],
    "steps": [{"id": "thanks", "type": "send_email", "template": "bench_thanks"}],
}
TARGET_P50_MS = 250.0
TARGET_P99_MS = 1000.0
# Between runs: the previous run's trips close (their last workflow task) after the mail.
PAUSE = 3.0


@dataclass
class LatencyPhase:
    sustain_p99_ms: float
    segments: int  # segments defined in the store while events came in
    runs: list[RateResult] = field(default_factory=list)
    highest: float | None = None  # the highest rate sustained over `--events` events
    notes: list[str] = field(default_factory=list)

    @property
    def steady(self) -> RateResult | None:
        return next((r for r in self.runs if r.label == "steady"), None)

    @property
    def at_highest(self) -> RateResult | None:
        found = [r for r in self.runs if r.label in ("steady", "highest") and r.sustained]
        return max(found, key=lambda r: r.rate, default=None)

    def meets_targets(self) -> bool | None:
        steady = self.steady
        if steady is None:
            return None
        return steady.p50 < TARGET_P50_MS and steady.p99 < TARGET_P99_MS and steady.missing == 0


async def _ok(response: Any, status: int = 200) -> dict[str, Any]:
    answer = await response
    if answer.status_code != status:
        raise RuntimeError(f"{answer.request.method} {answer.request.url}: {answer.text}")
    found: dict[str, Any] = answer.json()
    return found


async def prepare(http: httpx.AsyncClient) -> int:
    """The template and the active journey, made as a marketer would, through the API."""
    await _ok(http.post("/templates", json=TEMPLATE), 201)
    journey = await _ok(http.post("/journeys", json={"definition": JOURNEY}), 201)
    await _ok(http.post(f"/journeys/{journey['id']}/activate"))
    return int(journey["id"])


def donations(tag: str, n: int) -> list[tuple[str, dict[str, Any]]]:
    """n donation events, each by a new donor (address, body)."""
    found = []
    for i in range(n):
        address = f"donor{i}.{tag}@bench.example"
        body = {
            "type": "donation",
            "relation": {"email": address, "create": True, "fields": {"first_name": f"D{i}"}},
            "payload": {"amount": 25, "fund": "general"},
            "idempotency_key": f"{tag}-{i}",
        }
        found.append((address, body))
    return found


async def run_rate(
    stack: Stack,
    http: httpx.AsyncClient,
    journey_id: int,
    label: str,
    rate: float,
    n: int,
    args: argparse.Namespace,
) -> RateResult:
    tag = f"{label}{rate:g}"
    events = donations(tag, n)
    load_before = load_average()
    before = stack.cpu_seconds()
    profiled = args.profile if label in ("steady", "highest") else None
    with spy.recording(profiled, stack.python_pids(), tag):
        shots = await fire(http, rate, events)
        arrived = await wait_for_mail(shots, stack.sink.received, args.drain, stack.check_alive)
    result = RateResult.of(label, rate, shots, arrived)
    result.cpu = cpu_usage(before, stack.cpu_seconds())
    result.load_before, result.load_after = load_before, load_average()
    result.judge(args.sustain_p99)
    log(f"[events] {result.one_line()}")
    if label != "warmup":
        result.stages = await event_stages.stages(stack.client, journey_id, shots, arrived)
        log(f"[events]   stages p50/p99 ms: {result.stages}")
    if result.missing:
        # Let the backlog clear, so that it does not weigh on the next run.
        await wait_for_mail(shots, stack.sink.received, args.drain * 10, stack.check_alive)
    await asyncio.sleep(PAUSE)
    return result


async def measure(stack: Stack, args: argparse.Namespace) -> LatencyPhase:
    phase = LatencyPhase(sustain_p99_ms=args.sustain_p99, segments=args.latency_segments)
    if args.latency_segments:
        segment_data.define_segments(stack.store.engine, args.latency_segments)
    async with stack.http() as http:
        journey_id = await prepare(http)
        if args.warmup:
            # Untimed: the first trips pay for imports, caches and connections.
            await run_rate(stack, http, journey_id, "warmup", args.rate, args.warmup, args)
        steady = await run_rate(stack, http, journey_id, "steady", args.rate, args.events, args)
        phase.runs.append(steady)
        sustained = [args.rate] if steady.sustained else []
        # Upwards from the steady rate; nothing above a rate that is not sustained.
        upwards = sorted(r for r in args.sweep if r > args.rate) if steady.sustained else []
        for rate in upwards:
            swept = await run_rate(
                stack, http, journey_id, "sweep", rate, round(rate * args.sweep_seconds), args
            )
            phase.runs.append(swept)
            if not swept.sustained:
                break
            sustained.append(rate)
        # Confirm the best over as many events as the steady run, stepping down if the
        # longer run does not hold (a short run can hide a slowly growing backlog).
        for rate in sorted(sustained, reverse=True):
            if rate == args.rate:
                phase.highest = rate
                break
            confirmed = await run_rate(stack, http, journey_id, "highest", rate, args.events, args)
            phase.runs.append(confirmed)
            if confirmed.sustained:
                phase.highest = rate
                break
            phase.notes.append(
                f"{rate:g}/s held for {args.sweep_seconds} s but not for {args.events} events"
            )
    return phase
