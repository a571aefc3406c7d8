"""How fast a CSV import runs, and what a worker restart in the middle costs.

A generated file of N rows (default 100,000): a unique address, first and last names and
a custom field (a member number) per row; 10 % of the rows repeat an earlier row's
address with other names (updates), 1 % carry an address that is no address (refused).
It is imported as `POST /imports` would: a job row, then the ImportFile workflow
started on a Temporal dev server (WAL file, as `reisplan dev` runs it), carried out by
a real `reisplan worker` process. Each database (SQLite, and PostgreSQL when reachable)
runs twice: straight through, and with the worker killed (SIGKILL) when half the rows
are done and a new one started. Rows/s is the file's rows over the time from the start
of the workflow to the job's `finished_at`. After each run the store is checked: one
relation per distinct valid address, and the counts the file implies.

    .venv/bin/python -m benchmarks.imports                 # ~5 minutes on 2 cores
    .venv/bin/python -m benchmarks.imports --rows 10000 --databases sqlite

Results go to benchmarks/results/imports-latest.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client

from activities.contracts.imports import IMPORT_FILE_WORKFLOW, ImportFileInput, import_workflow_id
from benchmarks.cli import at_least, cancel_on_signals, log, run_and_exit
from benchmarks.devserver import TUNED_PRAGMAS, dev_server
from benchmarks.parked import REPO, WorkerProcess, spawn_worker, wait_worker_ready
from store import imports
from store.db import make_engine, session_scope
from store.models import ImportJob, Relation, Segment
from tests.support.databases import fresh_database, postgres_available
from worker.settings import Settings

MAPPING = {
    "E-mail": "email",
    "Voornaam": "first_name",
    "Achternaam": "last_name",
    "Lidnummer": "member_number",
}
POLL_EVERY = 0.25
MEMBERS = {"field": "member_number", "op": "is_set"}


@dataclass(frozen=True)
class Expected:
    rows: int
    new: int
    updated: int
    invalid: int


def write_csv(path: Path, rows: int) -> Expected:
    """The file as Dutch Excel writes it (BOM, `;`, CRLF); what importing it must do."""
    new = updated = invalid = 0
    lines = ["E-mail;Voornaam;Achternaam;Lidnummer"]
    for number in range(1, rows + 1):
        if number % 100 == 0:
            lines.append(f"lid{number}-at-example.org;Fout;Adres;X{number}")
            invalid += 1
        elif number % 10 == 5 and new:
            earlier = number // 2 - (number // 2) % 10 + 1  # a row that made a relation
            lines.append(f"lid{earlier}@example.org;Ander{number};Naam;M{earlier}")
            updated += 1
        else:
            lines.append(f"lid{number}@example.org;Voor{number};Achter{number};M{number}")
            new += 1
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8-sig"))
    return Expected(rows=rows, new=new, updated=updated, invalid=invalid)


@dataclass
class Run:
    database: str
    restart: bool
    rows: int
    seconds: float
    segment: bool = False
    killed_at_row: int = 0
    seconds_down: float = 0.0  # the kill -> the first batch the new worker committed
    relations: int = 0
    duplicates: int = 0
    counts_ok: bool = False

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def _kill(worker: WorkerProcess) -> None:
    os.killpg(worker.pid, signal.SIGKILL)
    worker.process.wait()


def _job(engine: Engine, job_id: int) -> ImportJob:
    with Session(engine) as session:
        job = session.get(ImportJob, job_id)
        assert job is not None
        return job


@asynccontextmanager
async def _worker(workdir: Path, settings: Settings) -> AsyncIterator[list[WorkerProcess]]:
    """The running worker (a list, so a restart can replace it); stopped at the end."""
    running = [spawn_worker(workdir, settings)]
    try:
        await wait_worker_ready(running[0])
        yield running
    finally:
        running[-1].stop()


async def one_run(
    client: Client,
    address: str,
    kind: str,
    rows: int,
    restart: bool,
    root: Path,
    segment: bool = False,
) -> Run:
    workdir = root / f"{kind}-{'restart' if restart else 'straight'}{'-segment' if segment else ''}"
    workdir.mkdir()
    with fresh_database(kind, workdir) as url:
        settings = Settings(
            data_dir=workdir,
            database_url=url,
            temporal_address=address,
            secret_key="bench-imports",
        )
        expected = write_csv(workdir / "imports" / "members.csv", rows)
        engine = make_engine(url)
        try:
            async with _worker(workdir, settings) as worker:
                with session_scope(engine) as session:
                    if segment:
                        # Every relation the import makes enters it: a change per new
                        # relation, re-evaluated in the batch (no journey admits on it).
                        session.add(Segment(key="members", name="Members", condition=MEMBERS))
                    job = imports.create_job(
                        session,
                        name="members.csv",
                        path="members.csv",
                        mapping=MAPPING,
                        unique=["email"],
                    )
                    job_id = job.id or 0
                started = time.monotonic()
                await client.start_workflow(
                    IMPORT_FILE_WORKFLOW,
                    ImportFileInput(job_id=job_id, name="members.csv"),
                    id=f"{import_workflow_id(job_id)}-{workdir.name}",
                    task_queue=settings.task_queue,
                )
                run = Run(database=kind, restart=restart, rows=rows, seconds=0.0, segment=segment)
                killed = 0.0
                while True:
                    await asyncio.sleep(POLL_EVERY)
                    found = _job(engine, job_id)
                    if restart and not killed and found.cursor >= rows // 2:
                        _kill(worker[-1])
                        killed = time.monotonic()
                        run.killed_at_row = _job(engine, job_id).cursor
                        log(f"  worker killed at row {run.killed_at_row:,}")
                        worker.append(spawn_worker(workdir, settings))
                        await wait_worker_ready(worker[-1])
                    if killed and not run.seconds_down and found.cursor > run.killed_at_row:
                        run.seconds_down = time.monotonic() - killed
                    if found.status in ("finished", "failed"):
                        break
                    worker[-1].check_alive()
                assert found.status == "finished", found.error
                assert found.finished_at is not None and found.created_at is not None
                run.seconds = time.monotonic() - started
            run.relations, run.duplicates = _relations(engine)
            run.counts_ok = (found.new, found.updated, found.invalid) == (
                expected.new,
                expected.updated,
                expected.invalid,
            ) and run.relations == expected.new
        finally:
            engine.dispose()
    log(
        f"  {kind}{' with a restart' if restart else ''}: {rows:,} rows in "
        f"{run.seconds:.1f} s = {run.rows_per_s:,.0f} rows/s; {run.relations:,} relations, "
        f"{run.duplicates} duplicates, counts {'right' if run.counts_ok else 'WRONG'}"
    )
    return run


def _relations(engine: Engine) -> tuple[int, int]:
    with Session(engine) as session:
        total = session.exec(select(func.count()).select_from(Relation)).one()
        distinct = session.exec(
            select(func.count(func.distinct(func.lower(col(Relation.email)))))
        ).one()
        return total, total - distinct


def report(runs: list[Run], rows: int) -> str:
    straight = {r.database: r.seconds for r in runs if not r.restart and not r.segment}
    lines = [
        "# CSV import: rows per second",
        "",
        "A generated file (10 % of the rows update an earlier row's relation, 1 % have an "
        "invalid address), batches of 500 rows, one `reisplan worker` process (default "
        "settings), a Temporal dev server with a WAL file, the harness polling the job; "
        f"{os.cpu_count()} cores. `python -m benchmarks.imports --rows {rows}`.",
        "",
        "| database | run | rows | seconds | rows/s | killed at row | kill -> next batch | "
        "lost to the kill | relations | duplicates | counts |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for run in runs:
        what = "killed halfway" if run.restart else "straight"
        if run.segment:
            what = "every new relation enters a segment (no journey admits on it)"
        lost = run.seconds - straight.get(run.database, run.seconds)
        lines.append(
            f"| {run.database} | {what} | {run.rows:,} | {run.seconds:.1f} | "
            f"{run.rows_per_s:,.0f} | {f'{run.killed_at_row:,}' if run.restart else '-'} | "
            f"{f'{run.seconds_down:.1f} s' if run.restart else '-'} | "
            f"{f'{lost:.1f} s' if run.restart else '-'} | {run.relations:,} | "
            f"{run.duplicates} | {'right' if run.counts_ok else 'WRONG'} |"
        )
    lines += [
        "",
        "After a kill, the batch the dead worker held is retried once its heartbeat times "
        "out (5 s), and ImportFile's next workflow task waits for the dead worker's sticky "
        "queue to time out (the SDK's `sticky_queue_schedule_to_start_timeout`, 10 s) "
        "before a live worker takes it: that, not the import, is most of the time lost.",
        "",
        "With a segment, every row's relation is re-evaluated. A segment change that no "
        "active journey admits on is recorded as dispatched in the batch's transaction; "
        "one that a journey admits on gets a Dispatch workflow (and a trip) each, so such "
        "an import goes at the rate trips start (about 30 rows/s on 2 cores, which is "
        "what every segment change cost before the batch learned to skip them).",
    ]
    return "\n".join(lines) + "\n"


async def main(args: argparse.Namespace) -> str:
    cancel_on_signals()
    kinds = [k for k in args.databases if k == "sqlite" or postgres_available()]
    skipped = sorted(set(args.databases) - set(kinds))
    if skipped:
        log(f"not reachable, skipped: {', '.join(skipped)}")
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="reisplan-bench-imports-") as tmp:
        root = Path(tmp)
        async with dev_server(root, TUNED_PRAGMAS) as (server, client):
            for kind in kinds:
                for restart in (False, True):
                    log(f"{kind}, {'killed halfway' if restart else 'straight'}:")
                    runs.append(
                        await one_run(client, server.address, kind, args.rows, restart, root)
                    )
            if args.segment_rows:
                for kind in kinds:
                    log(f"{kind}, with a segment, {args.segment_rows:,} rows:")
                    runs.append(
                        await one_run(
                            client, server.address, kind, args.segment_rows, False, root, True
                        )
                    )
    text_ = report(runs, args.rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text_)
    return text_


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.imports", description=__doc__)
    parser.add_argument("--rows", type=at_least(1000), default=100_000)
    parser.add_argument(
        "--databases", nargs="+", choices=["sqlite", "postgres"], default=["sqlite", "postgres"]
    )
    parser.add_argument(
        "--segment-rows",
        type=int,
        default=10_000,
        help="rows of the run in which every new relation enters a segment (0: none)",
    )
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks" / "results" / "imports-latest.md"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse()
    run_and_exit(lambda: main(arguments), "the servers and workers were stopped")
