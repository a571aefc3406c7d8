"""The two workloads measured side by side, each with its worker running.

A workload names its workflows up front (`keys`, the workflow ids), starts one per
call, and tells when each produced its effect (`arrivals`): the mail in the sink for a
trip, the no-op activity run for the baseline.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.worker import Worker

from activities.admission import admit, trip_id
from benchmarks.noop import NOOP_WORKFLOW, NoopActivities, NoopWorkflow
from benchmarks.sink import TimingSink
from domain.definition import JourneyDefinition
from store.db import make_engine, session_scope
from store.migrate import upgrade
from store.models import Journey, JourneyVersion, Relation, Template
from worker.settings import Settings
from worker.worker import build_render_pool, build_smtp_pool, build_worker

ONE_EMAIL = {
    "name": "Benchmark: one email",
    "timezone": "UTC",
    "steps": [{"id": "hello", "type": "send_email", "template": "bench_hello"}],
}


class Workload(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def keys(self) -> list[str]:
        """Workflow ids, in start order."""
        ...

    @property
    def query(self) -> str:
        """Visibility query matching exactly this workload's workflows."""
        ...

    async def start(self, key: str) -> None: ...

    def arrivals(self) -> dict[str, float]:
        """Workflow id -> wall time its effect was seen (first time only)."""
        ...

    def doubles(self) -> int:
        """Effects seen more than once (a mail sent twice)."""
        ...


def worker_limits(settings: Settings) -> dict[str, Any]:
    return dict(
        max_concurrent_activities=settings.max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        max_cached_workflows=settings.max_cached_workflows,
    )


# --- baseline -------------------------------------------------------------------------------


@dataclass
class Baseline:
    client: Client
    task_queue: str
    keys: list[str]
    name: str = "baseline"
    ran: dict[str, float] = field(default_factory=dict)

    @property
    def query(self) -> str:
        return f"TaskQueue = '{self.task_queue}'"

    def on_run(self, workflow_id: str) -> None:
        self.ran.setdefault(workflow_id, time.time())

    async def start(self, key: str) -> None:
        await self.client.start_workflow(NOOP_WORKFLOW, id=key, task_queue=self.task_queue)

    def arrivals(self) -> dict[str, float]:
        return dict(self.ran)

    def doubles(self) -> int:
        return 0


@asynccontextmanager
async def baseline(client: Client, settings: Settings, tag: str, n: int) -> AsyncIterator[Baseline]:
    workload = Baseline(
        client, task_queue=f"bench-noop-{tag}", keys=[f"noop:{tag}:{i}" for i in range(n)]
    )
    worker = Worker(
        client,
        task_queue=workload.task_queue,
        workflows=[NoopWorkflow],
        activities=[NoopActivities(workload.on_run).noop],
        # The trip worker's limits, so that only the work differs.
        **worker_limits(settings),
    )
    async with worker:
        yield workload


# --- reisplan -------------------------------------------------------------------------------


@dataclass
class Store:
    engine: Engine
    url: str


def make_store(workdir: Path) -> Store:
    """A migrated SQLite store holding the benchmark's personalised template."""
    url = f"sqlite:///{workdir / 'reisplan.db'}"
    upgrade(url)
    engine = make_engine(url)
    with session_scope(engine) as session:
        session.add(
            Template(
                key="bench_hello",
                name="Benchmark hello",
                subject="Hello {{ relation.first_name }}",
                html="<p>Dear {{ relation.first_name }} {{ relation.last_name }},</p>"
                "<p>Welcome aboard.</p>",
            )
        )
    return Store(engine, url)


def add_journey_and_relations(
    store: Store, tag: str, n: int, spec: dict[str, Any] = ONE_EMAIL
) -> tuple[int, dict[int, str]]:
    """An active journey (`spec`, the one-email journey by default) and n new relations
    (relation id -> address)."""
    definition = JourneyDefinition.model_validate(spec)
    dumped = definition.model_dump(mode="json", by_alias=True)
    with session_scope(store.engine) as session:
        journey = Journey(
            name=f"{definition.name} ({tag})", status="active", definition=dumped, active_version=1
        )
        session.add(journey)
        session.flush()
        assert journey.id is not None
        session.add(
            JourneyVersion(
                journey_id=journey.id, version=1, definition=dumped, digest=definition.digest()
            )
        )
        relations = [
            Relation(email=f"r{i}.{tag}@bench.example", first_name=f"R{i}", last_name="Bench")
            for i in range(n)
        ]
        session.add_all(relations)
        session.flush()
        return journey.id, {r.id: r.email for r in relations if r.id is not None and r.email}


@dataclass
class Trips:
    client: Client
    engine: Engine
    task_queue: str
    journey_id: int
    sink: TimingSink
    trip_of: dict[str, str]  # recipient address -> trip id
    relation_of: dict[str, int]  # trip id -> relation id
    name: str = "reisplan"

    @property
    def keys(self) -> list[str]:
        return list(self.relation_of)

    @property
    def query(self) -> str:
        return f"JourneyId = '{self.journey_id}'"

    async def start(self, key: str) -> None:
        trip = await admit(
            self.client, self.engine, self.task_queue, self.journey_id, self.relation_of[key]
        )
        assert trip.id == key, f"expected the first trip {key}, enrollment made {trip.id}"

    def arrivals(self) -> dict[str, float]:
        return {self.trip_of[address]: at for address, at in self.sink.received().items()}

    def doubles(self) -> int:
        return self.sink.count - len(self.sink.received())


@asynccontextmanager
async def worker_processes(
    settings: Settings, temporal_address: str, count: int
) -> AsyncIterator[list[int]]:
    """`reisplan worker` as `count` separate processes (what `reisplan dev --workers N`
    runs), ready once each says it polls; stopped with SIGTERM (graceful) on the way out."""
    env = {
        **os.environ,
        "REISPLAN_DATABASE_URL": settings.database_url,
        "REISPLAN_TEMPORAL_ADDRESS": temporal_address,
        "REISPLAN_TASK_QUEUE": settings.task_queue,
        "REISPLAN_SMTP_HOST": settings.smtp_host,
        "REISPLAN_SMTP_PORT": str(settings.smtp_port),
        "REISPLAN_MAIL_FROM": settings.mail_from,
        "REISPLAN_MAIL_DOMAIN": settings.mail_domain,
    }
    processes: list[asyncio.subprocess.Process] = []
    readers: list[asyncio.Task[bytes]] = []
    try:
        for _ in range(count):
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "worker.cli",
                "worker",
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            processes.append(process)
            assert process.stderr is not None
            async with asyncio.timeout(60):
                while b"worker polling task queue" not in await process.stderr.readline():
                    if process.returncode is not None:
                        raise RuntimeError("a benchmark worker process died at start")
            # Keep reading its log so a full pipe never blocks it.
            readers.append(asyncio.ensure_future(process.stderr.read()))
        yield [p.pid for p in processes]
    finally:
        for process in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                async with asyncio.timeout(20):
                    await process.wait()
            except TimeoutError:
                process.kill()
        for reader in readers:
            reader.cancel()


@asynccontextmanager
async def trips(
    client: Client,
    store: Store,
    settings: Settings,
    tag: str,
    n: int,
    *,
    processes: int = 0,
    temporal_address: str = "",
) -> AsyncIterator[Trips]:
    """N relations ready to admit into a fresh one-email journey; real worker and sink.

    With `processes` = 0 the worker runs in this process (one interpreter for worker,
    admission and sink); otherwise it runs as that many `reisplan worker` processes."""
    journey_id, addresses = add_journey_and_relations(store, tag, n)
    trip_ids = {rid: trip_id(journey_id, rid, 1) for rid in addresses}
    sink = TimingSink().start()
    try:
        settings = settings.model_copy(update={"smtp_port": sink.port})
        smtp = build_smtp_pool(settings)
        renderer = build_render_pool(settings)
        try:
            running: AbstractAsyncContextManager[Any] = (
                worker_processes(settings, temporal_address, processes)
                if processes
                else build_worker(client, store.engine, settings, smtp, renderer)
            )
            async with running:
                yield Trips(
                    client,
                    store.engine,
                    settings.task_queue,
                    journey_id,
                    sink,
                    trip_of={address.lower(): trip_ids[rid] for rid, address in addresses.items()},
                    relation_of={trip_ids[rid]: rid for rid in addresses},
                )
        finally:
            await smtp.close()
            renderer.close()
    finally:
        sink.stop()
