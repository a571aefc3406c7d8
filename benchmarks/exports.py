"""How fast an export bucket collects trips and writes its file, and how large it may grow.

N relations on running trips reach an export step (default 10,000). Each is handed to
the bucket's collector as a trip does it, by the real `collect_export` activity (a
signal-with-start to the ExportBucket workflow, then the passage and the effect in one
transaction), 32 at a time, against a Temporal dev server (WAL file, as `reisplan dev`
runs it) with a worker running the collector; then the bucket's file is written by the
real `write_export` activity. Figures: hand-overs per second, the collector's count (the
Web UI's details) once all signals are in, rows per second written, and the size of the
write's input (trip ids and relation ids: what bounds a bucket, see the report).

    .venv/bin/python -m benchmarks.exports                  # ~2 minutes on 2 cores
    .venv/bin/python -m benchmarks.exports --trips 2000

Results go to benchmarks/results/exports-latest.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlmodel import col, select
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from activities.contracts import PassageKey
from activities.contracts.exports import CollectExportInput, WriteExportInput, collector_id
from activities.exports import ExportActivities
from benchmarks.cli import at_least, cancel_on_signals, log, run_and_exit
from benchmarks.devserver import TUNED_PRAGMAS, dev_server
from benchmarks.parked import REPO
from store.db import make_engine, session_scope
from store.models import Journey, Relation, Trip
from tests.support.databases import fresh_database
from worker.worker import WORKFLOW_RUNNER
from workflows.export_bucket import ExportBucketWorkflow

# In a period far ahead: the collector sleeps while the trips join, as it does all day.
REACHED = datetime(2030, 3, 1, 10, 15, tzinfo=UTC)
FIELDS = ["id", "email", "first_name", "last_name", "trip_id", "reached_at"]
CONCURRENCY = 32
PAYLOAD_LIMIT = 2 * 1024 * 1024  # Temporal's default blob size limit


@dataclass
class Result:
    trips: int
    handover_s: float
    collected: str
    write_s: float
    rows: int
    file_bytes: int
    input_bytes: int


def seed(engine: Engine, trips: int) -> tuple[int, dict[str, int]]:
    """A journey and `trips` relations on running trips that reached its export step."""
    with session_scope(engine) as session:
        journey = Journey(name="Bounced", status="active", definition={}, active_version=1)
        session.add(journey)
        session.flush()
        assert journey.id is not None
        journey_id = journey.id
        session.execute(
            insert(Relation),
            [
                {
                    "email": f"r{n}@example.org",
                    "first_name": f"R{n}",
                    "last_name": "Bench",
                    "custom": {},
                }
                for n in range(trips)
            ],
        )
    with session_scope(engine) as session:
        ids = session.exec(select(Relation.id).order_by(col(Relation.id))).all()
        entries = {f"trip:{journey_id}:{i}:1": int(i or 0) for i in ids}
        session.execute(
            insert(Trip),
            [
                {
                    "id": trip_id,
                    "journey_id": journey_id,
                    "journey_version": 1,
                    "relation_id": relation_id,
                    "admitted_relation_id": relation_id,
                    "number": 1,
                    "current_step": "bounced",
                    "status": "running",
                }
                for trip_id, relation_id in entries.items()
            ],
        )
    return journey_id, entries


async def run(trips: int) -> Result:
    with tempfile.TemporaryDirectory(prefix="reisplan-bench-exports-") as tmp:
        root = Path(tmp)
        async with dev_server(root, TUNED_PRAGMAS) as (_server, client):
            with fresh_database("sqlite", root) as url:
                engine = make_engine(url)
                journey_id, entries = seed(engine, trips)
                queue = f"bench-exports-{uuid.uuid4().hex[:8]}"
                acts = ExportActivities(engine, client, queue, root / "exports")
                worker = Worker(
                    client,
                    task_queue=queue,
                    workflows=[ExportBucketWorkflow],
                    workflow_runner=WORKFLOW_RUNNER,
                )
                async with worker:
                    gate = asyncio.Semaphore(CONCURRENCY)
                    env = ActivityEnvironment()

                    async def hand_over(trip_id: str, relation_id: int) -> None:
                        async with gate:
                            await env.run(
                                acts.collect_export,
                                CollectExportInput(
                                    passage=PassageKey(
                                        trip_id=trip_id,
                                        seq=1,
                                        step_id="bounced",
                                        step_type="export",
                                        entered_at=REACHED,
                                    ),
                                    relation_id=relation_id,
                                    journey_id=journey_id,
                                    every="PT1H",
                                    zone="UTC",
                                    fields=FIELDS,
                                    file="{journey}-{step}-{bucket}.csv",
                                    ends_trip=True,
                                ),
                            )

                    log(f"handing {trips:,} trips to the collector ...")
                    started = time.monotonic()
                    await asyncio.gather(*(hand_over(t, r) for t, r in entries.items()))
                    handover = time.monotonic() - started
                    collector = client.get_workflow_handle(
                        collector_id(journey_id, "bounced", "2030-03-01T10+0000")
                    )
                    collected = ""
                    for _ in range(600):
                        shown = await collector.query(
                            "__temporal_workflow_metadata", result_type=WorkflowMetadata
                        )
                        collected = shown.current_details
                        if f": {trips:,} trip" in collected or f": {trips} trip" in collected:
                            break
                        await asyncio.sleep(0.1)
                    await collector.terminate("benchmark: the write is measured on its own")

                log("writing the bucket ...")
                data = WriteExportInput(
                    journey_id=journey_id,
                    step_id="bounced",
                    bucket="2030-03-01T10+0000",
                    fields=FIELDS,
                    file="{journey}-{step}-{bucket}.csv",
                    entries=entries,
                )
                started = time.monotonic()
                written = await asyncio.to_thread(acts.write_export, data)
                write = time.monotonic() - started
                files = list((root / "exports").rglob("*.csv"))
                engine.dispose()
                return Result(
                    trips=trips,
                    handover_s=handover,
                    collected=collected,
                    write_s=write,
                    rows=written.rows,
                    file_bytes=sum(f.stat().st_size for f in files),
                    input_bytes=len(data.model_dump_json().encode()),
                )


def report(result: Result) -> str:
    per_entry = result.input_bytes / result.trips
    return "\n".join(
        [
            "# Export buckets: collecting and writing",
            "",
            f"`python -m benchmarks.exports --trips {result.trips}`; "
            f"{os.cpu_count()} cores, SQLite store, Temporal dev server (WAL file), "
            f"{CONCURRENCY} hand-overs in flight.",
            "",
            "| trips | hand-over s | hand-overs/s | collector says | write s | rows/s "
            "written | rows | file | write input |",
            "|---:|---:|---:|---|---:|---:|---:|---:|---:|",
            f"| {result.trips:,} | {result.handover_s:.1f} | "
            f"{result.trips / result.handover_s:,.0f} | {result.collected.split(';')[0]} | "
            f"{result.write_s:.1f} | {result.rows / result.write_s:,.0f} | {result.rows:,} | "
            f"{result.file_bytes / 1024:,.0f} KiB | {result.input_bytes / 1024:,.0f} KiB |",
            "",
            "A hand-over is what a trip's export step costs: the signal-with-start and one "
            "transaction. The write is one transaction (a line per trip, the file written "
            "beside its place, fsynced and renamed). The collector holds trip and relation "
            f"ids: {per_entry:.0f} bytes a trip in the write's input, so under Temporal's "
            f"default 2 MiB payload limit one bucket holds about "
            f"{PAYLOAD_LIMIT / per_entry:,.0f} trips (a longer journey or relation id, "
            "fewer); a bucket beyond that fails to write and must be split (a shorter "
            "period).",
            "",
        ]
    )


async def main(args: argparse.Namespace) -> str:
    cancel_on_signals()
    result = await run(args.trips)
    text = report(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    return text


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.exports", description=__doc__)
    parser.add_argument("--trips", type=at_least(100), default=10_000)
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks" / "results" / "exports-latest.md"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse()
    run_and_exit(lambda: main(arguments), "the server and worker were stopped")
