"""The activities of CSV imports: count a file's rows, import one batch, stop a job;
and the import step's two: make its job (once per trip and step), and when the import
is done, start the imported relations' trips and record the passage.

A batch is one transaction with the job's cursor, byte offset and counts: a worker
that dies in the middle leaves nothing of it, and the retry does it whole; an attempt
that finds the job past its batch (an earlier attempt committed it) does nothing but
dispatch what that attempt may not have. The segment changes a batch causes are
dispatched after its commit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.admission_runs import create_run, start_run
from activities.contracts.imports import (
    CLOSE_STEP_IMPORT,
    IMPORT_BATCH,
    OPEN_STEP_IMPORT,
    START_IMPORT,
    STOP_IMPORT,
    CloseStepImportInput,
    CloseStepImportResult,
    ImportBatchInput,
    ImportState,
    OpenStepImportInput,
    OpenStepImportResult,
    StartImportInput,
    StopImportInput,
)
from activities.dispatch import start_dispatch
from activities.import_files import FileProblem, count_rows, read_batch, resolve
from activities.passages import write_passage, write_passages
from domain.statuses import Outcome, TripStatus
from store import effects, locks, paths
from store import imports as store
from store.db import session_scope
from store.models import ImportJob, SegmentChange, utcnow

T = TypeVar("T")

# Segment changes dispatched at once after a batch: more only queue in Temporal.
DISPATCH_CONCURRENCY = 16
HEARTBEAT_EVERY = 1.0  # seconds; the workflow's heartbeat timeout is a few of these


def state_of(job: ImportJob) -> ImportState:
    assert job.id is not None
    return ImportState(
        job_id=job.id,
        status=job.status,
        total=job.total,
        cursor=job.cursor,
        new=job.new,
        updated=job.updated,
        invalid=job.invalid,
        error=job.error,
    )


def batch_cause(job_id: int, cursor: int) -> str:
    """The segment changes of the batch after row `cursor` (found again on a retry)."""
    return f"import:{job_id}:{cursor}"


async def beating(work: Awaitable[T]) -> T:
    """Await `work` (a thread) while telling Temporal the worker is alive: a worker that
    dies is noticed within the heartbeat timeout, not the activity's whole timeout."""
    task = asyncio.ensure_future(work)
    while True:
        done, _ = await asyncio.wait({task}, timeout=HEARTBEAT_EVERY)
        if done:
            return task.result()
        activity.heartbeat()


class ImportActivities:
    def __init__(self, engine: Engine, client: Client, task_queue: str, directory: Path) -> None:
        self._engine = engine
        self._client = client
        self._task_queue = task_queue
        self._directory = directory

    # --- the ImportFile workflow ---------------------------------------------------------

    @activity.defn(name=START_IMPORT)
    async def start_import(self, data: StartImportInput) -> ImportState:
        """Check the file against the mapping and count its rows; the job runs (or fails,
        saying why: no such file, a column missing from the header)."""
        state = await beating(asyncio.to_thread(self._start, data.job_id))
        await self._forget_upload(state)
        return state

    def _start(self, job_id: int) -> ImportState:
        with Session(self._engine) as session:
            job = store.get(session, job_id)
            if job.status != store.QUEUED:
                return state_of(job)
            name, mapping, unique = job.path, dict(job.mapping), list(job.unique)
        problem: str | None = None
        total = 0
        try:
            total = count_rows(self._directory, name, mapping, unique)
        except FileProblem as error:
            problem = str(error)
        with session_scope(self._engine) as session:
            locks.lock(session, f"import:{job_id}")
            job = store.get(session, job_id)
            if job.status == store.QUEUED:
                if problem is not None:
                    store.fail(job, problem, utcnow())
                elif total == 0:
                    job.status, job.finished_at = store.FINISHED, utcnow()
                else:
                    job.status, job.total = store.RUNNING, total
                session.add(job)
            return state_of(job)

    @activity.defn(name=IMPORT_BATCH)
    async def import_batch(self, data: ImportBatchInput) -> ImportState:
        state, changes = await beating(asyncio.to_thread(self._batch, data))
        await self._dispatch(changes)
        await self._forget_upload(state)
        return state

    async def _forget_upload(self, state: ImportState) -> None:
        """An uploaded file goes once its import is done: it holds personal data that
        erasing a relation must not leave behind. (Files an import step reads are the
        operator's, in the import directory, and stay.)"""
        if state.done:
            await asyncio.to_thread(self._unlink_upload, state.job_id)

    def _unlink_upload(self, job_id: int) -> None:
        with Session(self._engine) as session:
            job = store.get(session, job_id)
            if job.trip_id is None and job.path.startswith(f"{store.UPLOADS}/"):
                resolve(self._directory, job.path).unlink(missing_ok=True)

    def _batch(self, data: ImportBatchInput) -> tuple[ImportState, list[int]]:
        with Session(self._engine) as session:
            job = store.get(session, data.job_id)
            if job.status != store.RUNNING or job.cursor != data.cursor:
                return state_of(job), self._undispatched(session, data)
            name, mapping, unique = job.path, dict(job.mapping), list(job.unique)
            offset = job.byte_offset
        # The file is read outside the transaction: it holds the database only to write.
        try:
            batch = read_batch(
                self._directory,
                name,
                mapping,
                unique,
                offset=offset,
                first=data.cursor + 1,
                limit=data.rows,
            )
        except FileProblem as error:
            return self._fail(data, f"after row {data.cursor:,}: {error}"), []
        now = utcnow()
        with session_scope(self._engine) as session:
            # Attempts of one batch (a retry while a slow first attempt still runs) go
            # one after the other; the second finds the cursor moved and stops.
            locks.lock(session, f"import:{data.job_id}")
            job = store.get(session, data.job_id)
            if job.status != store.RUNNING or job.cursor != data.cursor:
                # An earlier attempt committed this batch: its changes may still wait.
                return state_of(job), self._undispatched(session, data)
            applied = store.apply_rows(
                session, job, batch.rows, cause=batch_cause(data.job_id, data.cursor), now=now
            )
            job.cursor += len(batch.rows)
            job.byte_offset = batch.end
            job.new += applied.new
            job.updated += applied.updated
            job.invalid += applied.invalid
            if batch.exhausted:
                job.status, job.finished_at = store.FINISHED, now
                # The file may have changed since it was counted: the rows read count.
                job.total = job.cursor
            session.add(job)
            return state_of(job), applied.changes

    def _undispatched(self, session: Session, data: ImportBatchInput) -> list[int]:
        """The segment changes of this batch, if an earlier attempt committed it and
        may have died before dispatching them."""
        rows = session.exec(
            select(SegmentChange.id).where(
                col(SegmentChange.cause) == batch_cause(data.job_id, data.cursor),
                col(SegmentChange.dispatched_at).is_(None),
            )
        ).all()
        return [i for i in rows if i is not None]

    def _fail(self, data: ImportBatchInput, error: str) -> ImportState:
        with session_scope(self._engine) as session:
            locks.lock(session, f"import:{data.job_id}")
            job = store.get(session, data.job_id)
            if job.status == store.RUNNING and job.cursor == data.cursor:
                store.fail(job, error, utcnow())
                session.add(job)
            return state_of(job)

    async def _dispatch(self, changes: list[int]) -> None:
        gate = asyncio.Semaphore(DISPATCH_CONCURRENCY)

        async def one(change_id: int) -> None:
            async with gate:
                await start_dispatch(self._client, self._task_queue, change_id=change_id)
                activity.heartbeat()

        await asyncio.gather(*(one(i) for i in changes))

    @activity.defn(name=STOP_IMPORT)
    async def stop_import(self, data: StopImportInput) -> ImportState:
        """The import was cancelled (its trip was): it fails, keeping the rows done."""
        state = await asyncio.to_thread(self._stop, data)
        await self._forget_upload(state)
        return state

    def _stop(self, data: StopImportInput) -> ImportState:
        with session_scope(self._engine) as session:
            locks.lock(session, f"import:{data.job_id}")
            job = store.get(session, data.job_id)
            if job.status in (store.QUEUED, store.RUNNING):
                store.fail(job, data.error, utcnow())
                session.add(job)
            return state_of(job)

    # --- the import step -----------------------------------------------------------------

    @activity.defn(name=OPEN_STEP_IMPORT)
    async def open_step_import(self, data: OpenStepImportInput) -> OpenStepImportResult:
        """The step's job, made once: a retry (or a replayed trip) finds it by the
        (trip, step) effect record written with it."""
        return await asyncio.to_thread(self._open, data)

    def _open(self, data: OpenStepImportInput) -> OpenStepImportResult:
        passage = data.passage
        key = effects.trip_key(passage.trip_id, passage.step_id)
        with session_scope(self._engine) as session:
            if not write_passages(session, data.writes):
                return OpenStepImportResult(job_id=0, state=_nothing(), trip_running=False)
            locks.lock(session, key)
            earlier = effects.recorded(session, key)
            if earlier is not None:
                job = store.get(session, int(earlier["job_id"]))
                return OpenStepImportResult(job_id=int(earlier["job_id"]), state=state_of(job))
            if not paths.is_running(session, passage.trip_id):
                return OpenStepImportResult(job_id=0, state=_nothing(), trip_running=False)
            job = store.create_job(
                session,
                name=data.file,
                path=data.file,
                mapping=data.mapping,
                unique=data.unique,
                trip_id=passage.trip_id,
                step_id=passage.step_id,
            )
            assert job.id is not None
            effects.record(
                session,
                key,
                step_id=passage.step_id,
                kind="import",
                result={"job_id": job.id},
                trip_id=passage.trip_id,
            )
            return OpenStepImportResult(job_id=job.id, state=state_of(job))

    @activity.defn(name=CLOSE_STEP_IMPORT)
    async def close_step_import(self, data: CloseStepImportInput) -> CloseStepImportResult:
        """Admission runs for the new and the updated relations, starting at the steps
        their ways lead to (one run per step), the passage's outcome, and the trip's end
        when it ends here: one transaction. The runs start after it (a retry starts
        them again: a run already started is found, not repeated)."""
        ended_at = activity.info().started_time
        result = await asyncio.to_thread(self._close, data, ended_at)
        for run_id in result.run_ids:
            # A retry after the run already finished finds its workflow closed.
            with contextlib.suppress(WorkflowAlreadyStartedError):
                await start_run(self._client, self._task_queue, run_id)
        return result

    def _close(self, data: CloseStepImportInput, ended_at: datetime) -> CloseStepImportResult:
        passage = data.passage
        key = effects.trip_key(passage.trip_id, passage.step_id) + "/done"
        with session_scope(self._engine) as session:
            write_passages(session, data.writes)
            locks.lock(session, key)
            job = store.get(session, data.job_id)
            state = state_of(job)
            earlier = effects.recorded(session, key)
            if earlier is not None:
                return CloseStepImportResult(
                    detail=str(earlier["detail"]),
                    state=state,
                    run_ids=[int(i) for i in earlier["run_ids"]],
                    closed=bool(earlier["closed"]),
                )
            run_ids = _runs(session, data, job, state)
            failed = state.status == store.FAILED
            detail = state.counts()
            if failed:
                detail = f"import failed: {state.error or 'unknown'} ({detail})"
            write_passage(
                session, passage, Outcome.import_failed if failed else Outcome.imported, detail
            )
            if data.ends_trip:
                paths.close_if_running(
                    session,
                    trip_id=passage.trip_id,
                    status=TripStatus.completed,
                    ended_at=ended_at,
                )
            effects.record(
                session,
                key,
                step_id=passage.step_id,
                kind="import_done",
                result={"detail": detail, "run_ids": run_ids, "closed": data.ends_trip},
                trip_id=passage.trip_id,
            )
            return CloseStepImportResult(
                detail=detail, state=state, run_ids=run_ids, closed=data.ends_trip
            )


def _runs(
    session: Session, data: CloseStepImportInput, job: ImportJob, state: ImportState
) -> list[int]:
    """One admission run per step the imported relations start at: the new ones at
    their way's step, the updated ones at theirs (one run when both lead to the same)."""
    counts = {"new": state.new, "updated": state.updated}
    by_step: dict[str, list[str]] = {}
    for outcome, target in data.targets.items():
        if target is not None and counts.get(outcome):
            by_step.setdefault(target, []).append(outcome)
    run_ids = []
    for target, outcomes in sorted(by_step.items()):
        run = create_run(
            session,
            journey_id=data.journey_id,
            journey_version=data.journey_version,
            trigger_index=-1,  # not a trigger: the import step's way out
            trigger_label=f"import `{job.name}` ({' and '.join(outcomes)})",
            key=f"import:{data.job_id}:{target}",
            source={"import_job": data.job_id, "outcomes": outcomes},
            # One trip per relation and import, whichever way it takes.
            admission_key=f"import:{data.job_id}",
            start_at=target,
            commit=False,
        )
        assert run.id is not None
        run_ids.append(run.id)
    return run_ids


def _nothing() -> ImportState:
    return ImportState(job_id=0, status="failed", error="the trip is no longer running")
