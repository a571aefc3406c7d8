"""Throughput of reisplan trips against the bare Temporal ceiling, on two dev servers.

    .venv/bin/python -m benchmarks.throughput [--trips N] [--out FILE]

For each dev server set-up (SQLite with its default journal, then WAL with
synchronous=normal as `reisplan dev` runs it) one run measures, in alternating order:
  baseline  N bare workflows that each run one no-op activity;
  reisplan  N relations admitted into a one-email journey: the real worker, a real
            SMTP sink and a SQLite store.
Read the ratio of the two: this machine's speed and much of its noise cancel out of it.
After each burst a few single trips, one at a time, measure latency on an idle system.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import tempfile
import time
import warnings
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from temporalio.client import Client, WorkflowExecutionStatus

from benchmarks import cpu, workloads
from benchmarks.cli import at_least, log, run_and_exit
from benchmarks.devserver import TUNED_PRAGMAS, dev_server
from benchmarks.report import RESULTS, Phase, Run, machine_info, write_results
from worker.settings import Settings

SERVERS: dict[str, tuple[str, ...]] = {"default": (), "tuned": TUNED_PRAGMAS}
# reisplan-2p: the same trips with the worker as two `reisplan worker` processes (as
# `reisplan dev --workers 2` runs it); the harness then only admits and receives mail.
WORKLOADS = ("baseline", "reisplan", "reisplan-2p")
WORKER_PROCESSES = {"reisplan": 0, "reisplan-2p": 2}


# --- measuring one phase ----------------------------------------------------------------


async def measure(
    client: Client,
    workload: workloads.Workload,
    labels: tuple[str, str, int],
    n: int,
    in_flight: int,
    server_pid: int,
) -> Phase:
    """Start n workflows as a burst, then the remaining keys one at a time (idle latency)."""
    burst, probes = workload.keys[:n], workload.keys[n:]
    deadline = _deadline(len(workload.keys))
    before = cpu.sample(server_pid)
    started = await _start_all(burst, in_flight, workload.start)

    async def all_arrived() -> bool:
        return len(workload.arrivals()) >= n

    await _wait_until(f"{n} {workload.name} effects", all_arrived, deadline)
    arrived = workload.arrivals()
    closed = await _closed(client, workload.query, n, deadline)
    used = cpu.usage(before, cpu.sample(server_pid))
    idle = [await _one_alone(workload, key, deadline) for key in probes]
    await _closed(client, workload.query, len(workload.keys), deadline)
    return Phase.of(labels, started, arrived, closed, idle, workload.doubles(), used)


async def _start_all(
    keys: Sequence[str], in_flight: int, start: Callable[[str], Awaitable[None]]
) -> dict[str, float]:
    """Start every key with at most `in_flight` starts outstanding; returns start times.

    More starts in flight makes the dev server slower, not faster (shared notes)."""
    gate = asyncio.Semaphore(in_flight)
    started: dict[str, float] = {}

    async def one(key: str) -> None:
        async with gate:
            started[key] = time.time()
            await start(key)

    async with asyncio.TaskGroup() as group:
        for key in keys:
            group.create_task(one(key))
    return started


async def _one_alone(workload: workloads.Workload, key: str, deadline: float) -> float:
    began = time.time()
    await workload.start(key)
    while key not in workload.arrivals():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{workload.name} {key} had no effect in time")
        await asyncio.sleep(0.002)
    return (workload.arrivals()[key] - began) * 1000


async def _wait_until(what: str, done: Callable[[], Awaitable[bool]], deadline: float) -> None:
    """Poll `done` until the monotonic `deadline`: a stuck phase must still end."""
    while not await done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen in time")
        await asyncio.sleep(0.1)


async def _closed(
    client: Client, query: str, n: int, deadline: float
) -> dict[str, tuple[float, bool]]:
    """Workflow id -> (server close time, completed?) once n have closed.

    Read from visibility after the fact, so nothing polls a workflow while it runs."""

    async def all_closed() -> bool:
        closed = await client.count_workflows(f"{query} AND ExecutionStatus != 'Running'")
        return closed.count >= n

    await _wait_until(f"{n} workflows closing ({query})", all_closed, deadline)
    closed: dict[str, tuple[float, bool]] = {}
    async for execution in client.list_workflows(query, page_size=1000):
        if execution.close_time is not None:
            closed[execution.id] = (
                execution.close_time.timestamp(),
                execution.status == WorkflowExecutionStatus.COMPLETED,
            )
    return closed


def _deadline(n: int) -> float:
    # Generous (the slowest set-up does ~10 trips/s), yet a stuck phase ends.
    return time.monotonic() + 60.0 + n * 0.5


# --- the run --------------------------------------------------------------------------------


async def run_server(run: Run, server: str, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix=f"reisplan-bench-{server}-") as tmp:
        workdir = Path(tmp)
        async with dev_server(workdir, SERVERS[server]) as (process, client):
            log(f"[{server}] dev server on {process.address}: {' '.join(SERVERS[server]) or '-'}")
            pid = process.process.pid
            store = workloads.make_store(workdir)
            settings = bench_settings(store.url, workdir)

            def workload(
                kind: str, round_no: int, n: int
            ) -> AbstractAsyncContextManager[workloads.Workload]:
                tag = f"{server}{round_no}"
                if kind == "baseline":
                    return workloads.baseline(client, settings, tag, n)
                return workloads.trips(
                    client,
                    store,
                    settings,
                    f"{tag}{kind}",
                    n,
                    processes=WORKER_PROCESSES[kind],
                    temporal_address=process.address,
                )

            try:
                for kind in args.workloads if args.warmup else ():
                    async with workload(kind, 0, args.warmup) as running:
                        await measure(client, running, (server, kind, 0), args.warmup, 16, pid)
                for round_no in range(1, run.rounds + 1):
                    # Alternate the order so drift (a growing database, a busy
                    # neighbour) weighs on both workloads alike.
                    order = args.workloads if round_no % 2 else args.workloads[::-1]
                    for kind in order:
                        async with workload(kind, round_no, run.trips + run.probes) as running:
                            phase = await measure(
                                client,
                                running,
                                (server, kind, round_no),
                                run.trips,
                                run.in_flight,
                                pid,
                            )
                        run.phases.append(phase)
                        log(f"[{server}] round {round_no} {kind:8}: {phase.one_line()}")
            finally:
                store.engine.dispose()


def bench_settings(database_url: str, workdir: Path) -> Settings:
    return Settings(
        data_dir=workdir,
        database_url=database_url,
        smtp_host="127.0.0.1",
        mail_from="Reisplan Bench <bench@reisplan.localhost>",
        mail_domain="bench.reisplan.localhost",
    )


async def main_async(args: argparse.Namespace) -> Run:
    run = Run(
        trips=args.trips,
        probes=args.probes,
        in_flight=args.in_flight,
        rounds=args.rounds,
        machine=machine_info(),
        worker=workloads.worker_limits(bench_settings("sqlite://", Path("."))),
    )
    task = asyncio.current_task()
    assert task is not None
    # Ctrl-C and SIGTERM both pass through the finally blocks that stop the dev servers
    # (SIGINT explicitly too: a shell starting us in the background ignores it).
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, task.cancel)
    began = time.monotonic()
    for server in args.servers:
        await run_server(run, server, args)
    run.wall_seconds = round(time.monotonic() - began, 1)
    return run


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.throughput",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    number = parser.add_argument
    number("--trips", type=at_least(1), default=300, help="burst size per phase (300)")
    number("--rounds", type=at_least(1), default=2, help="alternating rounds per server (2)")
    number("--in-flight", type=at_least(1), default=16, help="starts in flight (16)")
    number("--probes", type=at_least(0), default=10, help="single trips after a burst (10)")
    number("--warmup", type=at_least(0), default=20, help="untimed workflows first (20)")
    parser.add_argument(
        "--servers",
        nargs="+",
        choices=list(SERVERS),
        default=list(SERVERS),
        help="dev server set-ups to measure (both)",
    )
    parser.add_argument(
        "--workloads",
        nargs="+",
        choices=WORKLOADS,
        default=list(WORKLOADS),
        help="what to measure (all; one alone is for profiling)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS / "latest.md",
        help="markdown result; the JSON goes beside it (benchmarks/results/latest.md)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    # build_worker caps the thread pool below max_concurrent_activities on purpose: only
    # the synchronous bookkeeping activities use it. Said once per worker, it is noise here.
    warnings.filterwarnings("ignore", message="Worker max_concurrent_activities is")

    async def work() -> str:
        return write_results(await main_async(args), args.out)

    run_and_exit(work, "dev servers stopped")


if __name__ == "__main__":
    main()
